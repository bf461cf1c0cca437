package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// A real small sweep (MLP pairs on Fashion-MNIST, checkpoints every epoch).
const fullGrid = `name: full
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1]
references: []
pretrain: {epochs: 2, batch: 64, train_subset: 512, knn_monitor: 0, checkpoint_every: 1}
eval: {epochs: 3, batch: 64, train_subset: 1000}
`

// A sweep whose disk fills up stops cleanly, with exit code 4 and a message
// that names the folder and says a relaunch resumes, and counts no job as
// failed; with room made, the same command finishes every job, with the
// results of an uninterrupted run. The disk is a 3 MB tmpfs (root only).
func TestFullDiskStopsAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small sweep three times")
	}
	if _, err := data.Load("fashion-mnist", "test", ""); errors.Is(err, fs.ErrNotExist) {
		require.Missing(t, "Fashion-MNIST not installed (make test-deps)")
	}
	if os.Geteuid() != 0 {
		require.Missing(t, "mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", runs).CombinedOutput(); err != nil {
		require.Missing(t, fmt.Sprintf("cannot mount a tmpfs here: %v %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", runs).Run() })
	grid := writeGrid(t, dir, fullGrid)
	sweep := func(runs string) (int, string) {
		cmd := sweepCmd(t, dir, nil, "launch", "--runs", runs, "--cpus", "2", "--metrics-addr", "off", "--backoff", "50ms", grid)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return cmd.ProcessState.ExitCode(), string(out)
		}
		return 0, string(out)
	}
	code, out := sweep(runs)
	if code != exitDiskFull {
		t.Fatalf("exit %d on a full disk, want %d\n%s", code, exitDiskFull, out)
	}
	for _, want := range []string{"is full", filepath.Join(runs, "store"), "no job was counted as failed", "run the same command again"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message lacks %q:\n%s", want, out)
		}
	}
	m, _ := filepath.Glob(filepath.Join(runs, "full-*"))
	if len(m) != 1 {
		t.Fatalf("run folders %v", m)
	}
	h, err := workspace.ReadJournal(m[0])
	if err != nil {
		t.Fatal(err)
	}
	for id, s := range h.States {
		if s.State == job.StateGaveUp || s.State == job.StateFailed || s.Failures > 0 {
			t.Errorf("job %s counted as failed on a full disk: %+v", id, s.Last)
		}
	}
	// Room made: the same command finishes.
	if out, err := exec.Command("mount", "-o", "remount,size=300m", runs).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	if code, out := sweep(runs); code != 0 || !strings.Contains(out, "11 jobs done") {
		t.Fatalf("relaunch with room: exit %d\n%s", code, out)
	}
	// The same results as an uninterrupted run.
	other := filepath.Join(dir, "runs-uninterrupted")
	if code, out := sweep(other); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, out)
	}
	got, want := summaryOfRun(t, runs), summaryOfRun(t, other)
	if len(got) != 6 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results after a full disk:\n%s\nuninterrupted:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// summaryOfRun is a run's summary rows as sorted text.
func summaryOfRun(t *testing.T, runs string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(runs, "full-*"))
	if len(m) != 1 {
		t.Fatalf("run folders %v", m)
	}
	r, err := workspace.OpenRun(m[0])
	if err != nil {
		t.Fatal(err)
	}
	tb, err := r.Tables()
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, s := range results.Summary(tb) {
		rows = append(rows, strings.Join([]string{string(s.Kind), s.Method, s.Arch, s.Role, fmt.Sprint(s.AccBest), fmt.Sprint(s.AccFinal)}, " "))
	}
	sort.Strings(rows)
	return rows
}
