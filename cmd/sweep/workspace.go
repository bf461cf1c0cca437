package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// absentData is the identity of a data set whose folder is missing: the
// plan's IDs are then provisional (launch refuses to run without the data).
const absentData = "absent"

// planFor expands a grid, its job IDs covering the identity of the data
// sets' files (read from dataDir, or the system folders), computed through
// the workspace's checksum cache. It returns the data sets not found.
func planFor(g *grid.Grid, ids *workspace.DataIDs, dataDir string) (*job.Plan, []string, error) {
	di := grid.DataIDs{}
	var missing []string
	for _, d := range dataSets(g) {
		if _, done := di[d]; done {
			continue
		}
		folder, err := data.Folder(d, dataDir)
		if err != nil {
			di[d] = absentData
			missing = append(missing, d)
			continue
		}
		if di[d], err = ids.Of(folder); err != nil {
			return nil, nil, err
		}
	}
	return grid.NewPlan(g, di), missing, nil
}

// resultDirs lists the result folders of a plan's jobs in the store.
func resultDirs(r *workspace.Run) []string {
	dirs := make([]string, len(r.Plan.Jobs))
	for i, j := range r.Plan.Jobs {
		dirs[i] = results.JobResultsDir(r.JobDir(j))
	}
	return dirs
}

// runTables reads a run's results from its jobs' folders in the store:
// every attempt of every job of its plan, reused jobs included.
func runTables(r *workspace.Run) (*results.Tables, error) {
	return results.Gather(resultDirs(r))
}

// openRun opens a run folder, first moving one made by an earlier release
// into the workspace layout (jobs in the store).
func openRun(dir string, log io.Writer) (*workspace.Run, error) {
	r, err := workspace.OpenRun(dir)
	if err != nil {
		return nil, err
	}
	if !needsMigration(r) {
		return r, nil
	}
	if err := r.Lock(); err != nil {
		return nil, err
	}
	defer r.Unlock()
	n, err := migrate(r)
	if err != nil {
		return nil, fmt.Errorf("move %s into the workspace layout: %w", dir, err)
	}
	fmt.Fprintf(log, "%s: made by an earlier release; moved %d job folders into %s (the run folder links to them)\n", dir, n, r.Store.Dir)
	return r, nil
}

// needsMigration reports a run folder of the earlier layout: job folders
// inside the run folder, or result parts of its own.
func needsMigration(r *workspace.Run) bool {
	entries, _ := os.ReadDir(filepath.Join(r.Dir, "jobs"))
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	parts, _ := filepath.Glob(filepath.Join(r.ResultsDir(), "parts", "*.parquet"))
	return len(parts) > 0 || r.Plan.Settings == nil
}

// migrate moves a run folder of the earlier layout into the workspace: each
// job folder into the store (finished ones as entries, the others as work
// folders, so that they resume), each attempt's result rows into its job's
// folder, and the grid's settings into plan.json. Each step can be run again
// after a crash.
func migrate(r *workspace.Run) (int, error) {
	moved := 0
	byName := map[string]*job.Job{}
	for _, j := range r.Plan.Jobs {
		byName[j.Name] = j
	}
	entries, err := os.ReadDir(filepath.Join(r.Dir, "jobs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for _, e := range entries {
		j := byName[e.Name()]
		if !e.IsDir() || j == nil {
			continue
		}
		from := filepath.Join(r.Dir, "jobs", e.Name())
		to := r.Store.WorkDir(j.ID)
		if workspace.JobFinished(from) {
			to = r.Store.EntryDir(j.ID)
			if err := writeOrigin(from, filepath.Base(r.Dir)); err != nil {
				return moved, err
			}
		}
		if _, err := os.Stat(to); err == nil {
			if err := os.RemoveAll(from); err != nil { // the store has it already
				return moved, err
			}
			continue
		}
		if err := os.Rename(from, to); err != nil {
			return moved, err
		}
		moved++
	}
	// Result rows: each attempt into its job's folder.
	t, err := results.Read(r.ResultsDir())
	if err != nil {
		return moved, err
	}
	metrics := map[string][]results.MetricRow{}
	for _, m := range t.Metrics {
		k := fmt.Sprint(m.Job, "/", m.Attempt)
		metrics[k] = append(metrics[k], m)
	}
	for _, row := range t.Jobs {
		if r.Plan.Job(row.Job) == nil {
			continue
		}
		dir := results.JobResultsDir(r.Store.JobDir(row.Job))
		if err := results.WritePart(dir, row, metrics[fmt.Sprint(row.Job, "/", row.Attempt)]); err != nil {
			return moved, err
		}
	}
	if err := os.RemoveAll(filepath.Join(r.ResultsDir(), "parts")); err != nil {
		return moved, err
	}
	if r.Plan.Settings == nil {
		g, err := grid.Load(filepath.Join(r.Dir, "grid.yaml"))
		if err != nil {
			return moved, err
		}
		r.Plan.Settings = grid.NewPlan(g, nil).Settings
		if err := workspace.WritePlan(r.Dir, r.Plan); err != nil {
			return moved, err
		}
	}
	return moved, r.LinkJobs()
}

func writeOrigin(dir, sweep string) error {
	st, err := os.Stat(filepath.Join(dir, workspace.DoneMarker))
	if err != nil {
		return err
	}
	return workspace.WriteOrigin(dir, workspace.Origin{Sweep: sweep, Time: st.ModTime().UTC()})
}

// kindSizes returns the mean disk use of the finished jobs of each kind in
// the store, for plans and full-disk messages.
func kindSizes(r *workspace.Run) map[job.Kind]int64 {
	sum, n := map[job.Kind]int64{}, map[job.Kind]int64{}
	for _, j := range r.Plan.Jobs {
		if !r.Store.Finished(j.ID) {
			continue
		}
		sum[j.Spec.Kind] += dirSize(r.Store.EntryDir(j.ID))
		n[j.Spec.Kind]++
	}
	out := map[job.Kind]int64{}
	for k := range sum {
		out[k] = sum[k] / n[k]
	}
	return out
}

func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// sortedKinds lists a map's kinds in order.
func sortedKinds[V any](m map[job.Kind]V) []job.Kind {
	var ks []job.Kind
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}
