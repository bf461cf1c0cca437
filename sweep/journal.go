package sweep

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// State is a job's state in the journal.
type State string

// Job states.
const (
	StatePending State = "pending"
	StateRunning State = "running"
	StateDone    State = "done"
	StateFailed  State = "failed" // one attempt failed; it may be retried
	StateGaveUp  State = "gave_up"
	StateSkipped State = "skipped" // a dependency gave up
)

// Entry is one line of the journal.
type Entry struct {
	Time    time.Time `json:"time"`
	Job     string    `json:"job"`
	State   State     `json:"state"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error,omitempty"`
	Host    string    `json:"host,omitempty"`
	Devices string    `json:"devices,omitempty"`
}

// Journal is the append-only log of job state changes; replayed, it is the
// state of the sweep.
type Journal struct {
	f *os.File
}

// OpenJournal opens the run's journal for appending.
func OpenJournal(dir string) (*Journal, error) {
	f, err := os.OpenFile(filepath.Join(dir, "journal.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f}, nil
}

// Append writes an entry and syncs it to disk.
func (j *Journal) Append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return j.f.Sync()
}

// Close closes the journal.
func (j *Journal) Close() error { return j.f.Close() }

// JobState is a job's replayed state.
type JobState struct {
	State    State
	Attempts int
	Last     Entry
	Started  time.Time
}

// ReadJournal replays the journal: the last state of every job. A torn last
// line (a crash mid-write) is ignored.
func ReadJournal(dir string) (map[string]*JobState, error) {
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if os.IsNotExist(err) {
		return map[string]*JobState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	states := map[string]*JobState{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		s := states[e.Job]
		if s == nil {
			s = &JobState{}
			states[e.Job] = s
		}
		s.State, s.Last = e.State, e
		if e.State == StateRunning {
			s.Attempts = max(s.Attempts, e.Attempt)
			s.Started = e.Time
		}
	}
	return states, sc.Err()
}
