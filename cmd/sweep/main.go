// Command sweep runs DoGo (Distill on the Go) self-supervised distillation
// sweeps: it expands a grid file into a plan of pretraining and evaluation
// jobs, runs them locally in child processes (or on Slurm), and writes
// Parquet results, Prometheus metrics and a markdown report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/dogo-sweep/dogo-sweep/worker"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr, jobHooks{dispatch: worker.Dispatch}))
}

// run is main without the exit: the CLI with its signals, logger and exit code.
func run(args []string, stdout, stderr io.Writer, hooks jobHooks) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	app := newApp(logger, stdout, hooks)
	args = reorderArgs(app, args)
	if len(args) > 1 && !slices.Contains([]string{"launch", "resume", "job"}, args[1]) {
		returned := make(chan struct{})
		defer close(returned) // before stop (deferred earlier) cancels ctx
		go stopSoon(ctx, returned, stderr)
	}
	err := app.RunContext(ctx, args)
	return exitCode(err, stderr)
}

// stopSoon ends the process half a second after Ctrl-C or SIGTERM, should
// the command not have returned by then. Every command but those that run
// jobs (which stop them gracefully) returns at once when asked to stop;
// this is the guarantee that it does within a second whatever it was doing
// (a large grid's expansion, whose garbage collection can hold the
// returning goroutine on a loaded machine). A command that returned (and
// then cancelled ctx) is left alone: run may be called in-process.
func stopSoon(ctx context.Context, returned <-chan struct{}, stderr io.Writer) {
	// Everything is allocated before the signal: a goroutine that allocates
	// during a large expansion is made to help the garbage collector first.
	timer := time.NewTimer(time.Hour)
	msg := []byte("sweep: stopped\n")
	select {
	case <-returned:
		return
	case <-ctx.Done():
	}
	timer.Reset(500 * time.Millisecond)
	select {
	case <-returned:
	case <-timer.C:
		_, _ = stderr.Write(msg)
		os.Exit(exitStopped)
	}
}

func logLevel() slog.Level {
	if os.Getenv("SWEEP_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1 // the sweep ran, but jobs failed, or an internal error
	exitUsage    = 2 // bad command line or invalid grid: nothing was run
	exitBusy     = 3 // another controller holds the run folder
	exitDiskFull = 4 // the disk (or quota) is full: make room and relaunch to resume
	exitStopped  = 130
)

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "sweep:", err)
		return exitUsage
	case errors.Is(err, workspace.ErrLocked):
		fmt.Fprintln(stderr, "sweep:", err)
		return exitBusy
	case controller.IsDiskFull(err):
		fmt.Fprintln(stderr, "sweep:", err)
		return exitDiskFull
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "sweep: stopped; run the same command again to resume")
		return exitStopped
	}
	fmt.Fprintln(stderr, "sweep:", err)
	return exitFailure
}
