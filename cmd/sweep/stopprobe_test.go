package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// probeGrid's linear probes run long enough (about 9 s each, on 3,000
// images) to be stopped in the middle.
const probeGrid = `name: probes
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1]
references: []
pretrain: {epochs: 1, batch: 64, knn_monitor: 0}
eval: {epochs: 4000, batch: 16}
`

// Ctrl-C while probes run ends the sweep within 5 s (the probes stop at
// their next minibatch, not at the end of the grace period), and the
// relaunch finishes with the results of an undisturbed run, digit for digit.
func TestCtrlCDuringProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real jobs")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := data.WriteSynthetic(dataDir, 3000, 300, 1); err != nil {
		t.Fatal(err)
	}
	env := "SWEEP_DATA_DIR=" + dataDir
	undisturbed := t.TempDir()
	if code, out := launchGrid(t, undisturbed, "probes", probeGrid, env); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	base := runOf(t, undisturbed, "probes")
	linear := map[string]bool{}
	for _, j := range base.Plan.Jobs {
		if j.Spec.Kind == job.KindLinear {
			linear[j.ID] = true
		}
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "probes.yaml")
	if err := os.WriteFile(p, []byte(probeGrid), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := sweepCmd(t, dir, []string{env}, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", p)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop once a linear probe has run for a while.
	waitFor(t, 120*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "probes-*", "journal.jsonl"))
		if len(m) != 1 {
			return false
		}
		started := journalStarts(t, m[0], linear)
		return !started.IsZero() && time.Since(started) > 500*time.Millisecond
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	sent := time.Now()
	_ = cmd.Wait()
	took := time.Since(sent)
	if took > 5*time.Second {
		t.Errorf("the sweep ended %v after Ctrl-C, want under 5 s:\n%s", took, out.String())
	}
	if !strings.Contains(out.String(), `msg="job stopped"`) {
		t.Errorf("no job was stopped:\n%s", out.String())
	}
	t.Logf("ended %v after Ctrl-C", took.Round(time.Millisecond))

	if code, out := launchGrid(t, dir, "probes", probeGrid, env); code != 0 {
		t.Fatalf("relaunch: exit %d\n%s", code, out)
	}
	got, want := resultsOf(t, runOf(t, dir, "probes")), resultsOf(t, base)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, undisturbed %s", k, got[k], w)
		}
	}
}

// journalStarts is when the first of jobs started running, by the journal
// (zero if none has).
func journalStarts(t *testing.T, path string, jobs map[string]bool) time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Time  time.Time `json:"time"`
			Job   string    `json:"job"`
			State string    `json:"state"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.State == "running" && jobs[e.Job] {
			return e.Time
		}
	}
	return time.Time{}
}
