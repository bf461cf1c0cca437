package launch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/slurm"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// CheckData says which of a grid's data sets are missing or damaged in
// src.Dir ("": the system's folders): the files, the folders searched, the
// problem and how to get them. src.Cache is the workspace's copies of
// decompressed files (Store.DataCache), which the check reads where they
// are. (Under Slurm the controller checks its own view of the data
// folder, which is the nodes' on a shared file system.)
func CheckData(g *grid.Grid, src data.Source) error {
	var problems []string
	for _, d := range g.DataSets() {
		if err := src.Check(d); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("data not ready:\n  %s", strings.Join(problems, "\n  "))
}

// CheckExecutor refuses what an executor cannot run: for Slurm, settings
// that sbatch --test-only rejects (an unknown partition, an impossible GPU
// count), with sbatch's own words.
func CheckExecutor(kind string, g *grid.Grid, p *job.Plan) error {
	switch kind {
	case "local":
		return nil
	case "slurm":
		return slurm.CheckPlan(g.Slurm, p)
	}
	return fmt.Errorf("unknown executor %q (local or slurm)", kind)
}

// WriteSummary prints how a launch went: jobs done, run now and reused,
// failed, skipped and not run, the failures, and where the report is.
func WriteSummary(out io.Writer, r *workspace.Run, s controller.Summary, d time.Duration) {
	fmt.Fprintf(out, "\n%d jobs done (%d run now, %d reused from the store), %d failed, %d skipped, %d not run; %s\n",
		s.Done, s.Done-s.Reused, s.Reused, s.Failed, s.Skipped, s.Pending, d.Round(time.Second))
	for _, f := range s.Failures {
		fmt.Fprintf(out, "  failed: %s: %s\n", f.Job.Name, job.FirstLine(f.Error))
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "report.md")); err == nil {
		fmt.Fprintf(out, "report:  %s\nresults: %s\n", filepath.Join(r.Dir, "report.md"), filepath.Join(r.ResultsDir(), "{jobs,metrics}.parquet"))
	}
}
