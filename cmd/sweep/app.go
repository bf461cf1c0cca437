package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/dogo-sweep/dogo-sweep/worker"
	"github.com/urfave/cli/v2"
)

// usageError is a mistake on the command line or in a grid: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// jobHooks is how `sweep job run` runs a job: the real dispatch in the
// released binary; the controller's tests put fake jobs in its place. The
// released binary reads no environment variable to change them.
type jobHooks struct {
	dispatch worker.Dispatcher
	// skipDataCheck: the fake jobs of tests read no data.
	skipDataCheck bool
	// childEnv is added to the environment of the job processes (tests:
	// what makes the test binary act as sweep).
	childEnv []string
}

// newApp builds the command line. Each subcommand lives in its own file.
func newApp(logger *slog.Logger, stdout io.Writer, hooks jobHooks) *cli.App {
	app := &cli.App{
		Name:      "sweep",
		Usage:     "run DoGo (Distill on the Go) self-supervised distillation sweeps",
		UsageText: "sweep launch configs/quickstart.yaml\nsweep plan grid.yaml\nsweep status runs/NAME\nsweep report runs/NAME",
		Writer:    stdout,
		ErrWriter: stdout,
		Version:   job.Version,
		Commands: []*cli.Command{
			launchCommand(logger, hooks),
			planCommand(),
			validateCommand(),
			resumeCommand(logger, hooks),
			statusCommand(),
			reportCommand(logger),
			resultsCommand(),
			runsCommand(),
			gcCommand(),
			verifyCommand(),
			migrateCommand(),
			jobCommand(hooks),
			benchStepCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main maps errors to exit codes.
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
	return app
}

// maxJobsFlag lifts the limit of jobs a grid may plan.
func maxJobsFlag() cli.Flag {
	return &cli.IntFlag{Name: "max-jobs", Value: grid.DefaultMaxJobs, Usage: "refuse a grid that may plan more jobs than this, before expanding it"}
}

// loadGrid reads a grid (within the command's --max-jobs, stopped by
// Ctrl-C), reporting a bad one as a usage error.
func loadGrid(c *cli.Context, path string) (*grid.Grid, error) {
	type loaded struct {
		g   *grid.Grid
		err error
	}
	// Reading a large file is not interruptible (the YAML parser takes no
	// context): it runs apart, so that Ctrl-C returns at once and the
	// process exits without waiting for it.
	done := make(chan loaded, 1)
	go func() {
		g, err := grid.LoadContext(c.Context, path, grid.Options{MaxJobs: c.Int("max-jobs")})
		done <- loaded{g, err}
	}()
	var g *grid.Grid
	var err error
	select {
	case l := <-done:
		g, err = l.g, l.err
	case <-c.Context.Done():
		return nil, c.Context.Err()
	}
	var ge grid.Errors
	switch {
	case err == nil:
		return g, nil
	case errors.Is(err, context.Canceled):
		return nil, err
	case errors.As(err, &ge):
		return nil, usageError{fmt.Errorf("invalid grid:\n%w", err)}
	}
	return nil, usageError{err}
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Errorf("%s: want one %s argument, got %d (see sweep %s --help)", c.Command.Name, what, c.NArg(), c.Command.Name)}
	}
	return c.Args().First(), nil
}

// gridArg reads and validates the command's one GRID argument.
func gridArg(c *cli.Context) (string, *grid.Grid, error) {
	path, err := oneArg(c, "GRID")
	if err != nil {
		return "", nil, err
	}
	g, err := loadGrid(c, path)
	return path, g, err
}

// runArg opens the command's one RUN argument: a run folder, or a sweep's
// name as `sweep runs` prints it (a run folder of --runs, default runs/).
func runArg(c *cli.Context) (*workspace.Run, error) {
	dir, err := oneArg(c, "RUN")
	if err != nil {
		return nil, err
	}
	return openRunArg(c, dir)
}

func openRunArg(c *cli.Context, dir string) (*workspace.Run, error) {
	if _, err := os.Stat(filepath.Join(dir, "plan.json")); err != nil {
		inRuns := filepath.Join(cmp.Or(c.String("runs"), "runs"), dir)
		if _, err2 := os.Stat(filepath.Join(inRuns, "plan.json")); err2 != nil || filepath.Base(dir) != dir {
			return nil, usageError{fmt.Errorf("open run %s: %w (give a run folder made by sweep launch, or a name that sweep runs lists)", dir, err)}
		}
		dir = inRuns
	}
	return openRun(dir, c.App.ErrWriter)
}
