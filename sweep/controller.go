package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Executor runs one attempt of a job and blocks until it ends. records is
// called for each record the job reports; it must not be called after Run
// returns. An error whose PermanentError is true will not be retried.
type Executor interface {
	Run(ctx context.Context, r *Run, j *Job, attempt int, slot Slot, records func(Record)) error
}

// Slot is what a job was given to run on.
type Slot struct {
	CPUs int
	// GPUs are device indices for CUDA_VISIBLE_DEVICES; empty on CPU.
	GPUs []int
	// GPUShare is the share of each GPU held (1 for whole GPUs).
	GPUShare float64
	// MemoryGB is the memory the job declared.
	MemoryGB float64
}

// Observer is told about jobs as they start, report and end (metrics, results).
type Observer interface {
	JobStarted(j *Job, attempt int)
	JobRecord(j *Job, attempt int, rec Record)
	JobEnded(j *Job, attempt int, state State, err error, start, end time.Time)
}

// PermanentError marks a failure that a retry cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Controller runs a plan's job graph through an executor.
type Controller struct {
	Run       *Run
	Exec      Executor
	Logger    *slog.Logger
	Observers []Observer
	// CPUs and GPUs available; jobs start when theirs are free.
	CPUs int
	GPUs int
	// MemoryGB is the memory jobs may use together (0: not limited).
	MemoryGB float64
	// MaxParallel caps running jobs (0: resources decide).
	MaxParallel int
	Retries     int
	// Backoff before the n-th retry is Backoff * 2^(n-1).
	Backoff     time.Duration
	MaxFailures int
	// Timeout is a per-job wall-clock limit (0: none).
	Timeout time.Duration
	Now     func() time.Time
}

// Summary is how a sweep ended.
type Summary struct {
	Done, Failed, Skipped, Pending, Reused int
	Failures                               []Failure
	Stopped                                bool
}

// Failure is a job that gave up, with its last error.
type Failure struct {
	Job   *Job
	Error string
}

type outcome struct {
	job     *Job
	attempt int
	err     error
	start   time.Time
	slot    Slot
}

// Execute runs every job that is not done yet. Cancelling ctx stops
// launching; running jobs are asked to stop (they checkpoint) and awaited.
func (c *Controller) Execute(ctx context.Context) (Summary, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CPUs < 1 {
		c.CPUs = 1
	}
	plan := c.Run.Plan
	journal, err := OpenJournal(c.Run.Dir)
	if err != nil {
		return Summary{}, err
	}
	defer journal.Close()
	states, err := ReadJournal(c.Run.Dir)
	if err != nil {
		return Summary{}, err
	}
	host, _ := os.Hostname()

	var sum Summary
	state := map[string]State{}
	attempts := map[string]int{}
	lastErr := map[string]string{}
	for _, j := range plan.Jobs {
		st := StatePending
		if s, ok := states[j.ID]; ok {
			attempts[j.ID] = s.Attempts
			if s.State == StateDone {
				st = StateDone
			}
		}
		if st != StateDone && JobFinished(c.Run.JobDir(j)) {
			// The job finished but the controller died before journaling it.
			st = StateDone
			_ = journal.Append(Entry{Time: c.Now(), Job: j.ID, State: StateDone, Attempt: attempts[j.ID]})
		}
		if st == StateDone {
			sum.Reused++
		}
		state[j.ID] = st
	}

	res := newResources(c.CPUs, c.GPUs, c.MemoryGB)
	running := 0
	done := make(chan outcome)
	retry := make(chan *Job, len(plan.Jobs)) // a retry timer never blocks, even after the loop ends
	waitingRetry := 0
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	stopping := false
	gaveUp := 0

	ready := func(j *Job) bool {
		for _, d := range j.Deps {
			if state[d] != StateDone {
				return false
			}
		}
		return true
	}
	take := func(j *Job) (Slot, bool) {
		if c.MaxParallel > 0 && running >= c.MaxParallel {
			return Slot{}, false
		}
		return res.take(j)
	}
	give := res.give
	start := func(j *Job, s Slot) {
		attempts[j.ID]++
		a := attempts[j.ID]
		state[j.ID] = StateRunning
		running++
		now := c.Now()
		devs := ""
		if len(s.GPUs) > 0 {
			devs = fmt.Sprint(s.GPUs)
		}
		_ = journal.Append(Entry{Time: now, Job: j.ID, State: StateRunning, Attempt: a, Host: host, Devices: devs})
		for _, o := range c.Observers {
			o.JobStarted(j, a)
		}
		c.Logger.Debug("job started", "job", j.Name, "attempt", a)
		go func() {
			jctx := runCtx
			var cancel context.CancelFunc = func() {}
			if c.Timeout > 0 {
				jctx, cancel = context.WithTimeout(runCtx, c.Timeout)
			}
			err := c.Exec.Run(jctx, c.Run, j, a, s, func(r Record) {
				for _, o := range c.Observers {
					o.JobRecord(j, a, r)
				}
			})
			cancel()
			done <- outcome{job: j, attempt: a, err: err, start: now, slot: s}
		}()
	}
	skipDependents := func(id string) {
		blocked := map[string]bool{id: true}
		for _, j := range plan.Jobs {
			for _, d := range j.Deps {
				if blocked[d] && state[j.ID] == StatePending {
					blocked[j.ID] = true
					state[j.ID] = StateSkipped
					_ = journal.Append(Entry{Time: c.Now(), Job: j.ID, State: StateSkipped, Error: "dependency " + id + " failed"})
				}
			}
		}
	}

	// Start long jobs first: pretraining, then feature extraction, then probes,
	// each kind in plan order. This keeps the critical path short.
	order := append([]*Job(nil), plan.Jobs...)
	rank := map[Kind]int{KindPretrain: 0, KindFeatures: 1}
	sort.SliceStable(order, func(i, j int) bool {
		ri, ok := rank[order[i].Spec.Kind]
		if !ok {
			ri = 2
		}
		rj, ok := rank[order[j].Spec.Kind]
		if !ok {
			rj = 2
		}
		return ri < rj
	})
	for {
		if !stopping && ctx.Err() != nil {
			stopping = true
			sum.Stopped = true
			c.Logger.Info("stopping: waiting for running jobs to checkpoint", "running", running)
			cancelRuns()
		}
		if !stopping {
			for _, j := range order {
				if state[j.ID] != StatePending || !ready(j) {
					continue
				}
				s, ok := take(j)
				if !ok {
					continue
				}
				start(j, s)
			}
		}
		if running == 0 && (stopping || waitingRetry == 0) {
			break
		}
		select {
		case <-ctx.Done():
			if !stopping {
				continue
			}
			// Already stopping: keep waiting for running jobs.
			o := <-done
			c.finish(journal, o, state, lastErr, &running, give)
		case j := <-retry:
			waitingRetry--
			if state[j.ID] == StateFailed {
				state[j.ID] = StatePending
			}
		case o := <-done:
			st := c.finish(journal, o, state, lastErr, &running, give)
			if st != StateFailed || stopping {
				continue
			}
			var perm *PermanentError
			if errors.As(o.err, &perm) || o.attempt > c.Retries {
				state[o.job.ID] = StateGaveUp
				_ = journal.Append(Entry{Time: c.Now(), Job: o.job.ID, State: StateGaveUp, Attempt: o.attempt, Error: lastErr[o.job.ID]})
				gaveUp++
				skipDependents(o.job.ID)
				if c.MaxFailures > 0 && gaveUp >= c.MaxFailures {
					c.Logger.Error("failure budget spent: stopping the sweep", "failed_jobs", gaveUp, "max_failures", c.MaxFailures)
					stopping = true
					cancelRuns()
				}
				continue
			}
			waitingRetry++
			delay := c.Backoff << (o.attempt - 1)
			j := o.job
			c.Logger.Info("job failed, will retry", "job", j.Name, "attempt", o.attempt, "in", delay, "error", FirstLine(lastErr[j.ID]))
			time.AfterFunc(delay, func() { retry <- j })
		}
	}
	for _, j := range plan.Jobs {
		switch state[j.ID] {
		case StateDone:
			sum.Done++
		case StateGaveUp:
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{Job: j, Error: lastErr[j.ID]})
		case StateSkipped:
			sum.Skipped++
		default:
			sum.Pending++
		}
	}
	if sum.Stopped {
		return sum, ctx.Err()
	}
	return sum, nil
}

func (c *Controller) finish(journal *Journal, o outcome, state map[string]State, lastErr map[string]string, running *int, give func(Slot)) State {
	*running--
	give(o.slot)
	end := c.Now()
	st := StateDone
	if o.err != nil {
		st = StateFailed
		lastErr[o.job.ID] = o.err.Error()
	}
	state[o.job.ID] = st
	e := Entry{Time: end, Job: o.job.ID, State: st, Attempt: o.attempt}
	if o.err != nil {
		e.Error = o.err.Error()
	}
	_ = journal.Append(e)
	for _, ob := range c.Observers {
		ob.JobEnded(o.job, o.attempt, st, o.err, o.start, end)
	}
	if o.err != nil {
		c.Logger.Warn("job failed", "job", o.job.Name, "attempt", o.attempt, "error", FirstLine(o.err.Error()))
	} else {
		c.Logger.Debug("job done", "job", o.job.Name, "attempt", o.attempt, "seconds", end.Sub(o.start).Seconds())
	}
	return st
}

// DoneMarker is the file a job writes last, atomically, when it succeeded.
const DoneMarker = "done.json"

// JobFinished reports whether the job in dir has finished successfully.
func JobFinished(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, DoneMarker))
	return err == nil
}
