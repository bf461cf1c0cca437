package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// seqGrid is sequential: 3 to 6 seeds per cell. With the fake jobs below,
// the pair of two architectures has a planted gain of 5 points (1 point
// of noise), which decides within a few seeds; the copy pair has none, and
// stays undecided longer.
const seqGrid = `name: seq
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-l, mlp-s+mlp-s]
seeds: {min: 3, max: 6}
references: []
decide: {on: [linear, knn], margin: 0.5}
`

var seqEnv = []string{"SWEEP_FAKE_JOB=sleep=1ms", "SWEEP_FAKE_ACC=0.01", "SWEEP_FAKE_EFFECT=0.05"}

// decisionsOf is a run's last decision about each cell, as text.
func decisionsOf(t *testing.T, r *workspace.Run) string {
	t.Helper()
	h, err := workspace.ReadJournal(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range h.LastDecisions() {
		fmt.Fprintf(&b, "%s: %d seeds, decided %v, next %d\n", d.Cell, d.Seeds, d.Decided, d.Next)
		for _, c := range d.Comparisons {
			fmt.Fprintf(&b, "  %s %s %s: %s n=%d mean=%.6f half=%.6f p=%.6f\n", c.Protocol, c.Setting, c.Encoder, c.Verdict, c.N, c.Mean, c.Half, c.P)
		}
	}
	return b.String()
}

// A sequential grid runs in rounds: the decided cell stops, the undecided
// one gets seeds up to max; the report shows each comparison's verdict and
// seeds, and the sequential section. A controller SIGKILLed just after it
// decided to add a seed, relaunched, ends with the decisions and results of
// an undisturbed run.
func TestSequentialSeeds(t *testing.T) {
	undisturbed := t.TempDir()
	code, out := launchGrid(t, undisturbed, "seq", seqGrid, seqEnv...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	base := runOf(t, undisturbed, "seq")
	want := decisionsOf(t, base)
	t.Logf("%s\n%s", out, want)
	if !strings.Contains(want, "mlp-s+mlp-l: ") || !strings.Contains(want, "decided true") {
		t.Errorf("the planted gain decided nothing:\n%s", want)
	}
	if !strings.Contains(out, "one more seed") {
		t.Errorf("no seed was added:\n%s", out)
	}
	report, err := os.ReadFile(filepath.Join(base.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Sequential seeds", "| gain |", "sequential: 3 to 6 per cell", "Holm"} {
		if !strings.Contains(string(report), s) {
			t.Errorf("the report lacks %q", s)
		}
	}

	// Each decision is in the results too, with its statistics.
	rows, err := results.ReadDecisions(base.ResultsDir())
	if err != nil || len(rows) == 0 {
		t.Fatalf("decisions.parquet: %d rows, %v", len(rows), err)
	}
	if last := rows[len(rows)-1]; last.Cell == "" || last.N < 3 || last.Verdict == "" {
		t.Errorf("a decision row %+v", last)
	}
	if code, out, _ := runCLI(t, "status", base.Dir); code != 0 || !strings.Contains(out, "sequential seeds: 1 of 2 cells decided") {
		t.Errorf("status (exit %d):\n%s", code, out)
	}

	// Killed while it adds a seed.
	dir := t.TempDir()
	p := filepath.Join(dir, "seq.yaml")
	if err := os.WriteFile(p, []byte(seqGrid), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := sweepCmd(t, dir, seqEnv, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForDecision := func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "runs", "seq-*", "journal.jsonl"))
		if len(m) != 1 {
			return false
		}
		b, _ := os.ReadFile(m[0])
		return strings.Contains(string(b), `"next":`)
	}
	for deadline := time.Now().Add(60 * time.Second); !waitForDecision(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no seed was added")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if code, out := launchGrid(t, dir, "seq", seqGrid, seqEnv...); code != 0 {
		t.Fatalf("relaunch: exit %d\n%s", code, out)
	}
	r := runOf(t, dir, "seq")
	if got := decisionsOf(t, r); got != want {
		t.Errorf("decisions after the kill:\n%s\nundisturbed:\n%s", got, want)
	}
	got, wantRes := resultsOf(t, r), resultsOf(t, base)
	if len(got) != len(wantRes) {
		t.Errorf("%d results after the kill, undisturbed %d", len(got), len(wantRes))
	}
	for k, w := range wantRes {
		if got[k] != w {
			t.Errorf("%s: %s, undisturbed %s", k, got[k], w)
		}
	}
}
