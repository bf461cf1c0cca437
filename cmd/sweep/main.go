// Command sweep runs DoGo (Distill on the Go) self-supervised distillation
// sweeps: it expands a grid file into a plan of pretraining and evaluation
// jobs, runs them locally or on Slurm, and writes Parquet results, Prometheus
// metrics and a markdown report.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app := newApp(logger, os.Stdout)
	err := app.RunContext(ctx, os.Args)
	os.Exit(exitCode(err))
}

// Exit codes scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1 // the sweep ran, but jobs failed, or an internal error
	exitUsage   = 2 // bad command line or invalid grid: nothing was run
	exitBusy    = 3 // another controller holds the run folder
	exitStopped = 130
)

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "sweep:", err)
		return exitUsage
	case errors.Is(err, errLocked):
		fmt.Fprintln(os.Stderr, "sweep:", err)
		return exitBusy
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "sweep: stopped")
		return exitStopped
	}
	fmt.Fprintln(os.Stderr, "sweep:", err)
	return exitFailure
}
