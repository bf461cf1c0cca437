package main

import (
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check grid files and print every mistake with file:line:column; runs nothing",
		ArgsUsage: "GRID...",
		Description: `Exit code 0 when every grid is valid, 2 when any is not.

Examples:
   sweep validate configs/*.yaml`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError{fmt.Errorf("validate: want one or more GRID arguments")}
			}
			var bad error
			for _, path := range c.Args().Slice() {
				g, err := loadGrid(path)
				if err != nil {
					fmt.Fprintln(c.App.Writer, err)
					bad = err
					continue
				}
				p := grid.NewPlan(g, nil)
				fmt.Fprintf(c.App.Writer, "%s: ok (%d grid points, %d jobs)\n", path, p.Stats.Points, p.Stats.Jobs)
			}
			if bad != nil {
				return usageError{fmt.Errorf("validate: invalid grid")}
			}
			return nil
		},
	}
}
