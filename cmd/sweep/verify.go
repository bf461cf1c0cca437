package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check store entries against their manifests, every byte (hashes of checkpoints and features too)",
		ArgsUsage: "[RUN...]",
		Description: `Every launch checks the entries it reuses against their manifests (done.json): each
file's size, and the hash of each file up to 1 MiB; the job that reads a checkpoint or a
features file checks its hash first. verify checks every file's hash of the entries that
the run folders use (or, with --all, of every entry in the workspace's store), and says
how much it read and how fast. A damaged entry is listed with what is wrong; with
--quarantine it is moved to the store's quarantine, and the next launch runs its job again.

Exit codes: 0 every entry is healthy; 1 some are damaged.

Examples:
   sweep verify --all
   sweep verify runs/quickstart-1a2b3c4d
   sweep verify --all --quarantine`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "the workspace (with --all)"},
			&cli.BoolFlag{Name: "all", Usage: "every entry in the store, not only those of the given run folders"},
			&cli.BoolFlag{Name: "quarantine", Usage: "move damaged entries to the quarantine, so that their jobs run again"},
		},
		Action: func(c *cli.Context) error {
			st, ids, err := entriesToVerify(c)
			if err != nil {
				return err
			}
			damaged, err := st.VerifyReport(c.Context, c.App.Writer, ids, runtime.NumCPU(), c.Bool("quarantine"))
			if err != nil {
				return err
			}
			if damaged > 0 {
				return fmt.Errorf("%d damaged store entries", damaged)
			}
			return nil
		},
	}
}

// entriesToVerify are the store entries of the given run folders, or of
// the whole store with --all.
func entriesToVerify(c *cli.Context) (*workspace.Store, []string, error) {
	if c.Bool("all") {
		st := storeOf(c.String("runs"))
		if st == nil {
			return nil, nil, usageError{fmt.Errorf("verify: %s has no store", c.String("runs"))}
		}
		ids, err := st.Entries()
		return st, ids, err
	}
	if c.NArg() == 0 {
		return nil, nil, usageError{errors.New("verify: give run folders, or --all for the whole store")}
	}
	var st *workspace.Store
	var ids []string
	for _, d := range c.Args().Slice() {
		r, err := openRunArg(c, d)
		if err != nil {
			return nil, nil, err
		}
		st = r.Store
		for _, j := range r.Plan.Jobs {
			if _, err := os.Stat(st.EntryDir(j.ID)); err == nil {
				ids = append(ids, j.ID)
			}
		}
	}
	return st, ids, nil
}
