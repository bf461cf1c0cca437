package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/sweep/results"
	"github.com/dogo-sweep/sweep/sweep"
	"github.com/dogo-sweep/sweep/sweep/slurm"
)

// slurmCluster makes sure the single-node cluster of scripts/slurm-up.sh is
// up, starting it when this test may (root), and skips otherwise.
func slurmCluster(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil && os.Geteuid() != 0 {
		t.Skip("no Slurm here, and not root to install it")
	}
	if out, err := exec.Command("sinfo", "-h", "-o", "%T").Output(); err == nil && strings.Contains(string(out), "idle") {
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("Slurm is not up and this test is not root: run scripts/slurm-up.sh")
	}
	out, err := exec.Command("bash", "../../scripts/slurm-up.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/slurm-up.sh: %v\n%s", err, out)
	}
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
	r, err := sweep.OpenRun(runDir[0])
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

	second := sweepCmd(t, dir, env, args...)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
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
