package main

import (
	"cmp"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

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

func printRuns(out io.Writer, dirs []string) error {
	type row struct {
		workspace.RunSummary
		headline string
	}
	var rows []row
	for _, d := range dirs {
		r, err := openRun(d, out)
		if err != nil {
			return err
		}
		rw := row{RunSummary: r.Summary()}
		if t, err := r.Tables(); err == nil {
			rw.headline = reports.Headline(t)
		}
		rows = append(rows, rw)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Created.Before(rows[j].Created) })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SWEEP\tCREATED\tJOBS\tDONE\tFAILED\tPENDING\tWALL\tHEADLINE (DoGo - solo, points)")
	for _, r := range rows {
		state := ""
		if r.Running {
			state = " (running)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Name, state, r.Created.Local().Format("2006-01-02 15:04"), r.Jobs, r.Done, r.Failed,
			r.Jobs-r.Done-r.Failed, r.Wall.Round(time.Second), cmp.Or(r.headline, "-"))
	}
	return tw.Flush()
}
