package job

// State is a job's state in a sweep's journal.
type State string

// Job states.
const (
	StatePending State = "pending"
	StateRunning State = "running"
	StateDone    State = "done"
	StateFailed  State = "failed"  // one attempt failed; it may be retried
	StateGaveUp  State = "gave_up" // failed for good
	StateSkipped State = "skipped" // a dependency gave up
	StateStopped State = "stopped" // asked to stop (Ctrl-C, a full disk): not the job's fault
	StateWaiting State = "waiting" // another sweep runs it (not journaled)
)
