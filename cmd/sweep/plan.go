package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
				return writeDefaults(out)
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
				return workspace.WritePlanTable(out, p, st)
			default:
				return usageError{fmt.Errorf("plan: unknown --format %q (want table or json)", c.String("format"))}
			}
		},
	}
}

// writeDefaults prints every grid key's default, as YAML.
func writeDefaults(out io.Writer) error {
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
