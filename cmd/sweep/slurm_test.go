package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/slurm"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// slurmCluster makes sure a single-node Slurm cluster is up: one that is
// already running, or one this test binary starts (as root) from the
// configuration scripts/slurm-up.sh writes, with munged, slurmctld and slurmd
// as its own children; TestMain stops them when the tests end. It installs
// nothing: the packages come from make test-deps.
func slurmCluster(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil {
		require.Missing(t, "Slurm is not installed (make test-deps installs it)")
	}
	if slurmIdle() {
		return
	}
	if os.Geteuid() != 0 {
		require.Missing(t, "Slurm is not up and this test is not root: run scripts/slurm-up.sh")
	}
	testSlurm.once.Do(func() { testSlurm.err = testSlurm.start() })
	if testSlurm.err != nil {
		t.Fatal(testSlurm.err)
	}
}

func slurmIdle() bool {
	out, err := exec.Command("sinfo", "-h", "-o", "%T").Output()
	return err == nil && strings.Contains(string(out), "idle")
}

// testSlurm is the cluster the tests started, if any.
var testSlurm slurmDaemons

type slurmDaemons struct {
	once  sync.Once
	err   error
	procs []*exec.Cmd
}

func (s *slurmDaemons) start() error {
	if out, err := exec.Command("bash", "../../scripts/slurm-up.sh", "--config-only").CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/slurm-up.sh --config-only: %v\n%s", err, out)
	}
	var daemons [][]string
	if exec.Command("munge", "-n").Run() != nil {
		daemons = append(daemons, []string{"/usr/sbin/munged", "--foreground"})
	}
	daemons = append(daemons, []string{"/usr/sbin/slurmctld", "-D", "-c"}, []string{"/usr/sbin/slurmd", "-D"})
	for _, d := range daemons {
		cmd := exec.Command(d[0], d[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if d[0] == "/usr/sbin/munged" {
			u, err := user.Lookup("munge")
			if err != nil {
				return err
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
		if err := cmd.Start(); err != nil {
			s.stop()
			return fmt.Errorf("start %s: %w", d[0], err)
		}
		s.procs = append(s.procs, cmd)
		if strings.HasSuffix(d[len(d)-1], "--foreground") {
			for deadline := time.Now().Add(10 * time.Second); exec.Command("munge", "-n").Run() != nil; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					s.stop()
					return fmt.Errorf("munged did not start")
				}
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); !slurmIdle(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("slurm did not come up (logs in /tmp/dogo-slurm/log)")
		}
	}
	host, _ := os.Hostname()
	_ = exec.Command("scontrol", "update", "nodename="+strings.Split(host, ".")[0], "state=resume").Run()
	return nil
}

// stop cancels the cluster's jobs (their processes outlive slurmd), then
// stops the daemons and reaps them.
func (s *slurmDaemons) stop() {
	if len(s.procs) == 0 {
		return
	}
	_ = exec.Command("scancel", "--full", "--user", "root").Run()
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	s.procs = nil
}

const slurmGrid = ctlGrid + "executor: slurm\nslurm: {throttle: 2}\n"

func ourTasks(t *testing.T) []string {
	out, err := exec.Command("squeue", "-h", "-n", "sweep-ctl", "-o", "%i %T").Output()
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			live = append(live, l)
		}
	}
	return live
}

func TestSlurmSweepEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sweep on Slurm")
	}
	slurmCluster(t)
	dir := t.TempDir()
	grid := writeGrid(t, dir, slurmGrid)
	// The DoGo pretraining job of each seed fails on its first attempt.
	env := []string{"SWEEP_FAKE_JOB=sleep=1500ms,exit", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo", "SWEEP_FAKE_UNTIL=1"}
	out, err := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--metrics-addr", "off", "--backoff", "100ms", grid).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	runDir, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	r, err := workspace.OpenRun(runDir[0])
	if err != nil {
		t.Fatal(err)
	}
	subs, err := slurm.ReadSubmitted(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	arrays := map[string][]slurm.Submitted{}
	perJob := map[string]int{}
	for _, s := range subs {
		id, _, _ := strings.Cut(s.Slurm, "_")
		arrays[id] = append(arrays[id], s)
		perJob[s.Job]++
	}
	if len(arrays) < 3 {
		t.Errorf("%d arrays submitted: want one per wave of ready jobs (pretrain, features, probes, retries)", len(arrays))
	}
	for _, j := range r.Plan.Jobs {
		want := 1
		if strings.HasPrefix(j.Name, "pretrain-fashion-mnist-dogo") {
			want = 2 // failed once, resubmitted
		}
		if perJob[j.ID] != want {
			t.Errorf("%s submitted %d times, want %d", j.Name, perJob[j.ID], want)
		}
	}
	// The throttle (%2) holds within each array: Slurm's own start and end
	// times of the finished tasks, as squeue --json lists them.
	out2, err := exec.Command("squeue", "--json", "--states=all").Output()
	if err != nil {
		t.Fatal(err)
	}
	var sq struct {
		Jobs []struct {
			ArrayJobID int   `json:"array_job_id"`
			Start      int64 `json:"start_time"`
			End        int64 `json:"end_time"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out2, &sq); err != nil {
		t.Fatal(err)
	}
	byArray := map[string][][2]int64{}
	for _, j := range sq.Jobs {
		id := strconv.Itoa(j.ArrayJobID)
		if _, ours := arrays[id]; ours && j.Start > 0 {
			byArray[id] = append(byArray[id], [2]int64{j.Start, j.End})
		}
	}
	for id, spans := range byArray {
		for _, a := range spans {
			at := 0 // tasks running during a's first second
			for _, b := range spans {
				if b[0] <= a[0] && a[0] < b[1] {
					at++
				}
			}
			if at > 2 {
				t.Errorf("array %s ran %d tasks at once; throttle is 2: %v", id, at, spans)
				break
			}
		}
	}
	// Results in the same form as a local run.
	tb, err := results.Read(r.ResultsDir())
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, j := range tb.Jobs {
		if j.Status == "done" {
			done++
		}
	}
	if done != len(r.Plan.Jobs) || len(tb.Jobs) != len(r.Plan.Jobs)+2 || len(results.Summary(tb)) != 12 {
		t.Errorf("%d job rows (%d done) for %d jobs; %d summary rows", len(tb.Jobs), done, len(r.Plan.Jobs), len(results.Summary(tb)))
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "report.md")); err != nil {
		t.Error(err)
	}
}

// A controller killed mid-sweep attaches to the tasks it submitted; a
// graceful stop (SIGINT) cancels them in Slurm.
func TestSlurmReattachAndCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sweep on Slurm")
	}
	slurmCluster(t)
	dir := t.TempDir()
	grid := writeGrid(t, dir, slurmGrid)
	env := []string{"SWEEP_FAKE_JOB=sleep=20s"}
	args := []string{"launch", "--runs", "runs", "--metrics-addr", "off", grid}
	first := sweepCmd(t, dir, env, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return len(ourTasks(t)) >= 2 })
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	live := ourTasks(t)
	if len(live) < 2 {
		t.Fatalf("tasks died with the controller: %v", live)
	}
	runDir, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	before, _ := slurm.ReadSubmitted(runDir[0])

	// The restarted controller says when it attaches to each of them; only
	// then is "it submitted nothing again" a fact rather than a race.
	second := sweepCmd(t, dir, append(env, "SWEEP_DEBUG="), args...)
	logs := &syncBuffer{}
	second.Stdout, second.Stderr = io.Discard, logs
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return strings.Count(logs.String(), "attached to a Slurm task") >= len(before) })
	after, _ := slurm.ReadSubmitted(runDir[0])
	if len(after) != len(before) {
		t.Errorf("the restarted controller submitted %d tasks again instead of attaching", len(after)-len(before))
	}
	_ = second.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = second.Process.Kill()
		t.Fatal("controller did not stop on SIGINT")
	}
	waitFor(t, 15*time.Second, func() bool { return len(ourTasks(t)) == 0 })
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Settings Slurm cannot satisfy are refused with sbatch's words before
// anything is written.
func TestSlurmBadSettingsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Slurm")
	}
	slurmCluster(t)
	for _, tc := range []struct{ name, extra, want string }{
		{"unknown partition", "slurm: {partition: nosuch}\n", "invalid partition"},
		{"impossible GPU count", "resources: {gpus: 3}\n", "Requested node configuration is not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			grid := writeGrid(t, dir, ctlGrid+"executor: slurm\n"+tc.extra)
			code, out, errs := runCLI(t, "launch", "--runs", filepath.Join(dir, "runs"), "--metrics-addr", "off", grid)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, exitUsage, tc.want, out, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "runs")); err == nil {
				t.Error("a run folder was written")
			}
		})
	}
}

// syncBuffer is a bytes.Buffer that a process writes and a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A task cancelled behind the controller's back ends CANCELLED; one that
// leaves squeue unseen (cancelled and purged: a shim in front of squeue and
// scontrol hides it) is counted lost after a few polls. Both are retried, and
// the sweep finishes.
func TestSlurmCancelledAndLostTasksAreRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sweep on Slurm")
	}
	slurmCluster(t)
	dir := t.TempDir()
	shims := filepath.Join(dir, "shims")
	if err := os.MkdirAll(shims, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"squeue", "scontrol"} {
		if err := os.Symlink(os.Args[0], filepath.Join(shims, n)); err != nil {
			t.Fatal(err)
		}
	}
	hide := filepath.Join(dir, "hidden")
	grid := writeGrid(t, dir, slurmGrid)
	// The DoGo pretraining jobs hang on their first attempt.
	env := []string{"SWEEP_FAKE_JOB=sleep=200ms,quiet=120s", "SWEEP_FAKE_MATCH=pretrain-fashion-mnist-dogo", "SWEEP_FAKE_UNTIL=1",
		"PATH=" + shims + ":" + os.Getenv("PATH"), "SWEEP_SHIM_HIDE=" + hide}
	sc := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--metrics-addr", "off", "--backoff", "100ms", grid)
	out := &syncBuffer{}
	sc.Stdout, sc.Stderr = out, out
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.Wait() }()
	defer func() { _ = sc.Process.Kill() }()
	// Find the two DoGo tasks once they run.
	var runDir string
	dogo := map[string]string{} // seed -> Slurm task
	waitFor(t, 60*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
		if len(m) != 1 {
			return false
		}
		runDir = m[0]
		r, err := workspace.OpenRun(runDir)
		if err != nil {
			return false
		}
		subs, _ := slurm.ReadSubmitted(runDir)
		for _, s := range subs {
			if j := r.Plan.Job(s.Job); j != nil && strings.HasPrefix(j.Name, "pretrain-fashion-mnist-dogo") {
				dogo[strconv.Itoa(j.Spec.Seed)] = s.Slurm
			}
		}
		if len(dogo) < 2 {
			return false
		}
		running, _ := exec.Command("squeue", "-h", "-t", "RUNNING", "-o", "%i").Output()
		return strings.Contains(string(running), dogo["1"]) && strings.Contains(string(running), dogo["2"])
	})
	if err := os.WriteFile(hide, []byte(dogo["2"]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{dogo["1"], dogo["2"]} {
		if err := exec.Command("scancel", id).Run(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sweep: %v\n%s", err, out.String())
		}
	case <-time.After(120 * time.Second):
		j, _ := os.ReadFile(filepath.Join(runDir, "journal.jsonl"))
		t.Fatalf("the sweep did not finish:\n%s\njournal:\n%s", out.String(), j)
	}
	entries, plan := readJournal(t, filepath.Join(dir, "runs"))
	errs := map[string]string{}
	for _, e := range entries {
		if e.State == job.StateFailed {
			errs[plan.Job(e.Job).Name] = e.Error
		}
	}
	var cancelled, lost bool
	for name, e := range errs {
		cancelled = cancelled || strings.HasPrefix(name, "pretrain-fashion-mnist-dogo") && strings.Contains(e, "CANCELLED")
		lost = lost || strings.HasPrefix(name, "pretrain-fashion-mnist-dogo") && strings.Contains(e, "is gone")
	}
	if !cancelled || !lost || len(errs) != 2 {
		t.Errorf("failed attempts %v: want one CANCELLED and one lost DoGo task", errs)
	}
	if !strings.Contains(out.String(), "22 jobs done") {
		t.Errorf("sweep output:\n%s", out.String())
	}
}

// slurmShim stands in for squeue or scontrol (the test binary, linked under
// that name): it runs the real command and hides the tasks listed in
// $SWEEP_SHIM_HIDE, as if Slurm had purged them.
func slurmShim(name string, args []string) int {
	hidden := map[string]bool{}
	if b, err := os.ReadFile(os.Getenv("SWEEP_SHIM_HIDE")); err == nil {
		for _, id := range strings.Fields(string(b)) {
			hidden[id] = true
		}
	}
	out, err := exec.Command("/usr/bin/"+name, args...).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if name == "scontrol" {
		for _, a := range args {
			if hidden[a] {
				fmt.Fprintln(os.Stderr, "slurm_load_jobs error: Invalid job id specified")
				return 1
			}
		}
		os.Stdout.Write(out)
		return 0
	}
	var resp map[string]any
	if json.Unmarshal(out, &resp) != nil {
		os.Stdout.Write(out)
		return 0
	}
	jobs, _ := resp["jobs"].([]any)
	var kept []any
	for _, j := range jobs {
		m, _ := j.(map[string]any)
		arr, _ := m["array_job_id"].(float64)
		task, _ := m["array_task_id"].(float64)
		if hidden[fmt.Sprintf("%d_%d", int(arr), int(task))] {
			continue
		}
		kept = append(kept, j)
	}
	resp["jobs"] = kept
	b, _ := json.Marshal(resp)
	os.Stdout.Write(b)
	return 0
}
