package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// A small grid: 2 seeds x (DoGo mlp-s pair, solo mlp-s) -> 22 jobs with
// dependencies pretrain -> features -> probes.
const ctlGrid = `name: ctl
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1, 2]
references: []
retries: 2
`

type journalEntry = workspace.Entry

func readJournal(t testing.TB, runs string) ([]journalEntry, *job.Plan) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(runs, "ctl-*"))
	if len(dirs) != 1 {
		t.Fatalf("run folders: %v", dirs)
	}
	r, err := workspace.OpenRun(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dirs[0], "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []journalEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, r.Plan
}

func launchCtl(t *testing.T, dir string, env []string, extra ...string) (int, string) {
	t.Helper()
	grid := writeGrid(t, dir, ctlGrid)
	cmd := sweepCmd(t, dir, env, append([]string{"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", "--backoff", "50ms"}, append(extra, grid)...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return code, string(out)
}

func TestControllerParallelAndDependencies(t *testing.T) {
	dir := t.TempDir()
	code, out := launchCtl(t, dir, []string{"SWEEP_FAKE_JOB=sleep=300ms"})
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	entries, plan := readJournal(t, filepath.Join(dir, "runs"))
	doneAt, startAt := map[string]time.Time{}, map[string]time.Time{}
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, e := range entries {
		switch e.State {
		case job.StateRunning:
			startAt[e.Job] = e.Time
			evs = append(evs, ev{e.Time, 1})
		case job.StateDone:
			doneAt[e.Job] = e.Time
			evs = append(evs, ev{e.Time, -1})
		}
	}
	if len(doneAt) != len(plan.Jobs) {
		t.Fatalf("%d of %d jobs done", len(doneAt), len(plan.Jobs))
	}
	for _, j := range plan.Jobs {
		for _, d := range j.Deps {
			if startAt[j.ID].Before(doneAt[d]) {
				t.Errorf("%s started before its dependency %s was done", j.Name, d)
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	running, peak := 0, 0
	for _, e := range evs {
		running += e.delta
		peak = max(peak, running)
	}
	if peak != 2 {
		t.Errorf("at most %d jobs ran at once on 2 CPU slots, want exactly 2", peak)
	}
}

func TestControllerFailuresAreRecordedAndRetried(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		extra     []string
		want      string
	}{
		{"panic", nil, "exit status 2"},
		{"exit", nil, "exit status 3"},
		{"kill", nil, "killed by signal 9"},
		{"hang", []string{"--heartbeat", "1500ms"}, "no heartbeat"},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			dir := t.TempDir()
			// The DoGo pretraining job of seed 1 fails on its first attempt only.
			env := []string{"SWEEP_FAKE_JOB=sleep=10ms," + tc.behaviour, "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo", "SWEEP_FAKE_UNTIL=1"}
			code, out := launchCtl(t, dir, env, tc.extra...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			entries, plan := readJournal(t, filepath.Join(dir, "runs"))
			var failed []journalEntry
			done := 0
			for _, e := range entries {
				if e.State == job.StateFailed {
					failed = append(failed, e)
				}
				if e.State == job.StateDone {
					done++
				}
			}
			if len(failed) != 2 { // one per seed
				t.Fatalf("%d failed attempts, want 2:\n%s", len(failed), out)
			}
			for _, f := range failed {
				if f.Attempt != 1 || !strings.Contains(f.Error, tc.want) {
					t.Errorf("failure %+v, want attempt 1 with %q", f, tc.want)
				}
			}
			if done != len(plan.Jobs) {
				t.Errorf("%d of %d jobs done after retries", done, len(plan.Jobs))
			}
		})
	}
}

func TestPermanentFailureIsNotRetriedAndDependentsSkipped(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms,permanent", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo"}
	code, out := launchCtl(t, dir, env)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, out)
	}
	entries, _ := readJournal(t, filepath.Join(dir, "runs"))
	attempts, gaveUp, skipped := 0, 0, 0
	for _, e := range entries {
		if e.State == job.StateGaveUp {
			gaveUp++
			if e.Attempt != 1 {
				t.Errorf("gave up at attempt %d: a permanent error must not be retried", e.Attempt)
			}
		}
		if e.State == job.StateSkipped {
			skipped++
		}
		if e.State == job.StateFailed {
			attempts++
		}
	}
	// Per seed the DoGo job gives up; its 2 features jobs and their 4 probes are skipped.
	if gaveUp != 2 || attempts != 2 || skipped != 12 {
		t.Errorf("gave up %d, failed attempts %d, skipped %d\n%s", gaveUp, attempts, skipped, out)
	}
	if !strings.Contains(out, "failed: pretrain-fashion-mnist-dogo") || !strings.Contains(out, "bad configuration") {
		t.Errorf("summary does not list the failure:\n%s", out)
	}
}

// SIGKILL the controller mid-sweep, launch again: every job ends done, and no
// job that had finished runs again.
func TestControllerSIGKILLThenRelaunch(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	args := []string{"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid}
	env := []string{"SWEEP_FAKE_JOB=sleep=400ms"}
	first := sweepCmd(t, dir, env, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a few jobs are done, mid-sweep.
	waitFor(t, 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*", "journal.jsonl"))
		if len(m) != 1 {
			return false
		}
		entries, _ := readJournal(t, filepath.Join(dir, "runs"))
		done := 0
		for _, e := range entries {
			if e.State == job.StateDone {
				done++
			}
		}
		return done >= 3
	})
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	before, plan := readJournal(t, filepath.Join(dir, "runs"))
	doneBefore := map[string]bool{}
	for _, e := range before {
		if e.State == job.StateDone {
			doneBefore[e.Job] = true
		}
	}
	if len(doneBefore) == len(plan.Jobs) {
		t.Fatalf("every job was done at the kill")
	}
	out, err := sweepCmd(t, dir, env, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("relaunch: %v\n%s", err, out)
	}
	after, _ := readJournal(t, filepath.Join(dir, "runs"))
	done := map[string]int{}
	for _, e := range after[len(before):] {
		if e.State == job.StateRunning && doneBefore[e.Job] {
			t.Errorf("job %s was done before the kill and ran again", e.Job)
		}
		if e.State == job.StateDone {
			done[e.Job]++
		}
	}
	for _, j := range plan.Jobs {
		if !doneBefore[j.ID] && done[j.ID] != 1 {
			t.Errorf("job %s finished %d times after the relaunch, want 1", j.Name, done[j.ID])
		}
	}
	if !strings.Contains(string(out), "reused from the store") {
		t.Errorf("relaunch output:\n%s", out)
	}
}

func TestSecondControllerIsRefused(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	args := []string{"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid}
	first := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=5s"}, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = first.Process.Signal(syscall.SIGKILL)
		_ = first.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*", "journal.jsonl")); len(m) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first controller did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=5s"}, args...)
	out, _ := second.CombinedOutput()
	if second.ProcessState.ExitCode() != exitBusy || !strings.Contains(string(out), "locked by another controller") {
		t.Errorf("second controller: exit %d\n%s", second.ProcessState.ExitCode(), out)
	}
}

func TestStatusOfAFinishedRunWithFailures(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms,permanent", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo"}
	if code, out := launchCtl(t, dir, env); code != exitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	code, out, errs := runCLI(t, "status", runs[0])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"22 jobs, 8 done, 0 to go", "pretrain  2 done, 2 gave_up", "skipped", "failed: pretrain-fashion-mnist-dogo", "bad configuration"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

const budgetGrid = `name: ctl
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1, 2]
references: []
retries: 0
max_failures: 1
`

// Once max_failures jobs have failed for good, the sweep stops early with a summary.
func TestFailureBudgetStopsTheSweep(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, budgetGrid)
	cmd := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=200ms,exit", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo"},
		"launch", "--runs", "runs", "--cpus", "1", "--metrics-addr", "off", grid)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != exitFailure {
		t.Fatalf("exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
	if !strings.Contains(string(out), "failure budget spent") || !strings.Contains(string(out), "not run") {
		t.Errorf("output:\n%s", out)
	}
	entries, plan := readJournal(t, filepath.Join(dir, "runs"))
	done := 0
	for _, e := range entries {
		if e.State == job.StateDone {
			done++
		}
	}
	if done >= len(plan.Jobs)-6 {
		t.Errorf("%d of %d jobs done: the sweep did not stop early", done, len(plan.Jobs))
	}
}

// A job that exceeds --timeout is killed, recorded as timed out, and retried.
func TestPerJobTimeout(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms,hang", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo", "SWEEP_FAKE_UNTIL=1"}
	code, out := launchCtl(t, dir, env, "--timeout", "1500ms", "--stop-grace", "500ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	entries, _ := readJournal(t, filepath.Join(dir, "runs"))
	timedOut := 0
	for _, e := range entries {
		if e.State == job.StateFailed && strings.Contains(e.Error, "timed out") {
			timedOut++
		}
	}
	if timedOut != 2 {
		t.Errorf("%d attempts timed out, want 2 (one per seed)\n%s", timedOut, out)
	}
}

// Ctrl-C stops gracefully: running jobs are asked to stop, nothing more
// starts, the exit code is 130, and launching again finishes the sweep.
func TestGracefulStopThenResume(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	args := []string{"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid}
	first := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=30s"}, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*", "journal.jsonl"))
		if len(m) == 0 {
			return false
		}
		b, _ := os.ReadFile(m[0])
		return strings.Count(string(b), `"running"`) >= 2
	})
	start := time.Now()
	_ = first.Process.Signal(syscall.SIGINT)
	_ = first.Wait()
	if first.ProcessState.ExitCode() != exitStopped || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %s", first.ProcessState.ExitCode(), time.Since(start))
	}
	out, err := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("relaunch: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "0 failed, 0 skipped, 0 not run") {
		t.Errorf("relaunch did not finish the sweep:\n%s", out)
	}
}

// A second Ctrl-C stops at once, even while jobs ignore the first.
func TestSecondCtrlCStopsAtOnce(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	cmd := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=hang", "SWEEP_FAKE_MATCH=pretrain"},
		"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", "--stop-grace", "60s", grid)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once two jobs hang (their records say they started), the first Ctrl-C
	// asks them to stop; they do not.
	waitFor(t, 10*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "store", ".work", "*", "records.jsonl"))
		return len(m) == 2
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "stopping") })
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("a second Ctrl-C did not stop the controller")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("stopped %s after the second Ctrl-C", time.Since(start))
	}
}

// A job that is quiet but alive (its heartbeats arrive: it beats ten
// times per --heartbeat) is not killed by the heartbeat watchdog.
func TestQuietJobWithHeartbeatsSurvives(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms,quiet=2500ms", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo-simclr-mlp-s+mlp-s-s1"}
	code, out := launchCtl(t, dir, env, "--heartbeat", "1200ms")
	if code != 0 || strings.Contains(out, "no heartbeat") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
