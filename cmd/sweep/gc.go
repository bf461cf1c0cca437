package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "free space: remove store entries no sweep refers to (and, with --checkpoints, intermediate checkpoints)",
		Description: `A job in the store is kept while any run folder's plan refers to it; remove a run
folder (rm -r runs/NAME-HASH) and gc frees the jobs only it used, and the damaged entries
moved to quarantine. --checkpoints also removes every checkpoint but the newest (the final
encoders) of finished pretraining jobs. Jobs that a running sweep refers to, or that a
controller has claimed, are never touched. It prints what it would free and asks before
removing anything, unless --yes; once answered, it decides again under the workspace's lock
(which launches take while they record the jobs they use) and removes only what is still
unused.

Examples:
   sweep gc
   sweep gc --checkpoints --yes`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "the workspace"},
			&cli.BoolFlag{Name: "checkpoints", Usage: "also remove intermediate checkpoints of finished pretraining jobs"},
			&cli.BoolFlag{Name: "yes", Usage: "remove without asking"},
		},
		Action: func(c *cli.Context) error {
			root := c.String("runs")
			st := storeOf(root)
			if st == nil {
				fmt.Fprintf(c.App.Writer, "%s has no store: nothing to free\n", root)
				return nil
			}
			plan, err := workspace.PlanGC(root, st, c.Bool("checkpoints"))
			if err != nil {
				return err
			}
			out := c.App.Writer
			plan.Print(out, workspace.BytesText)
			if len(plan.Paths) == 0 {
				return nil
			}
			if !c.Bool("yes") && !confirm(c.App.Reader, out, "remove them?") {
				fmt.Fprintln(out, "nothing removed")
				return nil
			}
			freed, err := workspace.RemoveGC(root, st, plan, c.Bool("checkpoints"))
			fmt.Fprintf(out, "freed %s\n", workspace.BytesText(freed))
			return err
		},
	}
}

func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
