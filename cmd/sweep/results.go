package main

import (
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/urfave/cli/v2"
)

func resultsCommand() *cli.Command {
	return &cli.Command{
		Name:      "results",
		Usage:     "print a run's summary (one row per evaluation, accuracies in percent), or rewrite its Parquet tables",
		ArgsUsage: "RUN",
		Description: `Reads the results of the run's jobs from the store (jobs reused from other sweeps
included). Accuracies are test accuracies in percent: at the best-validation epoch (kNN:
the kNN accuracy), at the final epoch, and the one the report uses (the best-validation
epoch's, or the final one's when the validation split is too small to choose by); the CSV
and the JSON also hold each OOD set's accuracy.

Examples:
   sweep results runs/quickstart-1a2b3c4d
   sweep results runs/quickstart-1a2b3c4d --format csv > summary.csv
   sweep results compact runs/quickstart-1a2b3c4d`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"}},
		Subcommands: []*cli.Command{{
			Name:      "compact",
			Usage:     "rewrite RUN/results/{jobs,metrics}.parquet from the run's jobs in the store",
			ArgsUsage: "RUN",
			Action: func(c *cli.Context) error {
				r, err := runArg(c)
				if err != nil {
					return err
				}
				t, err := r.Tables()
				if err != nil {
					return err
				}
				if err := results.Write(r.ResultsDir(), t); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%d job rows, %d metric rows\n", len(t.Jobs), len(t.Metrics))
				return nil
			},
		}},
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			t, err := r.Tables()
			if err != nil {
				return err
			}
			if err := results.WriteSummary(c.App.Writer, results.Summary(t), c.String("format")); err != nil {
				return usageError{fmt.Errorf("results: %w", err)}
			}
			return nil
		},
	}
}
