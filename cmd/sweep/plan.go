package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/goccy/go-yaml"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "expand a grid into its job graph and print it; runs nothing",
		ArgsUsage: "GRID",
		Description: `Prints the counts (grid points, pretraining, feature and evaluation jobs, and the
jobs saved because several grid points share them) and the job table.

Examples:
   sweep plan configs/quickstart.yaml
   sweep plan --format json configs/quickstart.yaml | jq '.stats'
   sweep plan --show-defaults`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "show-defaults", Usage: "print the default value of every grid key, as YAML, and exit"},
		},
		Action: func(c *cli.Context) error {
			out := c.App.Writer
			if c.Bool("show-defaults") {
				b, err := yaml.Marshal(grid.Default())
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			_, g, err := gridArg(c)
			if err != nil {
				return err
			}
			p := grid.NewPlan(g)
			switch c.String("format") {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			case "table":
				return printPlan(out, p)
			default:
				return usageError{fmt.Errorf("plan: unknown --format %q (want table or json)", c.String("format"))}
			}
		},
	}
}

func printPlan(out io.Writer, p *job.Plan) error {
	s := p.Stats
	fmt.Fprintf(out, "sweep %s: %d grid points -> %d jobs (%d pretraining, %d feature extraction, %d evaluation); %d jobs saved by sharing\n\n",
		p.Name, s.Points, s.Jobs, s.Pretrain, s.Features, s.Eval, s.Saved)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDATASET\tMETHOD\tENCODER\tSEED\tLABELS\tDEPENDS ON")
	for _, j := range p.Jobs {
		sp := j.Spec
		enc := sp.Arch
		if sp.Kind == job.KindPretrain {
			enc = joinArchs(sp.Archs)
		} else if sp.Role == job.RoleSmall || sp.Role == job.RoleLarge {
			enc += " (" + sp.Role + ", with " + sp.PeerArch + ")"
		}
		if enc == "" {
			enc = "-"
		}
		labels := "-"
		switch sp.Kind {
		case job.KindLinear, job.KindKNN:
			labels = "all"
		case job.KindFraction:
			labels = fmt.Sprintf("%g%%", sp.Fraction*100)
		case job.KindNoise:
			labels = fmt.Sprintf("%g%% %s noise", sp.NoiseRate*100, sp.NoiseKind)
			if sp.Fraction < 1 {
				labels += fmt.Sprintf(", %g%%", sp.Fraction*100)
			}
		}
		deps := "-"
		if len(j.Deps) > 0 {
			deps = j.Deps[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, sp.Kind, sp.Dataset, sp.Method, enc, sp.Seed, labels, deps)
	}
	return tw.Flush()
}

func joinArchs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += "+"
		}
		s += x
	}
	return s
}
