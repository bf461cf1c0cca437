package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// A grid of real jobs small enough for a test: a DoGo pair, solo, both
// references, on a synthetic data set in Fashion-MNIST's format.
const realGrid = `name: real
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1]
references: [random, pixels]
pretrain: {epochs: 2, batch: 64, knn_monitor: 0}
eval: {epochs: 3}
`

// realWorkspace launches realGrid on synthetic data in dir and returns the
// data folder.
func realWorkspace(t *testing.T, dir string) string {
	t.Helper()
	dataDir := filepath.Join(dir, "data")
	if err := data.WriteSynthetic(dataDir, 600, 300, 1); err != nil {
		t.Fatal(err)
	}
	if code, out := launchGrid(t, dir, "real", realGrid, "SWEEP_DATA_DIR="+dataDir); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	return dataDir
}

// resultsOf is what a run's results say, to compare digit for digit: each
// probe's accuracies, and how many done rows each job has.
func resultsOf(t *testing.T, r *workspace.Run) map[string]string {
	t.Helper()
	tb, err := r.Tables()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range results.Summary(tb) {
		out[s.Job] = fmt.Sprintf("best %v final %v selected %v ood %v", s.AccBest, s.AccFinal, s.AccSelected, s.OOD)
	}
	done := map[string]int{}
	for _, j := range tb.Jobs {
		if j.Status == string(job.StateDone) {
			done[j.Job]++
		}
	}
	for id, n := range done {
		out[id+" done rows"] = fmt.Sprint(n)
	}
	return out
}

// Every kind of damage the store can suffer, on a workspace of real jobs:
// the launch that reuses the damaged entries moves them to quarantine (or a
// job that reads one finds it damaged), runs their jobs again, then what
// reads them; nothing fails, and the results equal those of the undamaged
// workspace, digit for digit.
func TestDamagedStoreRerunsToTheSameResults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real jobs")
	}
	pristine := t.TempDir()
	dataDir := realWorkspace(t, pristine)
	base := runOf(t, pristine, "real")
	want := resultsOf(t, base)
	byKind := func(r *workspace.Run, kind job.Kind, method, role string) *job.Job {
		for _, j := range r.Plan.Jobs {
			if j.Spec.Kind == kind && j.Spec.Method == method && (role == "" || j.Spec.Role == role) {
				return j
			}
		}
		t.Fatalf("no %s %s %s job", kind, method, role)
		return nil
	}
	// dependents lists the entries of the jobs that read a job's output.
	dependents := func(r *workspace.Run, id string) []string {
		var out []string
		for _, j := range r.Plan.Jobs {
			for _, d := range j.Deps {
				if d == id {
					out = append(out, r.Store.EntryDir(j.ID))
				}
			}
		}
		return out
	}
	pre := byKind(base, job.KindPretrain, job.MethodDoGo, "")
	feat := byKind(base, job.KindFeatures, job.MethodSolo, "")
	lin := byKind(base, job.KindLinear, job.MethodSolo, "")
	for _, tc := range []struct {
		name   string
		damage func(r *workspace.Run)
	}{
		{"flipped bits in the newest checkpoint (its features extracted again)", func(r *workspace.Run) {
			d := r.Store.Entry(pre.ID)
			list, _ := d.ListCheckpoints()
			_, bin, _ := d.CheckpointFiles(list[len(list)-1])
			flip(t, bin, 1)
			removeAll(t, dependents(r, pre.ID)...)
		}},
		{"checkpoints gone (its features extracted again)", func(r *workspace.Run) {
			removeAll(t, r.Store.Entry(pre.ID).Checkpoints())
			removeAll(t, dependents(r, pre.ID)...)
		}},
		{"a metrics part deleted", func(r *workspace.Run) {
			_, m := jobdir.PartFiles(r.Store.Entry(lin.ID).Results(), lin.ID, 1)
			removeAll(t, m)
		}},
		{"a jobs part deleted", func(r *workspace.Run) {
			j, _ := jobdir.PartFiles(r.Store.Entry(lin.ID).Results(), lin.ID, 1)
			removeAll(t, j)
		}},
		{"16 flipped bytes in a features file (a probe of it run again)", func(r *workspace.Run) {
			flip(t, r.Store.Entry(feat.ID).Features(), 16)
			removeAll(t, r.Store.EntryDir(lin.ID))
		}},
		{"a truncated features file", func(r *workspace.Run) {
			p := r.Store.Entry(feat.ID).Features()
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"an entry without done.json", func(r *workspace.Run) {
			removeAll(t, r.Store.Entry(feat.ID).Manifest())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(filepath.Join(dir, "runs"), os.DirFS(filepath.Join(pristine, "runs"))); err != nil {
				t.Fatal(err)
			}
			tc.damage(runOf(t, dir, "real"))
			code, out := launchGrid(t, dir, "real", realGrid, "SWEEP_DATA_DIR="+dataDir)
			if code != 0 || !strings.Contains(out, "0 failed") {
				t.Fatalf("relaunch: exit %d\n%s", code, out)
			}
			r := runOf(t, dir, "real")
			if got := resultsOf(t, r); !equalMaps(want, got) {
				t.Errorf("results differ from the undamaged workspace's:\n%s", diffMaps(want, got))
			}
			q, _ := r.Store.Quarantined()
			h, _ := workspace.ReadJournal(r.Dir)
			quarantined := 0
			for _, w := range h.Warnings {
				if w.Quarantine != "" {
					quarantined++
				}
			}
			if len(q) == 0 || quarantined != len(q) {
				t.Errorf("%d entries in quarantine, %d journaled", len(q), quarantined)
			}
			checkStoreEntries(t, r.Store.Dir)
			// A second relaunch finds everything healthy and runs nothing.
			if code, out := launchGrid(t, dir, "real", realGrid, "SWEEP_DATA_DIR="+dataDir); code != 0 || !strings.Contains(out, "(0 run now") {
				t.Errorf("second relaunch: exit %d\n%s", code, out)
			}
		})
	}
}

func flip(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		b[len(b)/2+i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func diffMaps(want, got map[string]string) string {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if want[k] != got[k] {
			out = append(out, fmt.Sprintf("  %s: want %q, got %q", k, want[k], got[k]))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
