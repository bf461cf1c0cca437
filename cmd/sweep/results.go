package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/urfave/cli/v2"
)

func resultsCommand() *cli.Command {
	return &cli.Command{
		Name:      "results",
		Usage:     "print a run's summary (one row per evaluation), or compact its Parquet files",
		ArgsUsage: "RUN",
		Description: `Examples:
   sweep results runs/quickstart-1a2b3c4d
   sweep results --format csv runs/quickstart-1a2b3c4d > summary.csv
   sweep results compact runs/quickstart-1a2b3c4d`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"}},
		Subcommands: []*cli.Command{{
			Name:      "compact",
			Usage:     "merge the per-job Parquet parts into RUN/results/{jobs,metrics}.parquet",
			ArgsUsage: "RUN",
			Action: func(c *cli.Context) error {
				dir, err := oneArg(c, "RUN")
				if err != nil {
					return err
				}
				t, err := results.Compact(filepath.Join(dir, "results"))
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%d job rows, %d metric rows\n", len(t.Jobs), len(t.Metrics))
				return nil
			},
		}},
		Action: func(c *cli.Context) error {
			dir, err := oneArg(c, "RUN")
			if err != nil {
				return err
			}
			t, err := results.Read(filepath.Join(dir, "results"))
			if err != nil {
				return err
			}
			sum := results.Summary(t)
			out := c.App.Writer
			switch c.String("format") {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			case "csv":
				w := csv.NewWriter(out)
				_ = w.Write([]string{"job", "kind", "dataset", "objective", "method", "arch", "role", "peer_arch", "noise_rate", "noise_kind", "fraction", "seed", "acc_best_val", "acc_final"})
				for _, s := range sum {
					_ = w.Write([]string{s.Job, string(s.Kind), s.Dataset, s.Objective, s.Method, s.Arch, s.Role, s.PeerArch, ff(s.NoiseRate), s.NoiseKind, ff(s.Fraction), strconv.FormatInt(s.Seed, 10), ff(s.AccBest), ff(s.AccFinal)})
				}
				w.Flush()
				return w.Error()
			case "table":
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "KIND\tDATASET\tMETHOD\tARCH\tROLE\tNOISE\tFRACTION\tSEED\tBEST-VAL ACC\tFINAL ACC")
				for _, s := range sum {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g %s\t%g\t%d\t%.4f\t%.4f\n", s.Kind, s.Dataset, s.Method, s.Arch, s.Role, s.NoiseRate, s.NoiseKind, s.Fraction, s.Seed, s.AccBest, s.AccFinal)
				}
				return tw.Flush()
			}
			return usageError{fmt.Errorf("results: unknown --format %q (table, csv or json)", c.String("format"))}
		},
	}
}

func ff(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
