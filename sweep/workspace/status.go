package workspace

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// Status is a run's state as its journal, its lock and the store tell it,
// for `sweep status`.
type Status struct {
	Jobs, Done int
	// Left counts the jobs still to run, by kind; Durations the times of
	// the finished ones (for an ETA).
	Left      map[job.Kind]int
	Durations map[job.Kind][]time.Duration
	// ByKind counts the jobs of each kind by state.
	ByKind map[job.Kind]map[job.State]int
	// Controller says who holds the run: Live when a controller holds its
	// lock (PID, as it wrote it).
	Controller struct {
		Live bool
		PID  int
	}
	Running []RunningJob
	Failed  []FailedJob
	// Interrupted are the jobs the journal says run, when no controller
	// holds the run: their controller died, and they with it.
	Interrupted []RunningJob
}

// RunningJob is a job the journal says runs.
type RunningJob struct {
	Job   *job.Job
	Since time.Time
	// Last is its attempt's newest progress record, if any.
	Last *job.Record
}

// FailedJob is a job whose last attempt failed.
type FailedJob struct {
	Job     *job.Job
	Attempt int
	Error   string
	LogTail string
}

// Status reads the run's state from its journal's history h.
func (r *Run) Status(h History) Status {
	s := Status{Jobs: len(r.Plan.Jobs), Left: map[job.Kind]int{}, Durations: map[job.Kind][]time.Duration{}, ByKind: map[job.Kind]map[job.State]int{}}
	s.Controller.Live = r.Locked()
	if b, err := os.ReadFile(filepath.Join(r.Dir, "lock")); err == nil && s.Controller.Live {
		s.Controller.PID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for _, j := range r.Plan.Jobs {
		k := j.Spec.Kind
		st, ok := h.States[j.ID]
		state := job.StatePending
		if ok {
			state = st.State
		}
		if s.ByKind[k] == nil {
			s.ByKind[k] = map[job.State]int{}
		}
		switch {
		case state == job.StateDone:
			s.Done++
			if !st.Started.IsZero() {
				s.Durations[k] = append(s.Durations[k], st.Last.Time.Sub(st.Started))
			}
		case state == job.StateGaveUp || state == job.StateFailed:
			s.Failed = append(s.Failed, FailedJob{Job: j, Attempt: st.Last.Attempt, Error: st.Last.Error, LogTail: r.JobDir(j).LogTail(3)})
			if state == job.StateFailed {
				s.Left[k]++
			}
		case state == job.StateRunning:
			rj := RunningJob{Job: j, Since: st.Started, Last: lastProgress(r.JobDir(j).Records(), st.Last.Attempt)}
			if s.Controller.Live {
				s.Running = append(s.Running, rj)
			} else {
				s.Interrupted = append(s.Interrupted, rj)
				state = job.StatePending // it runs again at the next launch
			}
			s.Left[k]++
		case state == job.StatePending || state == job.StateStopped:
			state = job.StatePending
			s.Left[k]++
		}
		s.ByKind[k][state]++
	}
	return s
}

// lastProgress is the newest progress record of an attempt of a job.
func lastProgress(path string, attempt int) *job.Record {
	var last *job.Record
	_ = job.ReadRecordsFile(path, func(r job.Record) {
		if r.Type == job.RecProgress && r.Attempt == attempt {
			last = &r
		}
	})
	return last
}

// Span is the wall time of a run: from the first start to the last end of
// the jobs its controllers ran (its journal), over every launch; jobs it
// reused from the store are not counted (zero when it ran none). This is
// the one definition of a sweep's wall time that `sweep runs` and the
// report give.
func (r *Run) Span(h History) (first, last time.Time) {
	for _, j := range r.Plan.Jobs {
		s := h.States[j.ID]
		if s == nil || s.Started.IsZero() {
			continue
		}
		if first.IsZero() || s.Started.Before(first) {
			first = s.Started
		}
		if s.Last.Time.After(last) {
			last = s.Last.Time
		}
	}
	return first, last
}

// RunSummary is a line of `sweep runs`: a run's jobs (done: the store holds
// them), its failures and wall time.
type RunSummary struct {
	Name               string
	Created            time.Time // its first job's start, else its plan's time
	Jobs, Done, Failed int
	Wall               time.Duration
	Running            bool // a controller holds it
}

// Summary sums a run up.
func (r *Run) Summary() RunSummary {
	s := RunSummary{Name: filepath.Base(r.Dir), Jobs: len(r.Plan.Jobs), Running: r.Locked()}
	if st, err := os.Stat(filepath.Join(r.Dir, "plan.json")); err == nil {
		s.Created = st.ModTime()
	}
	h, _ := ReadJournal(r.Dir)
	for _, j := range r.Plan.Jobs {
		st := h.States[j.ID]
		switch {
		case r.Store.Finished(j.ID):
			s.Done++
		case st != nil && st.State == job.StateGaveUp:
			s.Failed++
		}
	}
	if first, last := r.Span(h); !first.IsZero() {
		s.Wall, s.Created = last.Sub(first), first
	}
	return s
}
