package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/launch"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", EnvVars: []string{"SWEEP_DATA_DIR"}, Usage: "folder with the data sets, one sub-folder each (`DIR`/fashion-mnist, ...); only this folder is read when given (default: /usr/share/datasets, then /usr/local/share/datasets)"},
		&cli.IntFlag{Name: "cpus", Usage: "CPU cores to use (0: all)"},
		&cli.IntFlag{Name: "gpus", Value: -1, Usage: "GPUs to use (-1: those nvidia-smi or CUDA_VISIBLE_DEVICES show)"},
		&cli.Float64Flag{Name: "memory-gb", Usage: "memory jobs may use together, counted against resources.memory_gb (0: MemAvailable)"},
		&cli.IntFlag{Name: "max-parallel", Usage: "cap on jobs running at once (0: from the grid, else resources decide)"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics at `ADDR` (\"off\" disables; unset: from the grid)"},
		&cli.DurationFlag{Name: "timeout", Usage: "per-job wall-clock limit (0: none)"},
		&cli.DurationFlag{Name: "heartbeat", Value: 10 * time.Minute, Usage: "kill a job that reports nothing for this long"},
		&cli.DurationFlag{Name: "backoff", Value: 2 * time.Second, Usage: "wait before the first retry (doubles each time)"},
		&cli.DurationFlag{Name: "linger", Usage: "keep serving /metrics this long after the sweep ends, so that Prometheus scrapes the final state"},
		&cli.StringFlag{Name: "pushgateway", Usage: "push a final summary of the metrics to this Pushgateway `URL` when the sweep ends"},
		&cli.StringFlag{Name: "executor", Usage: "local or slurm (unset: from the grid)"},
		&cli.DurationFlag{Name: "stop-grace", Value: 30 * time.Second, Usage: "on Ctrl-C, how long running jobs have to checkpoint before they are killed"},
		&cli.DurationFlag{Name: "claim-stale", Value: 2 * time.Minute, Usage: "how old the heartbeat of another controller's claim on a job may be before this one takes the job over (raise it for a slow shared file system)"},
	}
}

func launchCommand(logger *slog.Logger, hooks jobHooks) *cli.Command {
	return &cli.Command{
		Name:      "launch",
		Usage:     "run a grid: pretrain, evaluate, write Parquet results and report.md",
		ArgsUsage: "GRID",
		Description: `Expands the grid, makes (or reopens) its run folder under --runs, and runs every job
not yet done, in parallel on the CPU cores and GPUs it finds. Launching the same grid again
resumes: finished jobs are skipped, interrupted ones restart from their last checkpoint.
Ctrl-C stops gracefully (running jobs checkpoint); a second Ctrl-C stops at once.

Exit codes: 0 all jobs done; 1 some jobs failed; 2 invalid grid or usage; 3 run folder
locked by another controller; 4 the disk is full (make room, then launch again to
resume); 130 stopped.

Examples:
   sweep launch configs/quickstart.yaml
   sweep launch configs/cifar10-resnet.yaml --cpus 8 --metrics-addr 127.0.0.1:9464`,
		Flags: append(runFlags(),
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "folder that holds run folders"},
			maxJobsFlag(),
		),
		Action: func(c *cli.Context) error {
			path, g, err := gridArg(c)
			if err != nil {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := checkData(c, g, hooks, c.String("runs")); err != nil {
				return err
			}
			ids := workspace.OpenDataIDs(c.String("runs"))
			p, _, err := planFor(c.Context, g, ids, c.String("data-dir"))
			if err != nil {
				return err
			}
			if err := checkExecutor(c, g, p); err != nil {
				return err
			}
			r, err := workspace.CreateRun(workspace.RunDir(c.String("runs"), p), src, p)
			if err != nil {
				return stopError(err)
			}
			defer r.Unlock()
			if err := ids.Save(); err != nil {
				logger.Warn("data checksum cache not written", "error", err)
			}
			return execute(c, logger, hooks, r, g)
		},
	}
}

// checkData refuses to start a sweep whose data sets are missing or damaged
// (launch.CheckData), before anything is written: it reads the decompressed
// copies the jobs of the workspace root left (a relaunch's check takes
// milliseconds, not the half second of decompressing Fashion-MNIST) and
// writes none.
func checkData(c *cli.Context, g *grid.Grid, hooks jobHooks, root string) error {
	if hooks.skipDataCheck {
		return nil
	}
	if err := launch.CheckData(g, data.Source{Dir: c.String("data-dir"), Cache: workspace.DataCache(root), ReadOnlyCache: true}); err != nil {
		return usageError{err}
	}
	return nil
}

// executorKind is the executor a launch uses: --executor, else the grid's.
func executorKind(c *cli.Context, g *grid.Grid) string {
	if c.IsSet("executor") {
		return c.String("executor")
	}
	return g.Executor
}

// checkExecutor refuses, before anything is written or run, what the
// executor cannot run (launch.CheckExecutor).
func checkExecutor(c *cli.Context, g *grid.Grid, p *job.Plan) error {
	if err := launch.CheckExecutor(executorKind(c, g), g, p); err != nil {
		return usageError{err}
	}
	return nil
}

// execute runs a locked run folder to the end (launch.Execute) and prints
// how it went.
func execute(c *cli.Context, logger *slog.Logger, hooks jobHooks, r *workspace.Run, g *grid.Grid) error {
	ctx := c.Context
	out := c.App.Writer
	// After the first Ctrl-C (or SIGTERM) the context is cancelled and jobs
	// checkpoint; a second one ends the process at once (children die with it).
	go func() {
		<-ctx.Done()
		signal.Reset(os.Interrupt, syscall.SIGTERM)
	}()
	opt := launch.Options{Executor: executorKind(c, g), CPUs: c.Int("cpus"), GPUs: c.Int("gpus"), MemoryGB: c.Float64("memory-gb"),
		MaxParallel: c.Int("max-parallel"), MetricsAddr: g.MetricsAddr, Pushgateway: c.String("pushgateway"), Linger: c.Duration("linger"),
		Timeout: c.Duration("timeout"), Heartbeat: c.Duration("heartbeat"), Backoff: c.Duration("backoff"), StopGrace: c.Duration("stop-grace"),
		ClaimStale: c.Duration("claim-stale"), DataDir: c.String("data-dir"), ChildEnv: hooks.childEnv, Out: out, Logger: logger}
	if c.IsSet("metrics-addr") {
		opt.MetricsAddr = c.String("metrics-addr")
	}
	ids := workspace.OpenDataIDs(filepath.Dir(r.Dir))
	opt.Replan = func(g *grid.Grid) (*job.Plan, error) {
		p, _, err := planFor(ctx, g, ids, c.String("data-dir"))
		return p, err
	}
	start := time.Now()
	sum, err := launch.Execute(ctx, r, g, opt)
	launch.WriteSummary(out, r, sum, time.Since(start))
	if controller.IsDiskFull(err) {
		fmt.Fprintln(out, r.DiskFullMessage())
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 || sum.Skipped > 0 {
		return fmt.Errorf("%d jobs failed and %d were skipped", sum.Failed, sum.Skipped)
	}
	return nil
}

// stopError marks an error that stopped the sweep; a full disk gets its own
// exit code.
func stopError(err error) error {
	return &controller.StopError{Err: err}
}
