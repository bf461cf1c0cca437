package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// planFor expands a grid, its job IDs covering the identity of the data
// sets' files (read from dataDir, or the system folders), computed through
// the workspace's checksum cache. It returns the data sets not found.
func planFor(ctx context.Context, g *grid.Grid, ids *workspace.DataIDCache, dataDir string) (*job.Plan, []string, error) {
	di, missing, err := ids.Identities(g.DataSets(), dataDir)
	if err != nil {
		return nil, nil, err
	}
	p, err := grid.NewPlanContext(ctx, g, di)
	return p, missing, err
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
