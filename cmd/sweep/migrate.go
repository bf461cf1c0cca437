package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "move run folders made by an earlier release into the workspace layout (their jobs into the store)",
		ArgsUsage: "RUN...",
		Description: `Every command that opens a run folder does this on its own; migrate does it for
many at once. Finished jobs become store entries, unfinished ones resume from their
checkpoints, and each attempt's result rows move into its job's folder. The jobs keep their
IDs (made before job IDs covered the data files), so later sweeps do not reuse them.

Examples:
   sweep migrate runs/*/`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError{fmt.Errorf("migrate: want one or more RUN arguments")}
			}
			for _, d := range c.Args().Slice() {
				r, err := openRunArg(c, d)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: in the workspace layout (%d jobs)\n", r.Dir, len(r.Plan.Jobs))
			}
			return nil
		},
	}
}
