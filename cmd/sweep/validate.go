package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check grid files and print every mistake with file:line:column; runs nothing",
		ArgsUsage: "GRID...",
		Description: `Prints every mistake of each file, in line order, each with its position, key
and a fix. A grid that may plan more jobs than --max-jobs is refused before it is expanded.
Exit code 0 when every grid is valid, 2 when any is not.

Examples:
   sweep validate configs/*.yaml`,
		Flags: []cli.Flag{maxJobsFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError{fmt.Errorf("validate: want one or more GRID arguments")}
			}
			var invalid, large int
			for _, path := range c.Args().Slice() {
				g, err := loadGrid(c, path)
				if errors.Is(err, context.Canceled) {
					return err
				}
				var size *grid.SizeError
				switch {
				case errors.As(err, &size):
					fmt.Fprintln(c.App.Writer, err)
					large++
					continue
				case err != nil:
					fmt.Fprintln(c.App.Writer, err)
					invalid++
					continue
				}
				p, err := grid.NewPlanContext(c.Context, g, nil)
				if err != nil {
					return err
				}
				if err := printValid(c, path, g, p); err != nil {
					return err
				}
			}
			switch {
			case invalid > 0:
				return usageError{fmt.Errorf("validate: %d of %d grids are invalid", invalid, c.NArg())}
			case large > 0:
				return usageError{fmt.Errorf("validate: %d of %d grids plan more jobs than --max-jobs allows", large, c.NArg())}
			}
			return nil
		},
	}
}

// printValid says that a grid is valid, and how many jobs it plans (a
// sequential grid: with min seeds per cell, and at most with max).
func printValid(c *cli.Context, path string, g *grid.Grid, p *job.Plan) error {
	if g.Sequential == nil {
		fmt.Fprintf(c.App.Writer, "%s: ok (%d grid points, %d jobs)\n", path, p.Stats.Points, p.Stats.Jobs)
		return nil
	}
	seeds := map[grid.Cell]int{}
	for _, cell := range g.Cells() {
		seeds[cell] = g.Sequential.Max
	}
	most, err := grid.NewPlanContext(c.Context, g.Round(seeds), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: ok (sequential seeds: %d jobs with %d seeds per cell, up to %d with %d)\n", path, p.Stats.Jobs, g.Sequential.Min, most.Stats.Jobs, g.Sequential.Max)
	return nil
}
