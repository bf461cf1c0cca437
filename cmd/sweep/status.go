package main

import (
	"fmt"
	"time"

	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run's jobs by state, running jobs' progress, an ETA, and failures with their last log lines",
		ArgsUsage: "RUN",
		Description: `Reads the run folder only: it works while the sweep runs, after it ended, or after a crash.

Examples:
   sweep status runs/quickstart-1a2b3c4d`,
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			h, err := workspace.ReadJournal(r.Dir)
			if err != nil {
				return err
			}
			if h.Skipped > 0 {
				fmt.Fprintf(c.App.Writer, "(%d journal lines could not be read and were skipped)\n", h.Skipped)
			}
			r.Status(h).Write(c.App.Writer, r.Dir, time.Now())
			workspace.WriteDecisions(c.App.Writer, h.LastDecisions())
			for _, w := range h.Warnings {
				name := w.Job
				if j := r.Plan.Job(w.Job); j != nil {
					name = j.Name
				}
				if w.Quarantine != "" {
					fmt.Fprintf(c.App.Writer, "quarantined: %s: %s; moved to %s (the job ran again)\n", name, w.Warning, w.Quarantine)
					continue
				}
				fmt.Fprintf(c.App.Writer, "warning: %s (attempt %d): %s\n", name, w.Attempt, w.Warning)
			}
			return nil
		},
	}
}
