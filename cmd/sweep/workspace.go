package main

import (
	"fmt"
	"io"
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

// runTables reads a run's results from its jobs' folders in the store:
// every attempt of every job of its plan, reused jobs included.
func runTables(r *workspace.Run) (*results.Tables, error) {
	dirs := make([]string, len(r.Plan.Jobs))
	for i, j := range r.Plan.Jobs {
		dirs[i] = r.JobDir(j).Results()
	}
	return results.Gather(dirs)
}

// openRun opens a run folder, first moving one made by an earlier release
// into the workspace layout (jobs in the store).
func openRun(dir string, log io.Writer) (*workspace.Run, error) {
	r, err := workspace.OpenRun(dir)
	if err != nil {
		return nil, err
	}
	if !r.NeedsMigration() {
		return r, nil
	}
	if err := r.Lock(); err != nil {
		return nil, err
	}
	defer r.Unlock()
	n, err := r.Migrate(func() (*job.Settings, error) {
		g, err := grid.Load(filepath.Join(r.Dir, "grid.yaml"))
		if err != nil {
			return nil, err
		}
		return grid.NewPlan(g, nil).Settings, nil
	})
	if err == nil {
		err = r.LinkJobs()
	}
	if err != nil {
		return nil, fmt.Errorf("move %s into the workspace layout: %w", dir, err)
	}
	fmt.Fprintf(log, "%s: made by an earlier release; moved %d job folders into %s (made before manifests, they run again when needed)\n", dir, n, r.Store.Dir)
	return r, nil
}

// kindSizes returns the mean disk use of the finished jobs of each kind in
// the store, for plans and full-disk messages.
func kindSizes(r *workspace.Run) map[job.Kind]int64 {
	sum, n := map[job.Kind]int64{}, map[job.Kind]int64{}
	for _, j := range r.Plan.Jobs {
		if !r.Store.Finished(j.ID) {
			continue
		}
		sum[j.Spec.Kind] += r.Store.Entry(j.ID).Size()
		n[j.Spec.Kind]++
	}
	out := map[job.Kind]int64{}
	for k := range sum {
		out[k] = sum[k] / n[k]
	}
	return out
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
