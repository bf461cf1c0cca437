package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// waitForFile polls for a file matching glob and returns it.
func waitForFile(t *testing.T, glob string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(glob); len(m) > 0 {
			return m[0]
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("nothing matched %s after %s", glob, d)
	return ""
}

// Rows a job wrote survive a SIGKILL of its controller: a pretraining job
// killed after its second epoch and resumed from there reports every epoch
// (the first two from the killed attempt, read from its records), and
// counts once as done.
func TestKilledControllerLosesNoRows(t *testing.T) {
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms,epochs=5:150ms"}
	cmd := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "1", "--metrics-addr", "off", grid)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	recs := waitForFile(t, filepath.Join(dir, "runs", "store", ".work", "*", "records.jsonl"), 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		epochs := 0
		_ = job.ReadRecordsFile(recs, func(r job.Record) {
			if r.Name == "ssl_loss" {
				epochs++
			}
		})
		if epochs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second epoch")
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if code, out := launchCtl(t, dir, env); code != 0 {
		t.Fatalf("relaunch: exit %d\n%s", code, out)
	}
	r := runOf(t, dir, "ctl")
	tb, err := r.Tables()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range r.Plan.Jobs {
		if j.Spec.Kind != job.KindPretrain {
			continue
		}
		epochs := map[int64]int{}
		for _, m := range tb.Metrics {
			if m.Job == j.ID && m.Name == "ssl_loss" {
				epochs[m.Epoch]++
			}
		}
		for e := int64(1); e <= 5; e++ {
			if epochs[e] != 1 {
				t.Errorf("%s: epoch %d reported %d times: %v", j.Name, e, epochs[e], epochs)
			}
		}
		done := 0
		for _, row := range tb.Jobs {
			if row.Job == j.ID && row.Status == string(job.StateDone) {
				done++
			}
		}
		if done != 1 {
			t.Errorf("%s: %d done rows", j.Name, done)
		}
	}
}

// A job's results count once whatever moment the kill comes at: the
// controller is SIGKILLed as soon as a job's result parts appear in its
// work folder (before the folder is committed), again and again; every
// relaunch ends with one done row per job and a healthy store.
func TestKilledWhenPartsAppearCountsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a sweep five times")
	}
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	env := []string{"SWEEP_FAKE_JOB=sleep=20ms"}
	work := filepath.Join(dir, "runs", "store", ".work")
	for i := 0; i < 5; i++ {
		cmd := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForFile(t, filepath.Join(work, "*", "results", "parts", "jobs-*"), 30*time.Second)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		checkStoreEntries(t, filepath.Join(dir, "runs", "store"))
	}
	if code, out := launchCtl(t, dir, env); code != 0 || !strings.Contains(out, "22 jobs done") {
		t.Fatalf("relaunch: exit %d\n%s", code, out)
	}
	r := runOf(t, dir, "ctl")
	tb, err := r.Tables()
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int{}
	for _, row := range tb.Jobs {
		if row.Status == string(job.StateDone) {
			done[row.Job]++
		}
	}
	for _, j := range r.Plan.Jobs {
		if done[j.ID] != 1 {
			t.Errorf("%s: %d done rows", j.Name, done[j.ID])
		}
	}
	checkStoreEntries(t, filepath.Join(dir, "runs", "store"))
}

// A controller suspended (SIGSTOP, as a suspended node) past the stale
// time loses its claims to another controller, which runs the jobs in
// folders of its own and commits them; the suspended one, resumed, drops
// its attempts without writing anything, and reuses the other's entries.
// Every job runs to completion once in the entry that holds it, and no
// work folder is left.
func TestSuspendedControllerIsTakenOverCleanly(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=1500ms"}
	src := func(name string) string {
		return "name: " + name + "\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [1]\nreferences: []\n"
	}
	pa := filepath.Join(dir, "a.yaml")
	os.WriteFile(pa, []byte(src("a")), 0o644)
	a := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", "--claim-stale", "1s", pa)
	var aout strings.Builder
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(dir, "runs", "store", ".work", "*", "task.json"), 20*time.Second)
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the stale time
	pb := filepath.Join(dir, "b.yaml")
	os.WriteFile(pb, []byte(src("b")), 0o644)
	bout, berr := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", "--claim-stale", "1s", pb).CombinedOutput()
	_ = a.Process.Signal(syscall.SIGCONT)
	aerr := a.Wait()
	if berr != nil {
		t.Fatalf("the controller that took over: %v\n%s", berr, bout)
	}
	if aerr != nil {
		t.Fatalf("the resumed controller: %v\n%s", aerr, aout.String())
	}
	if !strings.Contains(aout.String(), "took this job over") {
		t.Errorf("the resumed controller did not say it lost its jobs:\n%s", aout.String())
	}
	checkStoreEntries(t, filepath.Join(dir, "runs", "store"))
	st, _ := workspace.OpenStore(filepath.Join(dir, "runs"), "")
	if w, _ := st.WorkFolders(); len(w) != 0 {
		t.Errorf("work folders left: %v", w)
	}
	ids, _ := st.Entries()
	for _, id := range ids {
		m, _ := st.Lookup(id)
		if m.Origin.Sweep != filepath.Base(runOf(t, dir, "b").Dir) {
			t.Errorf("%s was committed by %s", id, m.Origin.Sweep)
		}
		dones, after := 0, 0
		_ = job.ReadRecordsFile(st.Entry(id).Records(), func(r job.Record) {
			if dones > 0 {
				after++
			}
			if r.Type == job.RecDone {
				dones++
			}
		})
		if dones != 1 || after != 0 {
			t.Errorf("%s: %d done records, %d records after it", id, dones, after)
		}
	}
}
