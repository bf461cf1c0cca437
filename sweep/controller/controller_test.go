package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/google/go-cmp/cmp"
)

// fakeExec runs jobs in memory: run decides each attempt's end.
type fakeExec struct {
	run       func(ctx context.Context, j *job.Job, attempt int) error
	mu        sync.Mutex
	log       []string // "start ID" and "end ID", in order
	cur, peak int
}

func (f *fakeExec) Run(ctx context.Context, t Task, records func(job.Record)) error {
	j, attempt := t.Job, t.Attempt
	f.mu.Lock()
	f.log = append(f.log, "start "+j.ID)
	f.cur++
	f.peak = max(f.peak, f.cur)
	f.mu.Unlock()
	records(job.Record{Type: job.RecProgress, Step: 1})
	err := f.run(ctx, j, attempt)
	f.mu.Lock()
	f.log = append(f.log, "end "+j.ID)
	f.cur--
	f.mu.Unlock()
	return err
}

func (f *fakeExec) starts(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.log {
		if l == "start "+id {
			n++
		}
	}
	return n
}

// memJournal keeps entries in memory; failAfter > 0 makes the append of
// that many entries and later fail.
type memJournal struct {
	mu        sync.Mutex
	entries   []workspace.Entry
	failAfter int
}

func (m *memJournal) Append(e workspace.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAfter > 0 && len(m.entries)+1 >= m.failAfter {
		return fmt.Errorf("write journal.jsonl: %w", syscall.EIO)
	}
	m.entries = append(m.entries, e)
	return nil
}

// states returns the sequence of states journaled for a job.
func (m *memJournal) states(id string) []job.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []job.State
	for _, e := range m.entries {
		if e.Job == id {
			out = append(out, e.State)
		}
	}
	return out
}

// memStore is an in-memory store: finished jobs (with the sweep that ran
// them), damaged entries (with the reason), claims (with their holders),
// what each work folder holds, and how often each job was committed.
type memStore struct {
	mu          sync.Mutex
	done        map[string]string
	damaged     map[string]string
	quarantined []string
	claims      map[string]string
	lost        map[string]bool // claims another controller took over
	progress    map[string]jobdir.Progress
	commits     map[string]int
	failCommit  error
	abandoned   []string // jobs whose taken-over folders were removed
}

func newMemStore() *memStore {
	return &memStore{done: map[string]string{}, damaged: map[string]string{}, claims: map[string]string{}, lost: map[string]bool{},
		progress: map[string]jobdir.Progress{}, commits: map[string]int{}}
}

func (m *memStore) Lookup(id string) (*jobdir.Manifest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.damaged[id]; ok {
		return nil, &jobdir.Damaged{Dir: jobdir.Dir("store/" + id), Reason: r}
	}
	if o, ok := m.done[id]; ok {
		return &jobdir.Manifest{Job: id, Origin: jobdir.Origin{Sweep: o}}, nil
	}
	return nil, nil
}

func (m *memStore) Quarantine(id, reason string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, d := m.damaged[id]
	_, f := m.done[id]
	if !d && !f {
		return "", nil
	}
	delete(m.damaged, id)
	delete(m.done, id)
	m.quarantined = append(m.quarantined, id)
	return "quarantine/" + id, nil
}

func (m *memStore) Claim(id string) (*workspace.Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.claims[id]; ok && h != "me" {
		return nil, &workspace.HeldError{Holder: h}
	}
	if _, ok := m.done[id]; ok {
		return nil, workspace.ErrFinished
	}
	m.claims[id] = "me"
	return &workspace.Claim{ID: id, Token: "me", Dir: jobdir.Dir("work/" + id), Progress: m.progress[id]}, nil
}

func (m *memStore) Held(c *workspace.Claim) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claims[c.ID] == "me" && !m.lost[c.ID]
}

func (m *memStore) Release(c *workspace.Claim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claims[c.ID] == "me" && !m.lost[c.ID] {
		delete(m.claims, c.ID)
	}
}

func (m *memStore) Commit(c *workspace.Claim, _ float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failCommit != nil {
		return m.failCommit
	}
	if m.lost[c.ID] {
		return workspace.ErrLost
	}
	if m.claims[c.ID] != "me" {
		return fmt.Errorf("commit %s without its claim", c.ID)
	}
	delete(m.claims, c.ID)
	m.done[c.ID] = "this"
	m.commits[c.ID]++
	return nil
}

func (m *memStore) Abandon(c *workspace.Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.abandoned = append(m.abandoned, c.ID)
	return nil
}

// other acts as another controller: it holds a job's claim, then finishes
// it (or gives it up).
func (m *memStore) other(id string, finish bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, id)
	delete(m.lost, id)
	if finish {
		m.done[id] = "other-sweep"
	}
}

// chainPlan: for each of n pretraining jobs P<i>, a features job F<i> and two
// probes L<i>, K<i> that depend on it.
func chainPlan(n int) *job.Plan {
	p := &job.Plan{Name: "t"}
	add := func(id string, kind job.Kind, deps ...string) {
		p.Jobs = append(p.Jobs, &job.Job{ID: id, Name: id, Spec: job.Spec{Kind: kind}, Deps: deps, CPUs: 1})
	}
	for i := range n {
		add(fmt.Sprint("P", i), job.KindPretrain)
	}
	for i := range n {
		add(fmt.Sprint("F", i), job.KindFeatures, fmt.Sprint("P", i))
		add(fmt.Sprint("L", i), job.KindLinear, fmt.Sprint("F", i))
		add(fmt.Sprint("K", i), job.KindKNN, fmt.Sprint("F", i))
	}
	return p
}

func newController(p *job.Plan, exec *fakeExec, jr *memJournal) *Controller {
	return &Controller{Plan: p, Journal: jr, Store: newMemStore(), Exec: exec, CPUs: 2, Retries: 2, Backoff: time.Millisecond, ClaimPoll: 5 * time.Millisecond}
}

func ok(context.Context, *job.Job, int) error { return nil }

func TestDependenciesAndParallelism(t *testing.T) {
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error { time.Sleep(2 * time.Millisecond); return nil }}
	jr := &memJournal{}
	sum, err := newController(chainPlan(3), exec, jr).Execute(context.Background())
	if err != nil || sum.Done != 12 || sum.Failed+sum.Skipped+sum.Pending != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	pos := map[string]int{}
	for i, l := range exec.log {
		pos[l] = i
	}
	for _, j := range chainPlan(3).Jobs {
		for _, d := range j.Deps {
			if pos["start "+j.ID] < pos["end "+d] {
				t.Errorf("%s started before its dependency %s ended: %v", j.ID, d, exec.log)
			}
		}
	}
	if exec.peak != 2 {
		t.Errorf("peak parallelism %d on 2 CPUs, want 2", exec.peak)
	}
	// Pretraining goes first: every P starts before any probe.
	for i := range 3 {
		if pos[fmt.Sprint("start P", i)] > pos["start L0"] {
			t.Errorf("pretraining P%d started after a probe: %v", i, exec.log)
		}
	}
}

func TestRetriesBackoffAndGivingUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failUntil int   // attempts of F0 that fail
		err       error // the failure
		retries   int
		want      []job.State // F0's journaled states
		skipped   int
	}{
		{"retried until it succeeds", 2, errors.New("exit status 1"), 2,
			[]job.State{job.StateRunning, job.StateFailed, job.StateRunning, job.StateFailed, job.StateRunning, job.StateDone}, 0},
		{"gives up when the retries are spent", 9, errors.New("exit status 1"), 1,
			[]job.State{job.StateRunning, job.StateFailed, job.StateRunning, job.StateFailed, job.StateGaveUp}, 2},
		{"a permanent error is not retried", 9, job.Permanentf("bad configuration"), 2,
			[]job.State{job.StateRunning, job.StateFailed, job.StateGaveUp}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var starts []time.Time
			exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
				if j.ID == "F0" {
					starts = append(starts, time.Now())
					if a <= tc.failUntil {
						return tc.err
					}
				}
				return nil
			}}
			jr := &memJournal{}
			c := newController(chainPlan(2), exec, jr)
			c.Retries, c.Backoff = tc.retries, 20*time.Millisecond
			sum, err := c.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, jr.states("F0")); diff != "" {
				t.Errorf("F0's states (-want +got):\n%s", diff)
			}
			if sum.Skipped != tc.skipped || jr.states("L0") != nil && tc.skipped > 0 && jr.states("L0")[0] != job.StateSkipped {
				t.Errorf("summary %+v; L0 %v", sum, jr.states("L0"))
			}
			if got := exec.starts("L1"); got != 1 {
				t.Errorf("an unrelated job ran %d times", got)
			}
			// Backoff doubles: 20 ms, then 40 ms.
			for i := 1; i < len(starts); i++ {
				if gap, min := starts[i].Sub(starts[i-1]), 20*time.Millisecond<<(i-1); gap < min {
					t.Errorf("retry %d after %s, want at least %s", i, gap, min)
				}
			}
		})
	}
}

func TestFailureBudgetStopsTheSweep(t *testing.T) {
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if strings.HasPrefix(j.ID, "P") {
			return job.Permanentf("broken")
		}
		return nil
	}}
	c := newController(chainPlan(4), exec, &memJournal{})
	c.CPUs, c.MaxFailures = 1, 2
	sum, err := c.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Stopped || sum.Failed != 2 || exec.starts("P2")+exec.starts("P3") != 0 {
		t.Errorf("summary %+v; log %v", sum, exec.log)
	}
}

func TestTimeoutFailsTheAttempt(t *testing.T) {
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if j.ID == "P0" && a == 1 {
			<-ctx.Done()
			return fmt.Errorf("timed out: %w", ctx.Err())
		}
		return nil
	}}
	jr := &memJournal{}
	c := newController(chainPlan(1), exec, jr)
	c.Timeout = 20 * time.Millisecond
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 4 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	want := []job.State{job.StateRunning, job.StateFailed, job.StateRunning, job.StateDone}
	if diff := cmp.Diff(want, jr.states("P0")); diff != "" {
		t.Errorf("P0's states (-want +got):\n%s", diff)
	}
}

// A stop asks running jobs to stop and waits for them; nothing new starts,
// and stopped jobs are not failures: they run again on the next launch.
func TestGracefulStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{}, 2)
	exec := &fakeExec{run: func(jctx context.Context, j *job.Job, a int) error {
		running <- struct{}{}
		<-jctx.Done()
		time.Sleep(10 * time.Millisecond) // checkpointing
		return fmt.Errorf("stopped: %w", jctx.Err())
	}}
	jr := &memJournal{}
	c := newController(chainPlan(3), exec, jr)
	go func() {
		<-running
		<-running
		cancel()
	}()
	sum, err := c.Execute(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if !sum.Stopped || sum.Done != 0 || sum.Failed != 0 || sum.Pending != 12 {
		t.Errorf("summary %+v", sum)
	}
	if len(exec.log) != 4 || exec.cur != 0 {
		t.Errorf("log %v: want two starts and two ends", exec.log)
	}
	for _, id := range []string{"P0", "P1"} {
		if diff := cmp.Diff([]job.State{job.StateRunning, job.StateStopped}, jr.states(id)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", id, diff)
		}
	}
	// The next launch replays the journal and runs everything, P0 and P1's
	// stops not counted against their retries.
	h := replay(jr)
	if h.States["P0"].Failures != 0 || h.States["P0"].Attempts != 1 {
		t.Errorf("replayed %+v", h.States["P0"])
	}
	exec2 := &fakeExec{run: ok}
	c2 := newController(chainPlan(3), exec2, jr)
	c2.History = h
	if sum, err := c2.Execute(context.Background()); err != nil || sum.Done != 12 || sum.Reused != 0 {
		t.Fatalf("relaunch: %+v, %v", sum, err)
	}
}

// replay turns journal entries into the history the next launch starts from,
// as workspace.ReadJournal does.
func replay(jr *memJournal) workspace.History {
	h := workspace.History{States: map[string]*workspace.JobState{}}
	for _, e := range jr.entries {
		s := h.States[e.Job]
		if s == nil {
			s = &workspace.JobState{}
			h.States[e.Job] = s
		}
		s.State, s.Last = e.State, e
		switch e.State {
		case job.StateRunning:
			s.Attempts = max(s.Attempts, e.Attempt)
		case job.StateFailed:
			s.Failures++
		}
	}
	return h
}

// Jobs the store holds are done, whoever ran them: they never run again,
// observers hear of them as attempt 0, and the journal says which sweep ran
// them (unless it said done already).
func TestStoredJobsAreReused(t *testing.T) {
	jr := &memJournal{}
	exec := &fakeExec{run: ok}
	c := newController(chainPlan(2), exec, jr)
	st := c.Store.(*memStore)
	st.done["P0"], st.done["F0"] = "other-sweep", "other-sweep"
	c.History = workspace.History{States: map[string]*workspace.JobState{"P0": {State: job.StateDone}}}
	obs := &endings{}
	c.Observers = []Observer{obs}
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 8 || sum.Reused != 2 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if exec.starts("P0")+exec.starts("F0") != 0 {
		t.Errorf("stored jobs ran again: %v", exec.log)
	}
	if diff := cmp.Diff([]job.State(nil), jr.states("P0")); diff != "" {
		t.Errorf("P0, journaled done already, was journaled again (-want +got):\n%s", diff)
	}
	if e := jr.entries[0]; e.Job != "F0" || e.State != job.StateDone || e.Sweep != "other-sweep" {
		t.Errorf("first entry %+v, want F0 done by other-sweep", e)
	}
	if obs.attempts["P0"] != 0 || obs.attempts["F0"] != 0 || obs.attempts["P1"] != 1 {
		t.Errorf("attempts observers saw: %v", obs.attempts)
	}
	for _, id := range []string{"P1", "F1", "L0", "K1"} {
		if st.commits[id] != 1 {
			t.Errorf("%s committed %d times", id, st.commits[id])
		}
	}
}

// endings records the attempt each job ended with, for observers' tests.
type endings struct {
	mu       sync.Mutex
	attempts map[string]int
}

func (e *endings) JobStarted(*job.Job, int)            {}
func (e *endings) JobRecord(*job.Job, int, job.Record) {}
func (e *endings) JobEnded(j *job.Job, a int, _ job.State, _ error, _, _ time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attempts == nil {
		e.attempts = map[string]int{}
	}
	e.attempts[j.ID] = a
}

// A job another controller has claimed is not run here: when that
// controller finishes it, this one reuses it; when it gives it up, this one
// runs it.
func TestClaimedJobsWaitForTheirHolder(t *testing.T) {
	for _, finish := range []bool{true, false} {
		t.Run(fmt.Sprintf("holder finishes=%v", finish), func(t *testing.T) {
			exec := &fakeExec{run: ok}
			jr := &memJournal{}
			c := newController(chainPlan(2), exec, jr)
			st := c.Store.(*memStore)
			st.claims["P0"] = "other-sweep"
			go func() {
				time.Sleep(30 * time.Millisecond)
				st.other("P0", finish)
			}()
			sum, err := c.Execute(context.Background())
			if err != nil || sum.Done != 8 {
				t.Fatalf("summary %+v, %v", sum, err)
			}
			want := 0
			if !finish {
				want = 1
			}
			if got := exec.starts("P0"); got != want {
				t.Errorf("P0 ran %d times here, want %d", got, want)
			}
			if exec.starts("P1") != 1 {
				t.Errorf("an unclaimed job did not run while P0 waited: %v", exec.log)
			}
		})
	}
}

// When a job's results cannot be written (a full disk), the job is not
// committed, the sweep stops, and it is not counted as failed.
func TestResultsWriteFailureStops(t *testing.T) {
	exec := &fakeExec{run: ok}
	jr := &memJournal{}
	c := newController(chainPlan(2), exec, jr)
	c.Results = resultsFunc(func(j *job.Job) error {
		if j.ID == "P1" {
			return fmt.Errorf("write part: %w", syscall.ENOSPC)
		}
		return nil
	})
	sum, err := c.Execute(context.Background())
	var env *EnvironmentError
	if !errors.As(err, &env) || !IsDiskFull(err) {
		t.Fatalf("err %v, want an environment error for a full disk", err)
	}
	if st := c.Store.(*memStore); st.commits["P1"] != 0 {
		t.Error("a job whose results were not written was committed")
	}
	if sum.Failed != 0 || !sum.Stopped {
		t.Errorf("summary %+v", sum)
	}
}

type resultsFunc func(j *job.Job) error

func (f resultsFunc) WriteResult(_ jobdir.Dir, j *job.Job, _ jobdir.Verdict) error {
	return f(j)
}

// A journal that cannot be written stops the sweep: running jobs are asked
// to stop, nothing new starts, and the error says that a relaunch resumes.
func TestJournalFailureStopsTheSweep(t *testing.T) {
	block := make(chan struct{})
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if j.ID == "P1" {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-block:
			}
		}
		return nil
	}}
	jr := &memJournal{failAfter: 4} // P0 and P1 start, P0 ends, then the disk fails
	c := newController(chainPlan(3), exec, jr)
	sum, err := c.Execute(context.Background())
	close(block)
	var se *StopError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "journal") || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("err %v, want a StopError about the journal", err)
	}
	if exec.starts("P2") != 0 || exec.starts("F0") != 0 || exec.cur != 0 {
		t.Errorf("jobs started after the journal failed, or still run: %v", exec.log)
	}
	if !sum.Stopped {
		t.Errorf("summary %+v", sum)
	}
}

// A full disk is the machine's fault: the sweep stops and no job is counted
// as failed.
func TestEnvironmentErrorStopsWithoutFailingTheJob(t *testing.T) {
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if j.ID == "P0" {
			return &EnvironmentError{Err: fmt.Errorf("write checkpoint: %w", syscall.ENOSPC)}
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	jr := &memJournal{}
	sum, err := newController(chainPlan(2), exec, jr).Execute(context.Background())
	var se *StopError
	if !errors.As(err, &se) || !IsDiskFull(err) {
		t.Fatalf("err %v, want a StopError for a full disk", err)
	}
	if sum.Failed != 0 || sum.Done != 0 || sum.Pending != 8 {
		t.Errorf("summary %+v", sum)
	}
	for _, id := range []string{"P0", "P1"} {
		if diff := cmp.Diff([]job.State{job.StateRunning, job.StateStopped}, jr.states(id)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", id, diff)
		}
	}
}

// A job's warning (an unreadable checkpoint moved aside) is kept in the
// journal, under the job's running state.
func TestWarningsAreJournaled(t *testing.T) {
	jr := &memJournal{}
	exec := &warnExec{}
	c := &Controller{Plan: chainPlan(1), Journal: jr, Store: newMemStore(), Exec: exec, CPUs: 1}
	if _, err := c.Execute(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range jr.entries {
		if e.Warning != "" {
			got = append(got, fmt.Sprint(e.Job, " ", e.State, " ", e.Warning))
		}
	}
	if diff := cmp.Diff([]string{"P0 running checkpoint moved aside"}, got); diff != "" {
		t.Errorf("journaled warnings (-want +got):\n%s", diff)
	}
}

type warnExec struct{}

func (warnExec) Run(_ context.Context, t Task, records func(job.Record)) error {
	if t.Job.ID == "P0" {
		records(job.Record{Type: job.RecWarning, Message: "checkpoint moved aside"})
	}
	return nil
}

// verdicts records the verdicts the controller writes, by job.
type verdicts struct {
	mu  sync.Mutex
	got map[string][]jobdir.Verdict
}

func (v *verdicts) WriteResult(_ jobdir.Dir, j *job.Job, vd jobdir.Verdict) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.got == nil {
		v.got = map[string][]jobdir.Verdict{}
	}
	v.got[j.ID] = append(v.got[j.ID], vd)
	return nil
}

// A damaged entry is moved to quarantine (journaled with where it went) and
// its job runs again; jobs downstream that the store holds healthy are
// reused.
func TestDamagedEntriesAreQuarantinedAndRunAgain(t *testing.T) {
	exec := &fakeExec{run: ok}
	jr := &memJournal{}
	c := newController(chainPlan(1), exec, jr)
	st := c.Store.(*memStore)
	st.done["P0"], st.done["L0"], st.done["K0"] = "old", "old", "old"
	st.damaged["F0"] = "features.bin has 12 bytes, its manifest says 40"
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 4 || sum.Quarantined != 1 || sum.Reused != 3 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if exec.starts("F0") != 1 || exec.starts("P0")+exec.starts("L0")+exec.starts("K0") != 0 {
		t.Errorf("runs: %v", exec.log)
	}
	var q []workspace.Entry
	for _, e := range jr.entries {
		if e.Quarantine != "" {
			q = append(q, e)
		}
	}
	if len(q) != 1 || q[0].Job != "F0" || q[0].Quarantine != "quarantine/F0" || !strings.Contains(q[0].Warning, "manifest says 40") {
		t.Errorf("quarantine entries %+v", q)
	}
}

// A job that finds its input damaged (a checkpoint whose bytes do not match
// its manifest) is not failed: the input's entry is quarantined, the
// input's job runs again, then the job; neither counts as a failure.
func TestDamagedInputRunsItsJobAgainFirst(t *testing.T) {
	var mu sync.Mutex
	once := false
	exec := &fakeExec{}
	exec.run = func(ctx context.Context, j *job.Job, a int) error {
		mu.Lock()
		defer mu.Unlock()
		if j.ID == "F0" && !once {
			once = true
			return &job.DamagedInputError{Job: "P0", Err: errors.New("checkpoint does not match its manifest")}
		}
		return nil
	}
	jr := &memJournal{}
	c := newController(chainPlan(1), exec, jr)
	c.Retries = 0 // a failure would give up at once
	st := c.Store.(*memStore)
	st.done["P0"] = "old"
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 4 || sum.Failed != 0 || sum.Quarantined != 1 || sum.Reused != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if exec.starts("P0") != 1 || exec.starts("F0") != 2 {
		t.Errorf("runs: %v", exec.log)
	}
	if i, j := index(exec.log, "end P0"), lastIndex(exec.log, "start F0"); i < 0 || j < i {
		t.Errorf("F0 ran again before P0 did: %v", exec.log)
	}
	if st.quarantined[0] != "P0" {
		t.Errorf("quarantined %v", st.quarantined)
	}
}

// An input that is found damaged again after its job ran again is the
// reader's failure after all: no endless loop.
func TestInputDamagedEveryTimeFails(t *testing.T) {
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if j.ID == "F0" {
			return &job.DamagedInputError{Job: "P0", Err: errors.New("damaged")}
		}
		return nil
	}}
	c := newController(chainPlan(1), exec, &memJournal{})
	c.Retries = 0
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Failed != 1 || sum.Skipped != 2 || exec.starts("P0") != 3 {
		t.Fatalf("summary %+v, %v; runs %v", sum, err, exec.log)
	}
}

// A job whose claim another controller took over (this one was suspended
// past the stale time) is stopped, its attempt is not committed, and the
// job is reused once the other controller committed it.
func TestLostClaimStopsTheJob(t *testing.T) {
	started := make(chan struct{})
	exec := &fakeExec{run: func(ctx context.Context, j *job.Job, a int) error {
		if j.ID == "P0" {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	jr := &memJournal{}
	c := newController(chainPlan(1), exec, jr)
	st := c.Store.(*memStore)
	go func() {
		<-started
		st.mu.Lock()
		st.lost["P0"] = true
		st.claims["P0"] = "other-sweep"
		st.mu.Unlock()
		// The other controller commits P0 a little later.
		for {
			if c := jr.states("P0"); len(c) > 0 && c[len(c)-1] == job.StateStopped {
				break
			}
			time.Sleep(time.Millisecond)
		}
		st.other("P0", true)
	}()
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 4 || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if st.commits["P0"] != 0 || st.done["P0"] != "other-sweep" {
		t.Errorf("P0 committed %d times here; stored by %q", st.commits["P0"], st.done["P0"])
	}
	if diff := cmp.Diff([]string{"P0"}, st.abandoned); diff != "" {
		t.Errorf("folders abandoned (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]job.State{job.StateRunning, job.StateStopped, job.StateDone}, jr.states("P0")); diff != "" {
		t.Errorf("P0 (-want +got):\n%s", diff)
	}
}

// A job whose last attempt succeeded before its controller was killed (its
// results not yet kept) is not run again: that attempt is kept and
// committed under its own number, once.
func TestSucceededAttemptIsKeptNotRerun(t *testing.T) {
	exec := &fakeExec{run: ok}
	c := newController(chainPlan(1), exec, &memJournal{})
	st := c.Store.(*memStore)
	st.progress["P0"] = jobdir.Progress{Last: 2, Succeeded: true}
	v := &verdicts{}
	c.Results = v
	sum, err := c.Execute(context.Background())
	if err != nil || sum.Done != 4 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if exec.starts("P0") != 0 || st.commits["P0"] != 1 {
		t.Errorf("P0 ran %d times, committed %d", exec.starts("P0"), st.commits["P0"])
	}
	if got := v.got["P0"]; len(got) != 1 || got[0].Attempt != 2 || got[0].State != job.StateDone {
		t.Errorf("verdicts %+v", got)
	}
}

// Attempts continue the folder's numbering: a job resumed in a folder whose
// records reach attempt 3 (run by another sweep) runs attempt 4.
func TestAttemptsContinueTheFolders(t *testing.T) {
	exec := &fakeExec{run: ok}
	c := newController(chainPlan(1), exec, &memJournal{})
	c.Store.(*memStore).progress["P0"] = jobdir.Progress{Last: 3}
	obs := &endings{}
	c.Observers = []Observer{obs}
	if _, err := c.Execute(context.Background()); err != nil {
		t.Fatal(err)
	}
	if obs.attempts["P0"] != 4 {
		t.Errorf("attempt %d, want 4", obs.attempts["P0"])
	}
}

func index(log []string, s string) int {
	for i, l := range log {
		if l == s {
			return i
		}
	}
	return -1
}

func lastIndex(log []string, s string) int {
	for i := len(log) - 1; i >= 0; i-- {
		if log[i] == s {
			return i
		}
	}
	return -1
}
