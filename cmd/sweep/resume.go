package main

import (
	"log/slog"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/urfave/cli/v2"
)

func resumeCommand(logger *slog.Logger, hooks jobHooks) *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue an interrupted run folder",
		ArgsUsage: "RUN",
		Description: `Examples:
   sweep resume runs/quickstart-1a2b3c4d`,
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			if planned := job.RevisionsText(r.Plan.Revisions); planned != job.RevisionsText(job.Revisions) {
				logger.Warn("this run was planned by a sweep whose code computes differently: its unfinished jobs will be run by this version, and their results mixed with the finished ones; for comparable results launch the grid again (a new run folder)",
					"run", r.Dir, "planned_revisions", planned, "these_revisions", job.RevisionsText(job.Revisions))
			}
			g, err := loadGrid(c, filepath.Join(r.Dir, "grid.yaml"))
			if err != nil {
				return err
			}
			if err := checkExecutor(c, g, r.Plan); err != nil {
				return err
			}
			if err := checkData(c, g, hooks, filepath.Dir(r.Dir)); err != nil {
				return err
			}
			if err := r.Lock(); err != nil {
				return err
			}
			defer r.Unlock()
			return execute(c, logger, hooks, r, g)
		},
	}
}
