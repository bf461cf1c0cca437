package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"

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
the kNN accuracy) and at the final epoch.

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
				t, err := runTables(r)
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
			t, err := runTables(r)
			if err != nil {
				return err
			}
			sum := results.Summary(t)
			out := c.App.Writer
			switch c.String("format") {
			case "json":
				rows := make([]summaryRow, len(sum))
				for i, s := range sum {
					rows[i] = summaryOf(s)
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "csv":
				w := csv.NewWriter(out)
				_ = w.Write([]string{"job", "kind", "dataset", "objective", "method", "arch", "role", "peer_arch", "noise_rate", "noise_kind", "fraction", "seed", "acc_best_val_pct", "acc_final_pct"})
				for _, s := range sum {
					_ = w.Write([]string{s.Job, string(s.Kind), s.Dataset, s.Objective, s.Method, s.Arch, s.Role, s.PeerArch, ff(s.NoiseRate), s.NoiseKind, ff(s.Fraction), strconv.FormatInt(s.Seed, 10), ff(pct2(s.AccBest)), ff(pct2(s.AccFinal))})
				}
				w.Flush()
				return w.Error()
			case "table":
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "KIND\tDATASET\tMETHOD\tARCH\tROLE\tNOISE\tLABELS\tSEED\tBEST-VAL ACC %\tFINAL ACC %")
				for _, s := range sum {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g%% %s\t%g%%\t%d\t%.2f\t%.2f\n", s.Kind, s.Dataset, s.Method, s.Arch, s.Role, s.NoiseRate*100, s.NoiseKind, s.Fraction*100, s.Seed, 100*s.AccBest, 100*s.AccFinal)
				}
				return tw.Flush()
			}
			return usageError{fmt.Errorf("results: unknown --format %q (table, csv or json)", c.String("format"))}
		},
	}
}

// summaryRow is a summary row as JSON, accuracies in percent.
type summaryRow struct {
	Job       string             `json:"job"`
	Kind      string             `json:"kind"`
	Dataset   string             `json:"dataset"`
	Objective string             `json:"objective"`
	Method    string             `json:"method"`
	Arch      string             `json:"arch"`
	Role      string             `json:"role"`
	PeerArch  string             `json:"peer_arch,omitempty"`
	NoiseRate float64            `json:"noise_rate"`
	NoiseKind string             `json:"noise_kind,omitempty"`
	Fraction  float64            `json:"fraction"`
	Seed      int64              `json:"seed"`
	AccBest   float64            `json:"acc_best_val_pct"`
	AccFinal  float64            `json:"acc_final_pct"`
	OOD       map[string]float64 `json:"ood_acc_best_val_pct,omitempty"`
}

func summaryOf(s results.SummaryRow) summaryRow {
	r := summaryRow{Job: s.Job, Kind: string(s.Kind), Dataset: s.Dataset, Objective: s.Objective, Method: s.Method, Arch: s.Arch, Role: s.Role,
		PeerArch: s.PeerArch, NoiseRate: s.NoiseRate, NoiseKind: s.NoiseKind, Fraction: s.Fraction, Seed: s.Seed, AccBest: pct2(s.AccBest), AccFinal: pct2(s.AccFinal)}
	if len(s.OOD) > 0 {
		r.OOD = map[string]float64{}
		for k, v := range s.OOD {
			r.OOD[k] = pct2(v)
		}
	}
	return r
}

// pct2 is a fraction in percent, to 0.01.
func pct2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(100*f, 'f', 2, 64), 64)
	return v
}

func ff(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
