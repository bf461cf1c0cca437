package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// A finished fake sweep to run the read-only commands on.
func finishedRun(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, out := launchCtl(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	return runs[0]
}

func TestResultsCommand(t *testing.T) {
	run := finishedRun(t)
	code, out, errs := runCLI(t, "results", run)
	if code != 0 || !strings.Contains(out, "BEST-VAL ACC") || strings.Count(out, "\n") != 13 {
		t.Fatalf("table: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "results", "--format", "csv", run)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 13 || rows[0][0] != "job" || rows[1][12] != "50" {
		t.Fatalf("csv: exit %d, %v\n%s", code, err, out)
	}
	code, out, _ = runCLI(t, "results", "--format", "json", run)
	var sum []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || len(sum) != 12 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "results", "--format", "xml", run); code != exitUsage {
		t.Errorf("unknown format: exit %d", code)
	}
	code, out, _ = runCLI(t, "results", "compact", run)
	if code != 0 || !strings.Contains(out, "22 job rows") {
		t.Errorf("compact: exit %d\n%s", code, out)
	}
}

func TestReportCommand(t *testing.T) {
	run := finishedRun(t)
	if err := os.Remove(filepath.Join(run, "report.md")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "report", run)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "report.md") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	b, err := os.ReadFile(filepath.Join(run, "report.md"))
	if err != nil || !strings.Contains(string(b), "# Sweep report: ctl") {
		t.Fatalf("report: %v", err)
	}
	if code, _, _ := runCLI(t, "report", filepath.Join(run, "nope")); code == 0 {
		t.Error("report of a missing run succeeded")
	}
}

// `sweep resume RUN` continues a stopped run folder.
func TestResumeCommand(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	first := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=30s"}, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid)
	var log syncBuffer
	first.Stdout, first.Stderr = &log, &log
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*", "journal.jsonl"))
		if len(m) != 1 {
			return false
		}
		b, _ := os.ReadFile(m[0])
		return strings.Count(string(b), `"running"`) == 2
	})
	_ = first.Process.Signal(syscall.SIGINT)
	_ = first.Wait()
	// Jobs stopped by Ctrl-C are stopped, not failed.
	if s := log.String(); !strings.Contains(s, `msg="job stopped"`) || strings.Contains(s, "job failed") {
		t.Errorf("a graceful stop is logged as:\n%s", s)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	out, err := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, "resume", "--cpus", "2", "--metrics-addr", "off", runs[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "22 jobs done") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "computes differently") {
		t.Fatalf("resume warned about revisions it shares:\n%s", out)
	}
	// A run planned by a sweep whose code computed differently gets a warning.
	planFile := filepath.Join(runs[0], "plan.json")
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`"knn": "` + job.Revisions[job.CodeKNN] + `"`)
	if !bytes.Contains(b, old) {
		t.Fatalf("plan.json does not record the revisions:\n%.600s", b)
	}
	if err := os.WriteFile(planFile, bytes.Replace(b, old, []byte(`"knn": "0"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, "resume", "--cpus", "2", "--metrics-addr", "off", runs[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "computes differently") {
		t.Fatalf("resume of an older revision's run: %v\n%s", err, out)
	}
}

// Relaunching a finished grid, from another copy of the same data, writes
// nothing but what it must: the run folder's grid, plan, report and plots
// stay as they were, and the lock file goes away with the controller.
func TestRelaunchChangesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"data1", "data2"} {
		if out, err := exec.Command("cp", "-r", "testdata/data", filepath.Join(dir, d)).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	if code, out := launchCtl(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, "--data-dir", filepath.Join(dir, "data1")); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*"))
	if _, err := os.Stat(filepath.Join(runs[0], "lock")); err == nil {
		t.Error("the lock file outlived the controller")
	}
	stamp := func() map[string]time.Time {
		m := map[string]time.Time{}
		files, _ := filepath.Glob(filepath.Join(runs[0], "plots", "*"))
		for _, f := range append(files, "grid.yaml", "plan.json", "report.md", "results/jobs.parquet") {
			if !filepath.IsAbs(f) {
				f = filepath.Join(runs[0], f)
			}
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			m[f] = st.ModTime()
		}
		return m
	}
	before := stamp()
	time.Sleep(20 * time.Millisecond) // a rewrite would show in the times
	code, out := launchCtl(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, "--data-dir", filepath.Join(dir, "data2"))
	if code != 0 || !strings.Contains(out, "22 jobs done (0 run now, 22 reused from the store)") {
		t.Fatalf("relaunch: exit %d\n%s", code, out)
	}
	for f, t0 := range stamp() {
		if !t0.Equal(before[f]) {
			t.Errorf("%s was rewritten by a relaunch that changed nothing", f)
		}
	}
}

// A sweep's name as `sweep runs` prints it is enough for the commands that
// take a run folder (run from the workspace's folder).
func TestCommandsTakeTheNameRunsPrints(t *testing.T) {
	run := finishedRun(t)
	ws := filepath.Dir(filepath.Dir(run))
	out, err := sweepCmd(t, ws, nil, "runs").CombinedOutput()
	name := filepath.Base(run)
	if err != nil || !strings.Contains(string(out), name) {
		t.Fatalf("runs: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"status", name}, {"results", name}, {"report", name}, {"verify", name}} {
		if out, err := sweepCmd(t, ws, nil, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := sweepCmd(t, ws, nil, "status", "no-such-sweep").CombinedOutput(); err == nil || !strings.Contains(string(out), "sweep runs lists") {
		t.Errorf("status of an unknown name: %v\n%s", err, out)
	}
}
