// Package controller runs a plan's job graph: it starts every job whose
// dependencies are done as soon as the resources it asks for are free,
// retries failed jobs with backoff, skips the dependents of a job that failed
// for good, stops when the failure budget is spent, and journals every state
// change so that a sweep resumes where it stopped. What runs a job (a child
// process, a Slurm array task) is an Executor; who listens (results, metrics,
// progress) are Observers.
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// Executor runs one attempt of a job and blocks until it ends. records is
// called for each record the job reports; it must not be called after Run
// returns. Cancelling ctx asks the job to stop (it checkpoints). An error
// wrapping a *job.PermanentError is not retried; one wrapping a
// *EnvironmentError stops the sweep; one wrapping a *job.DamagedInputError
// sends the damaged input's job to run again first.
type Executor interface {
	Run(ctx context.Context, t Task, records func(job.Record)) error
}

// Attacher is an executor whose jobs can outlive a controller (Slurm
// tasks): it reports the attempt of a job still running in the job's
// folder, which a restarted controller attaches to instead of starting
// another.
type Attacher interface {
	Running(j *job.Job, dir jobdir.Dir) (attempt int, ok bool)
}

// Task is one attempt of a job, as the controller hands it to an executor.
type Task struct {
	Job     *job.Job
	Attempt int
	// Dir is the work folder of the job's claim.
	Dir  jobdir.Dir
	Slot Slot
}

// Observer is told about jobs as they start, report and end (metrics,
// progress). A job reused from the store, run by another sweep or an
// earlier launch, ends with attempt 0 and state done, and never starts.
type Observer interface {
	JobStarted(j *job.Job, attempt int)
	JobRecord(j *job.Job, attempt int, rec job.Record)
	JobEnded(j *job.Job, attempt int, state job.State, err error, start, end time.Time)
}

// Journal keeps the state changes a resumed sweep replays.
type Journal interface {
	Append(e workspace.Entry) error
}

// Store holds the finished jobs of every sweep in the workspace. A job runs
// only under this controller's claim, and enters the store by Commit.
type Store interface {
	// Lookup returns a finished job's manifest when the store holds it
	// healthy, nil when it lacks it, and a *jobdir.Damaged when its entry
	// does not match its manifest.
	Lookup(id string) (*jobdir.Manifest, error)
	// Quarantine moves a damaged entry aside, and says where.
	Quarantine(id, reason string) (string, error)
	// Claim claims a job: a *workspace.HeldError when another live
	// controller holds it, workspace.ErrFinished when it is in the store.
	Claim(id string) (*workspace.Claim, error)
	// Held reports whether a claim is still this controller's.
	Held(c *workspace.Claim) bool
	// Release drops a claim (the job failed, stopped or was not started).
	Release(c *workspace.Claim)
	// Commit makes a finished job a store entry and releases its claim;
	// workspace.ErrLost when the claim was taken over.
	Commit(c *workspace.Claim, seconds float64) error
	// Abandon removes the folder of a claim that was taken over, once its
	// attempt has ended.
	Abandon(c *workspace.Claim) error
}

// ResultWriter keeps an attempt's verdict and rebuilds the job's result
// rows in its work folder from its records (before the job is committed,
// so that a stored job always has its results, whatever moment a kill
// came at).
type ResultWriter interface {
	WriteResult(dir jobdir.Dir, j *job.Job, v jobdir.Verdict) error
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
type EnvironmentError struct {
	Err error
	// DiskFull: the fault is a full disk or quota (a child job's words for
	// it arrive as text, not as an errno).
	DiskFull bool
}

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
	// Store holds finished jobs: a job it holds is done, not run again.
	Store     Store
	Results   ResultWriter
	Exec      Executor
	Logger    *slog.Logger
	Observers []Observer
	// ClaimPoll is how often jobs claimed by another controller are looked
	// at again (default 1 s).
	ClaimPoll time.Duration
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
	// Quarantined counts the damaged store entries moved aside (their jobs
	// ran again).
	Quarantined int
	Failures    []Failure
	Stopped     bool
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
	claim   *workspace.Claim
}

// errClaimLost is why a running job is stopped when another controller
// took its claim over (this one had been suspended past the stale time).
var errClaimLost = errors.New("another controller took the job over")

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
	claims   map[string]*workspace.Claim        // of running jobs
	cancel   map[string]context.CancelCauseFunc // of running jobs
	damaged  map[string]int                     // quarantines per job in this sweep
	reused   map[string]bool                    // done because the store held them
	res      *resources
	running  int
	waiting  int             // failed jobs waiting for their retry timer
	claimed  int             // jobs waiting for another controller's claim to end
	told     map[string]bool // claims already logged
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
	poll := time.NewTicker(cmp.Or(c.ClaimPoll, time.Second))
	defer poll.Stop()
	for {
		if !s.stopping && ctx.Err() != nil {
			s.stop(nil, "stopping: waiting for running jobs to checkpoint")
		}
		if !s.stopping {
			s.launchReady()
		}
		if s.running == 0 && (s.stopping || s.waiting+s.claimed == 0) {
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
		case <-poll.C:
			s.recheckClaims()
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
		state: map[string]job.State{}, attempts: map[string]int{}, failures: map[string]int{}, lastErr: map[string]string{}, told: map[string]bool{},
		claims: map[string]*workspace.Claim{}, cancel: map[string]context.CancelCauseFunc{}, damaged: map[string]int{}, reused: map[string]bool{},
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

// restore takes each job's attempts and failures from the journal of
// earlier runs; a job is done when the store holds it healthy (whoever ran
// it), and pending otherwise (a damaged entry is moved aside first).
func (s *sweep) restore() error {
	for _, j := range s.c.Plan.Jobs {
		if h, ok := s.c.History.States[j.ID]; ok {
			s.attempts[j.ID], s.failures[j.ID] = h.Attempts, h.Failures
		}
		s.state[j.ID] = job.StatePending
		if s.stored(j) {
			if err := s.reuse(j); err != nil {
				return err
			}
		}
		if s.stopErr != nil {
			return s.stopErr
		}
	}
	return nil
}

// stored reports whether the store holds a job healthy; a damaged entry is
// moved aside (and journaled), and the job is not stored.
func (s *sweep) stored(j *job.Job) bool {
	m, err := s.c.Store.Lookup(j.ID)
	if err == nil {
		return m != nil
	}
	var d *jobdir.Damaged
	if !errors.As(err, &d) {
		s.stop(&StopError{Err: fmt.Errorf("cannot read the store's entry of job %s (%w): stopping; launch again to resume", j.Name, err)}, "stopping: the store cannot be read")
		return false
	}
	s.quarantine(j.ID, d.Reason)
	return false
}

// quarantine moves a job's damaged entry aside and journals where and why.
func (s *sweep) quarantine(id, reason string) {
	to, err := s.c.Store.Quarantine(id, reason)
	if err != nil {
		s.stop(&StopError{Err: fmt.Errorf("cannot move the damaged entry of job %s aside (%w): stopping", id, err)}, "stopping: the store cannot be written")
		return
	}
	if to == "" {
		return // healthy after all, or gone already
	}
	s.sum.Quarantined++
	name := id
	if j := s.c.Plan.Job(id); j != nil {
		name = j.Name
	}
	s.c.Logger.Warn("damaged store entry moved to quarantine; its job runs again", "job", name, "reason", reason, "to", to)
	_ = s.journal(workspace.Entry{Job: id, State: job.StatePending, Warning: "damaged store entry: " + reason, Quarantine: to})
}

// reuse marks a job the store holds as done here: journaled (with the sweep
// that ran it, when not this one's journal already), told to the observers
// as attempt 0.
func (s *sweep) reuse(j *job.Job) error {
	s.state[j.ID] = job.StateDone
	s.reused[j.ID] = true
	if h, ok := s.c.History.States[j.ID]; !ok || h.State != job.StateDone {
		origin := ""
		if m, err := s.c.Store.Lookup(j.ID); err == nil && m != nil {
			origin = m.Origin.Sweep
		}
		if err := s.journal(workspace.Entry{Job: j.ID, State: job.StateDone, Sweep: origin}); err != nil {
			return s.stopErr
		}
	}
	for _, o := range s.c.Observers {
		o.JobEnded(j, 0, job.StateDone, nil, time.Time{}, time.Time{})
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
// whose resources are free: a job the store holds by now is reused; one
// another controller has claimed waits for that claim to end.
func (s *sweep) launchReady() {
	for _, j := range s.order {
		if s.stopping {
			return
		}
		if s.state[j.ID] != job.StatePending || !s.ready(j) {
			continue
		}
		if s.stored(j) {
			_ = s.reuse(j) // a journal failure stops the sweep
			continue
		}
		if s.stopping {
			return
		}
		if s.c.MaxParallel > 0 && s.running >= s.c.MaxParallel {
			return
		}
		slot, ok := s.res.take(j)
		if !ok {
			continue
		}
		c := s.claim(j)
		if c == nil {
			s.res.give(slot)
			continue
		}
		s.start(j, slot, c)
	}
}

// claim claims a job in the store, or marks it waiting for the controller
// that holds it (or reuses it, when it was committed meanwhile).
func (s *sweep) claim(j *job.Job) *workspace.Claim {
	c, err := s.c.Store.Claim(j.ID)
	var held *workspace.HeldError
	switch {
	case err == nil:
		return c
	case errors.Is(err, workspace.ErrFinished):
		_ = s.reuse(j)
	case errors.As(err, &held):
		s.state[j.ID] = job.StateWaiting
		s.claimed++
		if !s.told[j.ID] {
			s.told[j.ID] = true
			s.c.Logger.Info("waiting for another sweep that runs this job", "job", j.Name, "holder", held.Holder)
		}
	default:
		s.stop(&StopError{Err: fmt.Errorf("cannot claim job %s in the store (%w): stopping; launch again to resume", j.Name, err)}, "stopping: the store cannot be written")
	}
	return nil
}

// recheckClaims makes jobs that waited for another controller pending
// again (the next launch finds them in the store, or claims them), and
// stops running jobs whose claims another controller took over.
func (s *sweep) recheckClaims() {
	for _, j := range s.order {
		if s.state[j.ID] == job.StateWaiting {
			s.state[j.ID] = job.StatePending
			s.claimed--
		}
	}
	for id, c := range s.claims {
		if !s.c.Store.Held(c) {
			s.cancel[id](errClaimLost)
		}
	}
}

// start journals a job as running and runs it in a goroutine. A job whose
// last attempt succeeded before its results were kept (its controller was
// killed then) is not run again: that attempt is kept as it is.
func (s *sweep) start(j *job.Job, slot Slot, c *workspace.Claim) {
	a := max(s.attempts[j.ID], c.Progress.Last) + 1
	if c.Progress.Succeeded {
		a = c.Progress.Last
	} else if at, ok := s.c.Exec.(Attacher); ok {
		if live, ok := at.Running(j, c.Dir); ok {
			a = live
		}
	}
	s.attempts[j.ID] = a
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
		s.c.Store.Release(c)
		return
	}
	for _, o := range s.c.Observers {
		o.JobStarted(j, a)
	}
	s.c.Logger.Debug("job started", "job", j.Name, "attempt", a)
	ctx, cancel := context.WithCancelCause(s.runCtx)
	s.claims[j.ID], s.cancel[j.ID] = c, cancel
	if c.Progress.Succeeded {
		go func() { s.done <- outcome{job: j, attempt: a, start: now, slot: slot, claim: c} }()
		return
	}
	go func() {
		ctx, stopTimer := ctx, context.CancelFunc(func() {})
		if s.c.Timeout > 0 {
			ctx, stopTimer = context.WithTimeout(ctx, s.c.Timeout)
		}
		err := s.c.Exec.Run(ctx, Task{Job: j, Attempt: a, Dir: c.Dir, Slot: slot}, func(r job.Record) {
			if r.Type == job.RecWarning { // kept in the journal too; a failed write shows at the next state change
				_ = s.c.Journal.Append(workspace.Entry{Time: s.c.Now(), Job: j.ID, State: job.StateRunning, Attempt: a, Warning: r.Message})
			}
			for _, o := range s.c.Observers {
				o.JobRecord(j, a, r)
			}
		})
		if errors.Is(context.Cause(ctx), errClaimLost) {
			err = errClaimLost
		}
		stopTimer()
		s.done <- outcome{job: j, attempt: a, err: err, start: now, slot: slot, claim: c}
	}()
}

// finish records an attempt's end and decides what comes next: done (its
// results written and the job committed to the store), stopped (the sweep
// is stopping, or the environment failed), a retry after backoff, giving
// up (and skipping the job's dependents), or, when it found its input
// damaged, running that input's job again first.
func (s *sweep) finish(o outcome) {
	s.running--
	s.res.give(o.slot)
	id := o.job.ID
	s.cancel[id](nil)
	delete(s.claims, id)
	delete(s.cancel, id)
	if errors.Is(o.err, errClaimLost) || !s.c.Store.Held(o.claim) {
		s.lost(o) // nothing of it is written: the folder is not this controller's now
		return
	}
	st := s.classify(o)
	end := s.c.Now()
	if o.err != nil {
		s.lastErr[id] = o.err.Error()
	}
	// An input found damaged is not this job's failure: that input's job
	// runs again, then this one (unless it keeps being found damaged).
	var damaged *job.DamagedInputError
	rerun := st == job.StateFailed && errors.As(o.err, &damaged) && s.c.Plan.Job(damaged.Job) != nil && s.damaged[damaged.Job] < 2
	if rerun {
		st = job.StateStopped
	}
	st, err := s.keep(o, st, end)
	switch {
	case errors.Is(err, workspace.ErrLost):
		s.lost(o)
		return
	case err != nil:
		st = job.StateStopped
		s.lastErr[id] = err.Error()
	case st == job.StateFailed && o.err == nil: // incomplete after all
		o.err = errors.New(s.lastErr[id])
	}
	if st != job.StateDone {
		s.c.Store.Release(o.claim)
	}
	s.state[id] = st
	if st == job.StateFailed {
		s.failures[id]++
	}
	e := workspace.Entry{Time: end, Job: id, State: st, Attempt: o.attempt, Error: s.lastErr[id]}
	if st == job.StateDone {
		e.Error = ""
	}
	_ = s.journal(e) // a failure stops the sweep (journal)
	for _, ob := range s.c.Observers {
		ob.JobEnded(o.job, o.attempt, st, o.err, o.start, end)
	}
	log := s.c.Logger.With("job", o.job.Name, "attempt", o.attempt)
	switch {
	case st == job.StateDone:
		log.Debug("job done", "seconds", end.Sub(o.start).Seconds())
	case rerun && !s.stopping:
		s.rerunInput(o.job, damaged, log)
	case st == job.StateStopped:
		s.state[id] = job.StatePending // run again on the next launch
		log.Info("job stopped", "reason", job.FirstLine(s.lastErr[id]))
	case st == job.StateFailed:
		s.afterFailure(o, log)
	}
}

// lost ends an attempt whose claim another controller took over: its work
// is not kept, and the job waits for that controller (and is reused).
func (s *sweep) lost(o outcome) {
	id := o.job.ID
	s.c.Logger.Warn("another controller took this job over while this one was suspended: its attempt is dropped", "job", o.job.Name, "attempt", o.attempt)
	if err := s.c.Store.Abandon(o.claim); err != nil {
		s.c.Logger.Warn("the dropped attempt's folder could not be removed", "job", o.job.Name, "error", err)
	}
	_ = s.journal(workspace.Entry{Time: s.c.Now(), Job: id, State: job.StateStopped, Attempt: o.attempt, Error: errClaimLost.Error()})
	for _, ob := range s.c.Observers {
		ob.JobEnded(o.job, o.attempt, job.StateStopped, errClaimLost, o.start, s.c.Now())
	}
	s.state[id] = job.StatePending
}

// rerunInput moves the damaged entry a job found aside, so that its job
// runs again before this one.
func (s *sweep) rerunInput(j *job.Job, d *job.DamagedInputError, log *slog.Logger) {
	in := s.c.Plan.Job(d.Job)
	s.damaged[d.Job]++
	log.Warn("the job's input is damaged: its job runs again first", "input", in.Name, "error", job.FirstLine(d.Error()))
	s.quarantine(d.Job, job.FirstLine(d.Error()))
	if s.state[d.Job] == job.StateDone && !s.stored(in) {
		s.state[d.Job] = job.StatePending
		delete(s.reused, d.Job) // it runs here after all
	}
	s.state[j.ID] = job.StatePending
}

// keep writes an attempt's verdict and result rows into the job's folder
// and commits a finished job to the store; it returns the attempt's state,
// which is failed after all when the job did not write what a finished job
// holds. A write that fails stops the sweep: the job stays out of the
// store and runs again on the next launch.
func (s *sweep) keep(o outcome, st job.State, end time.Time) (job.State, error) {
	v := jobdir.Verdict{Attempt: o.attempt, State: st, Start: o.start.UTC(), End: end.UTC(), Host: s.host}
	if o.claim.Progress.Succeeded {
		v.Start, v.End = time.Time{}, time.Time{} // from the attempt's records
	}
	if o.err != nil {
		v.Error = o.err.Error()
	}
	if !s.c.Store.Held(o.claim) {
		return st, workspace.ErrLost // and its folder is not ours to write in
	}
	write := func() error {
		if s.c.Results == nil {
			return nil
		}
		return s.c.Results.WriteResult(o.claim.Dir, o.job, v)
	}
	err := write()
	if err == nil && st == job.StateDone {
		err = s.c.Store.Commit(o.claim, end.Sub(o.start).Seconds())
		var incomplete *jobdir.Damaged
		switch {
		case errors.Is(err, workspace.ErrLost):
			return st, err
		case errors.As(err, &incomplete):
			st, v.State, v.Error = job.StateFailed, job.StateFailed, "the job's folder is incomplete: "+incomplete.Reason
			s.lastErr[o.job.ID] = v.Error
			err = write()
		}
	}
	if err == nil || st == job.StateStopped {
		return st, nil // a stopped attempt's rows are not worth stopping for
	}
	err = fmt.Errorf("cannot keep the results of job %s (%w): stopping; once that is fixed, launch the same grid again to resume", o.job.Name, err)
	if IsDiskFull(err) {
		err = &EnvironmentError{Err: err}
	}
	s.stop(&StopError{Err: err}, "stopping: a job's results cannot be written")
	return st, err
}

// classify names an attempt's outcome.
func (s *sweep) classify(o outcome) job.State {
	var env *EnvironmentError
	switch {
	case o.err == nil:
		return job.StateDone
	case errors.As(o.err, &env):
		s.stop(&StopError{Err: env}, "stopping: "+job.FirstLine(env.Error()))
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
		log.Warn("job failed", "error", job.FirstLine(o.err.Error()))
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
	log.Info("job failed, will retry", "in", delay, "error", job.FirstLine(o.err.Error()))
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
			if s.reused[j.ID] {
				sum.Reused++
			}
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
