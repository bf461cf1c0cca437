package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/reports"
	"github.com/dogo-sweep/dogo-sweep/sweep/launch"
	"github.com/urfave/cli/v2"
)

func reportCommand(logger *slog.Logger) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "write RUN/report.md from the run's Parquet results (partial runs too)",
		ArgsUsage: "RUN",
		Description: `Examples:
   sweep report runs/quickstart-1a2b3c4d`,
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			t, err := r.Tables()
			if err != nil {
				return err
			}
			if err := reports.Write(r.Dir, r.Plan, t, launch.ReportOptions(logger, r)); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, filepath.Join(r.Dir, "report.md"))
			return nil
		},
	}
}
