package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/dogo-sweep/sweep/sweep"
	"github.com/urfave/cli/v2"
)

// usageError is a mistake on the command line or in a grid: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

var errLocked = sweep.ErrLocked

// newApp builds the command line. Each subcommand lives in its own file.
func newApp(logger *slog.Logger, stdout io.Writer) *cli.App {
	app := &cli.App{
		Name:      "sweep",
		Usage:     "run DoGo (Distill on the Go) self-supervised distillation sweeps",
		UsageText: "sweep launch configs/quickstart.yaml\nsweep plan grid.yaml\nsweep status runs/NAME\nsweep report runs/NAME",
		Writer:    stdout,
		ErrWriter: stdout,
		Version:   sweep.Version,
		Commands: []*cli.Command{
			launchCommand(logger),
			planCommand(),
			validateCommand(),
			resumeCommand(logger),
			statusCommand(),
			reportCommand(logger),
			resultsCommand(),
			jobCommand(logger),
			benchStepCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main maps errors to exit codes.
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
	return app
}

// loadGrid reads a grid, reporting a bad one as a usage error.
func loadGrid(path string) (*sweep.Grid, error) {
	g, err := sweep.LoadGrid(path)
	if err != nil {
		var ge sweep.GridErrors
		if errors.As(err, &ge) {
			return nil, usageError{fmt.Errorf("invalid grid:\n%w", err)}
		}
		return nil, usageError{err}
	}
	return g, nil
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Errorf("%s: want one %s argument, got %d (see sweep %s --help)", c.Command.Name, what, c.NArg(), c.Command.Name)}
	}
	return c.Args().First(), nil
}

// gridArg reads and validates the command's one GRID argument.
func gridArg(c *cli.Context) (string, *sweep.Grid, error) {
	path, err := oneArg(c, "GRID")
	if err != nil {
		return "", nil, err
	}
	g, err := loadGrid(path)
	return path, g, err
}

// runArg opens the command's one RUN argument (a run folder).
func runArg(c *cli.Context) (*sweep.Run, error) {
	dir, err := oneArg(c, "RUN")
	if err != nil {
		return nil, err
	}
	r, err := sweep.OpenRun(dir)
	if err != nil {
		return nil, usageError{err}
	}
	return r, nil
}
