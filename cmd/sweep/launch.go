package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dogo-sweep/sweep/data"
	"github.com/dogo-sweep/sweep/metrics"
	"github.com/dogo-sweep/sweep/reports"
	"github.com/dogo-sweep/sweep/results"
	"github.com/dogo-sweep/sweep/sweep"
	"github.com/dogo-sweep/sweep/sweep/local"
	"github.com/dogo-sweep/sweep/sweep/slurm"
	"github.com/urfave/cli/v2"
)

// largeSweep is the job count above which launch asks for --yes.
const largeSweep = 20000

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", EnvVars: []string{"SWEEP_DATA_DIR"}, Usage: "folder with the data sets (also searched: /usr/share/datasets)"},
		&cli.IntFlag{Name: "cpus", Usage: "CPU cores to use (default: all)"},
		&cli.IntFlag{Name: "gpus", Value: -1, Usage: "GPUs to use (default: those nvidia-smi or CUDA_VISIBLE_DEVICES show)"},
		&cli.Float64Flag{Name: "memory-gb", Usage: "memory jobs may use together, counted against resources.memory_gb (default: MemAvailable)"},
		&cli.IntFlag{Name: "max-parallel", Usage: "cap on jobs running at once (default: from the grid, else resources decide)"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics here (default: from the grid; \"off\" disables)"},
		&cli.DurationFlag{Name: "timeout", Usage: "per-job wall-clock limit (0: none)"},
		&cli.DurationFlag{Name: "heartbeat", Value: 10 * time.Minute, Usage: "kill a job that reports nothing for this long"},
		&cli.DurationFlag{Name: "backoff", Value: 2 * time.Second, Usage: "wait before the first retry (doubles each time)"},
		&cli.DurationFlag{Name: "linger", Usage: "keep serving /metrics this long after the sweep ends, so that Prometheus scrapes the final state"},
		&cli.StringFlag{Name: "pushgateway", Usage: "push a final summary of the metrics to this Pushgateway URL when the sweep ends"},
		&cli.StringFlag{Name: "executor", Usage: "local or slurm (default: from the grid)"},
		&cli.DurationFlag{Name: "stop-grace", Value: 30 * time.Second, Usage: "on Ctrl-C, how long running jobs have to checkpoint before they are killed"},
	}
}

func launchCommand(logger *slog.Logger) *cli.Command {
	return &cli.Command{
		Name:      "launch",
		Usage:     "run a grid: pretrain, evaluate, write Parquet results and report.md",
		ArgsUsage: "GRID",
		Description: `Expands the grid, makes (or reopens) its run folder under --runs, and runs every job
not yet done, in parallel on the CPU cores and GPUs it finds. Launching the same grid again
resumes: finished jobs are skipped, interrupted ones restart from their last checkpoint.
Ctrl-C stops gracefully (running jobs checkpoint); a second Ctrl-C stops at once.

Exit codes: 0 all jobs done; 1 some jobs failed; 2 invalid grid or usage; 3 run folder
locked by another controller; 130 stopped.

Examples:
   sweep launch configs/quickstart.yaml
   sweep launch --cpus 8 --metrics-addr 127.0.0.1:9464 configs/cifar10-resnet.yaml`,
		Flags: append(runFlags(),
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "folder that holds run folders"},
			&cli.BoolFlag{Name: "yes", Usage: fmt.Sprintf("run a grid of more than %d jobs", largeSweep)},
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
			p := sweep.NewPlan(g)
			if len(p.Jobs) > largeSweep && !c.Bool("yes") {
				return usageError{fmt.Errorf("%s expands to %d jobs (%d grid points); pass --yes if that is meant", path, len(p.Jobs), p.Stats.Points)}
			}
			if err := checkExecutor(c, g, p); err != nil {
				return err
			}
			if err := checkData(c, g); err != nil {
				return err
			}
			dir := sweep.RunDir(c.String("runs"), p)
			r, err := sweep.CreateRun(dir, src, p)
			if err != nil {
				return err
			}
			defer r.Unlock()
			return execute(c, logger, r, g)
		},
	}
}

func resumeCommand(logger *slog.Logger) *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue an interrupted run folder",
		ArgsUsage: "RUN",
		Description: `Examples:
   sweep resume runs/quickstart-1a2b3c4d`,
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			if r.Plan.Revision != sweep.PretrainRevision {
				logger.Warn("this run was planned by a sweep that trains differently: its unfinished pretraining jobs will be trained by this version, and their results mixed with the finished ones; for comparable results launch the grid again (a new run folder)",
					"run", r.Dir, "planned_revision", r.Plan.Revision, "this_revision", sweep.PretrainRevision)
			}
			g, err := loadGrid(filepath.Join(r.Dir, "grid.yaml"))
			if err != nil {
				return err
			}
			if err := checkExecutor(c, g, r.Plan); err != nil {
				return err
			}
			if err := checkData(c, g); err != nil {
				return err
			}
			if err := r.Lock(); err != nil {
				return err
			}
			defer r.Unlock()
			return execute(c, logger, r, g)
		},
	}
}

// checkData refuses to start a sweep whose data sets are missing or damaged,
// before anything is written: the message names the files, the folders
// searched, the problem and how to get them. (Under Slurm the controller
// checks its own view of the data folder, which is the nodes' on a shared
// file system.)
func checkData(c *cli.Context, g *sweep.Grid) error {
	if os.Getenv("SWEEP_FAKE_JOB") != "" {
		return nil // the controller's tests run jobs that read no data
	}
	sets := append([]string{}, g.Datasets...)
	for _, o := range g.OOD {
		if src, ok := sweep.CrossDatasetOOD(o); ok {
			sets = append(sets, src)
		}
	}
	var problems []string
	for _, d := range sets {
		if err := data.Check(d, c.String("data-dir")); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return usageError{fmt.Errorf("data not ready:\n  %s", strings.Join(problems, "\n  "))}
}

// checkExecutor refuses, before anything is written or run, what the
// executor cannot run: for Slurm, settings that sbatch --test-only rejects
// (an unknown partition, an impossible GPU count), with sbatch's own words.
func checkExecutor(c *cli.Context, g *sweep.Grid, p *sweep.Plan) error {
	executor := g.Executor
	if c.IsSet("executor") {
		executor = c.String("executor")
	}
	switch executor {
	case "local":
		return nil
	case "slurm":
		jobs := make([]sweep.Job, len(p.Jobs))
		for i, j := range p.Jobs {
			jobs[i] = *j
		}
		if err := slurm.Check(g.Slurm, jobs); err != nil {
			return usageError{err}
		}
		return nil
	}
	return usageError{fmt.Errorf("unknown executor %q (local or slurm)", executor)}
}

// execute runs a locked run folder to the end and writes its results and report.
func execute(c *cli.Context, logger *slog.Logger, r *sweep.Run, g *sweep.Grid) error {
	ctx := c.Context
	out := c.App.Writer
	// After the first Ctrl-C the context is cancelled and jobs checkpoint; a
	// second Ctrl-C falls through to the default action and ends the process
	// (children die with it).
	go func() {
		<-ctx.Done()
		signal.Reset(os.Interrupt)
	}()
	cpus := c.Int("cpus")
	if cpus <= 0 {
		cpus = runtime.NumCPU()
	}
	gpuIDs := sweep.DiscoverGPUs()
	gpus := c.Int("gpus")
	if gpus < 0 || gpus > len(gpuIDs) {
		gpus = len(gpuIDs)
	}
	mem := c.Float64("memory-gb")
	if mem <= 0 && g.Resources.MemoryGB > 0 {
		mem = sweep.DiscoverMemoryGB()
	}
	maxPar := c.Int("max-parallel")
	if maxPar == 0 {
		maxPar = g.Resources.MaxParallel
	}
	exp := metrics.New(r.Plan, nil)
	addr := g.MetricsAddr
	if c.IsSet("metrics-addr") {
		addr = c.String("metrics-addr")
	}
	if addr != "" && addr != "off" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			logger.Warn("metrics not served", "addr", addr, "error", err)
		} else {
			mux := http.NewServeMux()
			mux.Handle("/metrics", exp.Handler())
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			fmt.Fprintf(out, "metrics: http://%s/metrics\n", ln.Addr())
		}
	}
	rec := results.NewRecorder(r.ResultsDir(), g)
	states, _ := sweep.ReadJournal(r.Dir)
	already := 0
	for _, j := range r.Plan.Jobs {
		if s, ok := states[j.ID]; (ok && s.State == sweep.StateDone) || sweep.JobFinished(r.JobDir(j)) {
			exp.MarkDone(j)
			already++
		}
	}
	progress := newProgress(out, r.Plan, already)
	ctl := &sweep.Controller{
		Run: r, Logger: logger, CPUs: cpus, GPUs: gpus, MemoryGB: mem, MaxParallel: maxPar,
		Retries: g.Retries, MaxFailures: g.MaxFailures, Backoff: c.Duration("backoff"), Timeout: c.Duration("timeout"),
		Exec: &local.Executor{
			Binary:    os.Getenv("SWEEP_CHILD_BINARY"),
			GPUIDs:    gpuIDs,
			Heartbeat: c.Duration("heartbeat"),
			StopGrace: c.Duration("stop-grace"),
			Env:       dataEnv(c.String("data-dir")),
		},
		Observers: []sweep.Observer{rec, exp, progress},
	}
	executor := g.Executor
	if c.IsSet("executor") {
		executor = c.String("executor")
	}
	switch executor {
	case "local":
		fmt.Fprintf(out, "run folder: %s (%d jobs; %d CPU cores, %d GPUs)\n", r.Dir, len(r.Plan.Jobs), cpus, gpus)
	case "slurm":
		bin := os.Getenv("SWEEP_CHILD_BINARY")
		if bin == "" {
			var err error
			if bin, err = os.Executable(); err != nil {
				return err
			}
		}
		abs, err := filepath.Abs(r.Dir)
		if err != nil {
			return err
		}
		r.Dir = abs // array tasks run elsewhere: they need absolute paths
		ctl.Exec = &slurm.Executor{Settings: g.Slurm, Binary: bin}
		// Slurm schedules: the controller submits every ready job at once.
		ctl.CPUs, ctl.GPUs, ctl.MemoryGB = 1<<20, 0, 0
		if maxPar == 0 {
			ctl.MaxParallel = 10000
		}
		fmt.Fprintf(out, "run folder: %s (%d jobs; submitting to Slurm as job arrays)\n", r.Dir, len(r.Plan.Jobs))
	default:
		return usageError{fmt.Errorf("unknown executor %q (local or slurm)", executor)}
	}
	start := time.Now()
	sum, err := ctl.Execute(ctx)
	progress.finish()
	for _, e := range rec.Errors() {
		logger.Error("results part not written", "error", e)
	}
	if _, cerr := results.Compact(r.ResultsDir()); cerr != nil {
		logger.Error("compact results", "error", cerr)
	}
	if rerr := reports.Write(r.Dir, reports.Options{Logger: logger}); rerr != nil {
		logger.Error("report", "error", rerr)
	}
	printSummary(out, r, sum, time.Since(start))
	if url := c.String("pushgateway"); url != "" {
		if perr := exp.Push(url); perr != nil {
			logger.Error("push to Pushgateway", "url", url, "error", perr)
		} else {
			fmt.Fprintf(out, "metrics pushed to %s\n", url)
		}
	}
	if d := c.Duration("linger"); d > 0 && ctx.Err() == nil {
		fmt.Fprintf(out, "serving metrics for %s more\n", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 || sum.Skipped > 0 {
		return fmt.Errorf("%d jobs failed and %d were skipped", sum.Failed, sum.Skipped)
	}
	return nil
}

func dataEnv(dir string) []string {
	if dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return []string{"SWEEP_DATA_DIR=" + abs}
}

func printSummary(out io.Writer, r *sweep.Run, s sweep.Summary, d time.Duration) {
	fmt.Fprintf(out, "\n%d jobs done (%d from earlier runs), %d failed, %d skipped, %d not run; %s\n",
		s.Done, s.Reused, s.Failed, s.Skipped, s.Pending, d.Round(time.Second))
	for _, f := range s.Failures {
		fmt.Fprintf(out, "  failed: %s: %s\n", f.Job.Name, sweep.FirstLine(f.Error))
	}
	fmt.Fprintf(out, "report:  %s\nresults: %s\n", filepath.Join(r.Dir, "report.md"), filepath.Join(r.ResultsDir(), "{jobs,metrics}.parquet"))
}
