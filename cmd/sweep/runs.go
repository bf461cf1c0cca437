package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/reports"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func runsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list the workspace's sweeps: jobs done, failed and pending, wall time, and the headline DoGo-minus-solo figure",
		Description: `Each sweep is a run folder under --runs; its jobs live in the workspace's store,
shared with the other sweeps. DONE counts the jobs the store holds (run by this sweep or
reused); HEADLINE is the small peer with a larger peer against the same architecture solo,
linear probe with all labels, DoGo minus solo in points with its 95% interval.

Examples:
   sweep runs
   sweep runs --runs /scratch/sweeps`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "runs", Value: "runs", Usage: "the workspace"}},
		Action: func(c *cli.Context) error {
			dirs, err := workspace.RunFolders(c.String("runs"))
			if err != nil {
				return err
			}
			return printRuns(c.App.Writer, dirs)
		},
	}
}

// runRow is one line of `sweep runs`.
type runRow struct {
	name               string
	created            time.Time
	jobs, done, failed int
	wall               time.Duration
	headline, state    string
}

func printRuns(out io.Writer, dirs []string) error {
	var rows []runRow
	for _, d := range dirs {
		r, err := openRun(d, out)
		if err != nil {
			return err
		}
		rows = append(rows, summarizeRun(r))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].created.Before(rows[j].created) })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SWEEP\tCREATED\tJOBS\tDONE\tFAILED\tPENDING\tWALL\tHEADLINE (DoGo - solo, points)")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.name, r.state, r.created.Local().Format("2006-01-02 15:04"), r.jobs, r.done, r.failed,
			r.jobs-r.done-r.failed, r.wall.Round(time.Second), orDash(r.headline))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summarizeRun counts a run's jobs (done: the store holds them), its wall
// time (from the journal), and its headline.
func summarizeRun(r *workspace.Run) runRow {
	row := runRow{name: filepath.Base(r.Dir), jobs: len(r.Plan.Jobs)}
	if r.Locked() {
		row.state = " (running)"
	}
	if st, err := os.Stat(filepath.Join(r.Dir, "plan.json")); err == nil {
		row.created = st.ModTime()
	}
	h, _ := workspace.ReadJournal(r.Dir)
	for _, j := range r.Plan.Jobs {
		s := h.States[j.ID]
		switch {
		case r.Store.Finished(j.ID):
			row.done++
		case s != nil && s.State == job.StateGaveUp:
			row.failed++
		}
	}
	if first, last := r.Span(h); !first.IsZero() {
		row.wall = last.Sub(first)
		row.created = first
	}
	if t, err := r.Tables(); err == nil {
		row.headline = reports.Headline(t)
	}
	return row
}
