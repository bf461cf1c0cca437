// Package controller runs a plan's job graph: it starts every job whose
// dependencies are done as soon as the resources it asks for are free,
// retries failed jobs with backoff, skips the dependents of a job that failed
// for good, stops when the failure budget is spent, and journals every state
// change so that a sweep resumes where it stopped. What runs a job (a child
// process, a Slurm array task) is an Executor; who listens (results, metrics,
// progress) are Observers.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// Executor runs one attempt of a job and blocks until it ends. records is
// called for each record the job reports; it must not be called after Run
// returns. Cancelling ctx asks the job to stop (it checkpoints). An error
// wrapping a *job.PermanentError is not retried; one wrapping a
// *EnvironmentError stops the sweep.
type Executor interface {
	Run(ctx context.Context, j *job.Job, attempt int, slot Slot, records func(job.Record)) error
}

// Observer is told about jobs as they start, report and end (metrics,
// results, progress).
type Observer interface {
	JobStarted(j *job.Job, attempt int)
	JobRecord(j *job.Job, attempt int, rec job.Record)
	JobEnded(j *job.Job, attempt int, state job.State, err error, start, end time.Time)
}

// Journal keeps the state changes a resumed sweep replays.
type Journal interface {
	Append(e workspace.Entry) error
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

// EnvironmentError is a fault of the machine, not of the job (a full disk):
// the sweep stops, and the job is not counted as failed.
type EnvironmentError struct{ Err error }

func (e *EnvironmentError) Error() string { return e.Err.Error() }
func (e *EnvironmentError) Unwrap() error { return e.Err }

// StopError says why a sweep stopped before its end for a reason other than
// the user's stop: its journal could not be written, or the environment
// failed. A relaunch resumes.
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// Controller runs a plan's job graph through an executor.
type Controller struct {
	Plan    *job.Plan
	Journal Journal
	// History is what earlier runs of the sweep journaled.
	History workspace.History
	// Finished reports a job whose outputs are complete although the
	// journal does not say so (the controller died before journaling it).
	Finished  func(j *job.Job) bool
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
	Job   *job.Job
	Error string
}

// outcome is an attempt's end, as its goroutine reports it.
type outcome struct {
	job     *job.Job
	attempt int
	err     error
	start   time.Time
	slot    Slot
}

// sweep is one Execute's state: what each job is doing, what is running and
// why the sweep stops.
type sweep struct {
	c        *Controller
	ctx      context.Context
	host     string
	order    []*job.Job // launch order: long kinds first
	state    map[string]job.State
	attempts map[string]int
	failures map[string]int
	lastErr  map[string]string
	res      *resources
	running  int
	waiting  int // failed jobs waiting for their retry timer
	gaveUp   int
	done     chan outcome
	retry    chan *job.Job
	runCtx   context.Context // what running jobs see; cancelled to stop them
	stopJobs context.CancelFunc
	stopping bool
	stopErr  error // why the sweep stops, when not the user's stop
	sum      Summary
}

// Execute runs every job that is not done yet. Cancelling ctx stops
// launching; running jobs are asked to stop (they checkpoint) and awaited.
// It returns ctx's error when stopped that way, a *StopError when the sweep
// could not go on (journal, environment), nil otherwise.
func (c *Controller) Execute(ctx context.Context) (Summary, error) {
	s := c.newSweep(ctx)
	defer s.stopJobs()
	if err := s.restore(); err != nil {
		return Summary{}, err
	}
	for {
		if !s.stopping && ctx.Err() != nil {
			s.stop(nil, "stopping: waiting for running jobs to checkpoint")
		}
		if !s.stopping {
			s.launchReady()
		}
		if s.running == 0 && (s.stopping || s.waiting == 0) {
			break
		}
		select {
		case <-ctx.Done():
			if s.stopping {
				s.finish(<-s.done) // already stopping: wait for running jobs
			}
		case j := <-s.retry:
			s.waiting--
			if s.state[j.ID] == job.StateFailed {
				s.state[j.ID] = job.StatePending
			}
		case o := <-s.done:
			s.finish(o)
		}
	}
	return s.summarize()
}

func (c *Controller) newSweep(ctx context.Context) *sweep {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &sweep{
		c: c, ctx: ctx, host: host, order: launchOrder(c.Plan.Jobs),
		state: map[string]job.State{}, attempts: map[string]int{}, failures: map[string]int{}, lastErr: map[string]string{},
		res:  newResources(max(c.CPUs, 1), c.GPUs, c.MemoryGB),
		done: make(chan outcome), retry: make(chan *job.Job, len(c.Plan.Jobs)), // a retry timer never blocks, even after the loop ends
		runCtx: runCtx, stopJobs: stop,
	}
}

// launchOrder starts long jobs first: pretraining, then feature extraction,
// then probes, each kind in plan order. This keeps the critical path short.
func launchOrder(jobs []*job.Job) []*job.Job {
	rank := func(k job.Kind) int {
		switch k {
		case job.KindPretrain:
			return 0
		case job.KindFeatures:
			return 1
		}
		return 2
	}
	order := append([]*job.Job(nil), jobs...)
	sort.SliceStable(order, func(i, j int) bool { return rank(order[i].Spec.Kind) < rank(order[j].Spec.Kind) })
	return order
}

// restore takes each job's state from the journal of earlier runs: done
// jobs stay done (also those finished but not journaled, which are journaled
// now), every other job is pending.
func (s *sweep) restore() error {
	for _, j := range s.c.Plan.Jobs {
		st := job.StatePending
		if h, ok := s.c.History.States[j.ID]; ok {
			s.attempts[j.ID], s.failures[j.ID] = h.Attempts, h.Failures
			if h.State == job.StateDone {
				st = job.StateDone
			}
		}
		if st != job.StateDone && s.c.Finished != nil && s.c.Finished(j) {
			st = job.StateDone
			if err := s.journal(workspace.Entry{Job: j.ID, State: job.StateDone, Attempt: s.attempts[j.ID]}); err != nil {
				return s.stopErr
			}
		}
		if st == job.StateDone {
			s.sum.Reused++
		}
		s.state[j.ID] = st
	}
	return nil
}

// journal appends an entry; a failed append stops the sweep, since the
// journal is what a relaunch resumes from.
func (s *sweep) journal(e workspace.Entry) error {
	if e.Time.IsZero() {
		e.Time = s.c.Now()
	}
	err := s.c.Journal.Append(e)
	if err != nil && s.stopErr == nil {
		s.stop(&StopError{Err: fmt.Errorf("cannot write the sweep's journal (%w): stopping; once that is fixed, launch the same grid again to resume", err)},
			"stopping: the journal cannot be written")
	}
	return err
}

// stop stops launching and asks running jobs to stop; why is nil for the
// user's stop.
func (s *sweep) stop(why error, msg string) {
	if why != nil && s.stopErr == nil {
		s.stopErr = why
	}
	if s.stopping {
		return
	}
	s.stopping = true
	s.sum.Stopped = true
	s.c.Logger.Info(msg, "running", s.running)
	s.stopJobs()
}

// ready reports whether a job's dependencies are done.
func (s *sweep) ready(j *job.Job) bool {
	for _, d := range j.Deps {
		if s.state[d] != job.StateDone {
			return false
		}
	}
	return true
}

// launchReady starts every pending job whose dependencies are done and
// whose resources are free.
func (s *sweep) launchReady() {
	for _, j := range s.order {
		if s.stopping {
			return
		}
		if s.state[j.ID] != job.StatePending || !s.ready(j) {
			continue
		}
		if s.c.MaxParallel > 0 && s.running >= s.c.MaxParallel {
			return
		}
		if slot, ok := s.res.take(j); ok {
			s.start(j, slot)
		}
	}
}

// start journals a job as running and runs it in a goroutine.
func (s *sweep) start(j *job.Job, slot Slot) {
	s.attempts[j.ID]++
	a := s.attempts[j.ID]
	s.state[j.ID] = job.StateRunning
	s.running++
	now := s.c.Now()
	devs := ""
	if len(slot.GPUs) > 0 {
		devs = fmt.Sprint(slot.GPUs)
	}
	if err := s.journal(workspace.Entry{Time: now, Job: j.ID, State: job.StateRunning, Attempt: a, Host: s.host, Devices: devs}); err != nil {
		// Not started: give the slot back and let the loop wind down.
		s.running--
		s.res.give(slot)
		s.state[j.ID] = job.StatePending
		return
	}
	for _, o := range s.c.Observers {
		o.JobStarted(j, a)
	}
	s.c.Logger.Debug("job started", "job", j.Name, "attempt", a)
	go func() {
		ctx, cancel := s.runCtx, context.CancelFunc(func() {})
		if s.c.Timeout > 0 {
			ctx, cancel = context.WithTimeout(s.runCtx, s.c.Timeout)
		}
		err := s.c.Exec.Run(ctx, j, a, slot, func(r job.Record) {
			for _, o := range s.c.Observers {
				o.JobRecord(j, a, r)
			}
		})
		cancel()
		s.done <- outcome{job: j, attempt: a, err: err, start: now, slot: slot}
	}()
}

// finish records an attempt's end and decides what comes next: done,
// stopped (the sweep is stopping, or the environment failed), a retry after
// backoff, or giving up (and skipping the job's dependents).
func (s *sweep) finish(o outcome) {
	s.running--
	s.res.give(o.slot)
	st := s.classify(o)
	id := o.job.ID
	if o.err != nil {
		s.lastErr[id] = o.err.Error()
	}
	s.state[id] = st
	if st == job.StateFailed {
		s.failures[id]++
	}
	end := s.c.Now()
	e := workspace.Entry{Time: end, Job: id, State: st, Attempt: o.attempt}
	if o.err != nil {
		e.Error = o.err.Error()
	}
	_ = s.journal(e) // a failure stops the sweep (journal)
	for _, ob := range s.c.Observers {
		ob.JobEnded(o.job, o.attempt, st, o.err, o.start, end)
	}
	log := s.c.Logger.With("job", o.job.Name, "attempt", o.attempt)
	switch st {
	case job.StateDone:
		log.Debug("job done", "seconds", end.Sub(o.start).Seconds())
	case job.StateStopped:
		s.state[id] = job.StatePending // run again on the next launch
		log.Info("job stopped", "reason", firstLine(o.err.Error()))
	case job.StateFailed:
		s.afterFailure(o, log)
	}
}

// classify names an attempt's outcome.
func (s *sweep) classify(o outcome) job.State {
	var env *EnvironmentError
	switch {
	case o.err == nil:
		return job.StateDone
	case errors.As(o.err, &env):
		s.stop(&StopError{Err: env}, "stopping: "+firstLine(env.Error()))
		return job.StateStopped
	case s.stopping:
		return job.StateStopped
	}
	return job.StateFailed
}

// afterFailure retries a failed job after backoff, or gives up on it when
// the error is permanent or the retries are spent.
func (s *sweep) afterFailure(o outcome, log *slog.Logger) {
	j := o.job
	var perm *job.PermanentError
	if errors.As(o.err, &perm) || s.failures[j.ID] > s.c.Retries {
		log.Warn("job failed", "error", firstLine(o.err.Error()))
		s.state[j.ID] = job.StateGaveUp
		_ = s.journal(workspace.Entry{Job: j.ID, State: job.StateGaveUp, Attempt: o.attempt, Error: s.lastErr[j.ID]})
		s.gaveUp++
		s.skipDependents(j.ID)
		if s.c.MaxFailures > 0 && s.gaveUp >= s.c.MaxFailures {
			s.c.Logger.Error("failure budget spent: stopping the sweep", "failed_jobs", s.gaveUp, "max_failures", s.c.MaxFailures)
			s.stop(nil, "stopping: the failure budget is spent")
		}
		return
	}
	s.waiting++
	delay := s.c.Backoff << (s.failures[j.ID] - 1)
	log.Info("job failed, will retry", "in", delay, "error", firstLine(o.err.Error()))
	time.AfterFunc(delay, func() { s.retry <- j })
}

// skipDependents marks every pending job downstream of a failed one skipped.
func (s *sweep) skipDependents(id string) {
	blocked := map[string]bool{id: true}
	for _, j := range s.c.Plan.Jobs { // dependency order: one pass reaches every descendant
		for _, d := range j.Deps {
			if blocked[d] && s.state[j.ID] == job.StatePending {
				blocked[j.ID] = true
				s.state[j.ID] = job.StateSkipped
				_ = s.journal(workspace.Entry{Job: j.ID, State: job.StateSkipped, Error: "dependency " + id + " failed"})
			}
		}
	}
}

// summarize counts the jobs by their final state.
func (s *sweep) summarize() (Summary, error) {
	sum := s.sum
	for _, j := range s.c.Plan.Jobs {
		switch s.state[j.ID] {
		case job.StateDone:
			sum.Done++
		case job.StateGaveUp:
			sum.Failed++
			sum.Failures = append(sum.Failures, Failure{Job: j, Error: s.lastErr[j.ID]})
		case job.StateSkipped:
			sum.Skipped++
		default:
			sum.Pending++
		}
	}
	switch {
	case s.stopErr != nil:
		return sum, s.stopErr
	case sum.Stopped && s.ctx.Err() != nil:
		return sum, s.ctx.Err()
	}
	return sum, nil
}

// firstLine returns the first line of an error message, for logs.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
