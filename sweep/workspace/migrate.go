package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/results"
)

// NeedsMigration reports a run folder of the layout before the store: job
// folders inside the run folder, or result parts of its own, or a plan
// without settings.
func (r *Run) NeedsMigration() bool {
	entries, _ := os.ReadDir(filepath.Join(r.Dir, "jobs"))
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	parts, _ := jobdir.JobsParts(r.ResultsDir())
	return len(parts) > 0 || r.Plan.Settings == nil
}

// Migrate moves a run folder of the layout before the store into the
// workspace: each job folder into the store (as a work folder: made
// before manifests, it is not handed back as finished, and its job runs
// again when a sweep needs it), each attempt's result rows into its job's
// folder, and the grid's settings (from settings, when the plan lacks
// them) into plan.json. Each step can be run again after a crash. It
// returns how many job folders moved.
func (r *Run) Migrate(settings func() (*job.Settings, error)) (int, error) {
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
		to := r.Store.workDir(j.ID, "migrated")
		if _, err := os.Stat(to.Path()); err == nil {
			if err := os.RemoveAll(from); err != nil { // moved already
				return moved, err
			}
			continue
		}
		if err := os.Rename(from, to.Path()); err != nil {
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
		if err := results.WritePart(r.Store.JobDir(row.Job).Results(), row, metrics[fmt.Sprint(row.Job, "/", row.Attempt)]); err != nil {
			return moved, err
		}
	}
	if err := os.RemoveAll(jobdir.PartsDir(r.ResultsDir())); err != nil {
		return moved, err
	}
	if r.Plan.Settings == nil {
		if r.Plan.Settings, err = settings(); err != nil {
			return moved, err
		}
		if err := WritePlan(r.Dir, r.Plan); err != nil {
			return moved, err
		}
	}
	return moved, nil
}
