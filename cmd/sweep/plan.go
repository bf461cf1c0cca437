package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "expand a grid into its job graph and say what the store already holds; runs nothing",
		ArgsUsage: "GRID",
		Description: `Prints the counts (grid points, pretraining, feature and evaluation jobs, and the
jobs saved because several grid points share them), how many jobs of each kind are new and
how many the workspace's store holds already (and from which sweep), and the job table.
With --why JOB, explains why a job is not in the store: the closest stored job of its kind
and the settings that differ.

Examples:
   sweep plan configs/quickstart.yaml
   sweep plan configs/quickstart.yaml --why 4d345c817764
   sweep plan --format json configs/quickstart.yaml | jq '.stats'
   sweep plan --show-defaults`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "show-defaults", Usage: "print the default value of every grid key, as YAML, and exit"},
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "the workspace whose store is compared with the plan"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"SWEEP_DATA_DIR"}, Usage: "folder with the data sets (as for launch: their files are part of the job IDs)"},
			&cli.StringFlag{Name: "why", Usage: "explain why the job with this `ID` (or name) is not in the store"},
			maxJobsFlag(),
		},
		Action: func(c *cli.Context) error {
			out := c.App.Writer
			if c.Bool("show-defaults") {
				var buf bytes.Buffer
				enc := yaml.NewEncoder(&buf)
				enc.SetIndent(2)
				if err := enc.Encode(grid.Default()); err != nil {
					return err
				}
				b := buf.Bytes()
				// No views set is the method's, which depend on the data set.
				b = bytes.Replace(b, []byte("  views: null\n"), []byte("  views: {} # the method's for each data set; keys: min_scale, noise, jitter\n"), 1)
				_, err := out.Write(b)
				return err
			}
			_, g, err := gridArg(c)
			if err != nil {
				return err
			}
			p, missing, err := planFor(c.Context, g, workspace.OpenDataIDs(c.String("runs")), c.String("data-dir"))
			if err != nil {
				return err
			}
			st := storeOf(c.String("runs"))
			if id := c.String("why"); id != "" {
				return explainMiss(out, p, st, id)
			}
			switch c.String("format") {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			case "table":
				if len(missing) > 0 {
					fmt.Fprintf(out, "(data sets not found: %s; the IDs of their jobs are provisional)\n", strings.Join(missing, ", "))
				}
				return printPlan(out, p, st)
			default:
				return usageError{fmt.Errorf("plan: unknown --format %q (want table or json)", c.String("format"))}
			}
		},
	}
}

// storeOf opens a workspace's store to read it, or returns nil when the
// workspace does not exist (nothing is stored, nothing is created).
func storeOf(runs string) *workspace.Store {
	if _, err := os.Stat(filepath.Join(runs, "store")); err != nil {
		return nil
	}
	st, err := workspace.OpenStore(runs, "")
	if err != nil {
		return nil
	}
	return st
}

func printPlan(out io.Writer, p *job.Plan, st *workspace.Store) error {
	s := p.Stats
	fmt.Fprintf(out, "sweep %s: %d grid points -> %d jobs (%d pretraining, %d feature extraction, %d evaluation); %d jobs saved by sharing\n",
		p.Name, s.Points, s.Jobs, s.Pretrain, s.Features, s.Eval, s.Saved)
	stored := st.Holds(p) // nil store: holds nothing
	have := map[string]string{}
	others, n := map[string]int{}, 0
	this := jobdir.CurrentBuild().Code()
	for id, m := range stored {
		have[id] = cmp.Or(m.Origin.Sweep, "?")
		if b := m.Build.Code(); b != this {
			others[b]++
			n++
		}
	}
	fmt.Fprintf(out, "%d jobs to run, %d in the store already\n", len(p.Jobs)-len(have), len(have))
	if n > 0 {
		var parts []string
		for _, b := range slices.Sorted(maps.Keys(others)) {
			parts = append(parts, fmt.Sprintf("%d by %s", others[b], b))
		}
		fmt.Fprintf(out, "%d of the stored jobs were made by another build than this one (%s): %s\n", n, this, strings.Join(parts, ", "))
	}
	for _, kc := range p.KindCounts() {
		from := map[string]int{}
		n := 0
		for _, j := range p.Jobs {
			if sweep, ok := have[j.ID]; ok && j.Spec.Kind == kc.Kind {
				from[sweep]++
				n++
			}
		}
		line := fmt.Sprintf("  %-9s %4d new", kc.Kind, kc.N-n)
		if n > 0 {
			var parts []string
			for _, sw := range slices.Sorted(maps.Keys(from)) {
				parts = append(parts, fmt.Sprintf("%d from %s", from[sw], sw))
			}
			line += fmt.Sprintf(", %4d stored (%s)", n, strings.Join(parts, ", "))
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDATASET\tMETHOD\tENCODER\tSEED\tLABELS\tDEPENDS ON\tSTORE")
	for _, j := range p.Jobs {
		sp := j.Spec
		enc := sp.ArchLabel()
		if sp.Role == job.RoleSmall || sp.Role == job.RoleLarge {
			enc += " (" + sp.Role + ", with " + sp.PeerArch + ")"
		}
		if enc == "" {
			enc = "-"
		}
		deps := "-"
		if len(j.Deps) > 0 {
			deps = j.Deps[0]
		}
		where := "new"
		if sw, ok := have[j.ID]; ok {
			where = "from " + sw
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, sp.Kind, sp.Dataset, sp.Method, enc, sp.Seed, sp.LabelsText(), deps, where)
	}
	return tw.Flush()
}
