package main

import (
	"os"

	"github.com/dogo-sweep/dogo-sweep/worker"
	"github.com/urfave/cli/v2"
)

func jobCommand(hooks jobHooks) *cli.Command {
	return &cli.Command{
		Name:   "job",
		Usage:  "run one job attempt (the controller starts these as child processes)",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:      "run",
			Usage:     "run the job attempt whose task is in FOLDER; records go to stdout and FOLDER/records.jsonl",
			ArgsUsage: "FOLDER",
			Action: func(c *cli.Context) error {
				dir, err := oneArg(c, "FOLDER")
				if err != nil {
					return err
				}
				return worker.Run(c.Context, dir, hooks.dispatch, os.Stdout)
			},
		}},
	}
}
