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

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/metrics"
	"github.com/dogo-sweep/dogo-sweep/reports"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/local"
	"github.com/dogo-sweep/dogo-sweep/sweep/progress"
	"github.com/dogo-sweep/dogo-sweep/sweep/slurm"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

// largeSweep is the job count above which launch asks for --yes.
const largeSweep = 20000

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
			if err := checkData(c, g, hooks); err != nil {
				return err
			}
			ids := workspace.OpenDataIDs(c.String("runs"))
			p, _, err := planFor(g, ids, c.String("data-dir"))
			if err != nil {
				return err
			}
			if len(p.Jobs) > largeSweep && !c.Bool("yes") {
				return usageError{fmt.Errorf("%s expands to %d jobs (%d grid points); pass --yes if that is meant", path, len(p.Jobs), p.Stats.Points)}
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

// checkData refuses to start a sweep whose data sets are missing or damaged,
// before anything is written: the message names the files, the folders
// searched, the problem and how to get them. (Under Slurm the controller
// checks its own view of the data folder, which is the nodes' on a shared
// file system.)
func checkData(c *cli.Context, g *grid.Grid, hooks jobHooks) error {
	if hooks.skipDataCheck {
		return nil
	}
	var problems []string
	for _, d := range g.DataSets() {
		if err := data.Check(d, c.String("data-dir")); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return usageError{fmt.Errorf("data not ready:\n  %s", strings.Join(problems, "\n  "))}
}

// executorKind is the executor a launch uses: --executor, else the grid's.
func executorKind(c *cli.Context, g *grid.Grid) string {
	if c.IsSet("executor") {
		return c.String("executor")
	}
	return g.Executor
}

// checkExecutor refuses, before anything is written or run, what the
// executor cannot run: for Slurm, settings that sbatch --test-only rejects
// (an unknown partition, an impossible GPU count), with sbatch's own words.
func checkExecutor(c *cli.Context, g *grid.Grid, p *job.Plan) error {
	switch executorKind(c, g) {
	case "local":
		return nil
	case "slurm":
		jobs := make([]job.Job, len(p.Jobs))
		for i, j := range p.Jobs {
			jobs[i] = *j
		}
		if err := slurm.Check(g.Slurm, jobs); err != nil {
			return usageError{err}
		}
		return nil
	}
	return usageError{fmt.Errorf("unknown executor %q (local or slurm)", executorKind(c, g))}
}

// execute runs a locked run folder to the end and writes its results and report.
func execute(c *cli.Context, logger *slog.Logger, hooks jobHooks, r *workspace.Run, g *grid.Grid) error {
	ctx := c.Context
	out := c.App.Writer
	// After the first Ctrl-C the context is cancelled and jobs checkpoint; a
	// second Ctrl-C falls through to the default action and ends the process
	// (children die with it).
	go func() {
		<-ctx.Done()
		signal.Reset(os.Interrupt)
	}()
	jr, torn, err := workspace.OpenJournal(r.Dir)
	if err != nil {
		return stopError(err)
	}
	defer jr.Close()
	if torn != "" {
		logger.Warn("journal mended", "run", r.Dir, "what", torn)
	}
	hist, err := workspace.ReadJournal(r.Dir)
	if err != nil {
		return err
	}
	exp := metrics.New(r.Plan, nil)
	stopServing := serveMetrics(c, g, exp, logger)
	defer stopServing()
	ctl, prog, err := newController(c, logger, hooks, r, g, exp, jr, hist)
	if err != nil {
		return err
	}
	r.Store.StaleAfter = c.Duration("claim-stale")
	stopBeat := r.Store.KeepAlive(r.Store.StaleAfter / 12) // claims stay fresh while this controller lives
	defer stopBeat()
	defer r.Store.ReleaseAll()
	start := time.Now()
	sum, err := ctl.Execute(ctx)
	prog.Finish()
	if werr := writeResults(logger, r, sum); werr != nil && err == nil {
		err = stopError(werr)
	}
	printSummary(out, r, sum, time.Since(start))
	if controller.IsDiskFull(err) {
		fmt.Fprintln(out, r.DiskFullMessage())
	}
	finishMetrics(c, exp, logger)
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

// newController wires the controller of a run: its resources, executor,
// journal, store and observers (results, metrics, progress).
func newController(c *cli.Context, logger *slog.Logger, hooks jobHooks, r *workspace.Run, g *grid.Grid, exp *metrics.Exporter,
	jr controller.Journal, hist workspace.History) (*controller.Controller, *progress.Progress, error) {
	if hist.Skipped > 0 {
		logger.Warn("journal lines could not be read and were skipped", "run", r.Dir, "lines", hist.Skipped)
	}
	r.Store.Build = jobdir.CurrentBuild()
	prog := progress.New(c.App.Writer, r.Plan)
	ctl := &controller.Controller{
		Plan: r.Plan, Journal: jr, History: hist, Store: r.Store, Results: results.Keeper{Settings: r.Plan.Settings}, Logger: logger,
		Observers: []controller.Observer{exp, prog},
		Retries:   g.Retries, MaxFailures: g.MaxFailures, Backoff: c.Duration("backoff"), Timeout: c.Duration("timeout"),
		MaxParallel: c.Int("max-parallel"),
	}
	if ctl.MaxParallel == 0 {
		ctl.MaxParallel = g.Resources.MaxParallel
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	switch executorKind(c, g) {
	case "local":
		gpuIDs := local.DiscoverGPUs()
		ctl.CPUs, ctl.GPUs, ctl.MemoryGB = localResources(c, g, len(gpuIDs))
		ctl.Exec = &local.Executor{Prepare: taskWriter(c, r, g), Binary: bin, GPUIDs: gpuIDs, Env: hooks.childEnv,
			Heartbeat: c.Duration("heartbeat"), StopGrace: c.Duration("stop-grace")}
		fmt.Fprintf(c.App.Writer, "run folder: %s (%d jobs; %d CPU cores, %d GPUs)\n", r.Dir, len(r.Plan.Jobs), ctl.CPUs, ctl.GPUs)
	case "slurm":
		abs, err := filepath.Abs(r.Dir)
		if err != nil {
			return nil, nil, err
		}
		r.Dir = abs // array tasks run elsewhere: they need absolute paths
		if r.Store.Dir, err = filepath.Abs(r.Store.Dir); err != nil {
			return nil, nil, err
		}
		ctl.Exec = &slurm.Executor{Settings: g.Slurm, RunDir: r.Dir, Plan: r.Plan.Name, Prepare: taskWriter(c, r, g), Binary: bin, Logger: logger}
		// Slurm schedules: the controller submits every ready job at once.
		ctl.CPUs = 1 << 20
		if ctl.MaxParallel == 0 {
			ctl.MaxParallel = 10000
		}
		fmt.Fprintf(c.App.Writer, "run folder: %s (%d jobs; submitting to Slurm as job arrays)\n", r.Dir, len(r.Plan.Jobs))
	}
	return ctl, prog, nil
}

// taskWriter writes what a job process needs into the job's work folder
// before it starts: its task (the job, the attempt, the folders of the
// entries it reads, the backend, the data folder, how often to beat) and
// its spec.
func taskWriter(c *cli.Context, r *workspace.Run, g *grid.Grid) func(controller.Task) error {
	dataDir := ""
	if d := c.String("data-dir"); d != "" {
		dataDir, _ = filepath.Abs(d)
	}
	beat := min(max(c.Duration("heartbeat")/10, 100*time.Millisecond), 30*time.Second)
	build := jobdir.CurrentBuild()
	return func(t controller.Task) error {
		inputs := map[string]string{}
		for _, d := range t.Job.Deps {
			inputs[d] = r.Store.EntryDir(d)
		}
		if err := t.Dir.WriteSpec(t.Job.Spec); err != nil {
			return err
		}
		return t.Dir.WriteTask(jobdir.Task{Job: *t.Job, Attempt: t.Attempt, Inputs: inputs, Backend: g.Backend, DataDir: dataDir, Beat: beat, Build: build})
	}
}

// localResources are the CPU cores, GPUs and memory the local executor
// shares out: the flags, else what the machine has.
func localResources(c *cli.Context, g *grid.Grid, found int) (cpus, gpus int, memGB float64) {
	cpus = c.Int("cpus")
	if cpus <= 0 {
		cpus = runtime.NumCPU()
	}
	gpus = c.Int("gpus")
	if gpus < 0 || gpus > found {
		gpus = found
	}
	memGB = c.Float64("memory-gb")
	if memGB <= 0 && g.Resources.MemoryGB > 0 {
		memGB = local.DiscoverMemoryGB()
	}
	return cpus, gpus, memGB
}

// serveMetrics serves /metrics where the flag or the grid says; the
// returned function stops the server.
func serveMetrics(c *cli.Context, g *grid.Grid, exp *metrics.Exporter, logger *slog.Logger) func() {
	addr := g.MetricsAddr
	if c.IsSet("metrics-addr") {
		addr = c.String("metrics-addr")
	}
	if addr == "" || addr == "off" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Warn("metrics not served", "addr", addr, "error", err)
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", exp.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(c.App.Writer, "metrics: http://%s/metrics\n", ln.Addr())
	return func() { _ = srv.Close() }
}

// writeResults writes the run's Parquet tables (from its jobs' folders in
// the store, reused jobs included), links its jobs, and writes its report,
// when this launch ran or reused anything new (or they are missing): a
// relaunch that changes nothing writes nothing.
func writeResults(logger *slog.Logger, r *workspace.Run, sum controller.Summary) error {
	if sum.Done == sum.Reused && sum.Reused == len(r.Plan.Jobs) && r.Published() {
		return nil
	}
	t, err := r.Tables()
	if err != nil {
		return err
	}
	if err := r.LinkJobs(); err != nil {
		return err
	}
	return reports.Publish(r.Dir, r.ResultsDir(), r.Plan, t, reportOptions(logger, r))
}

// reportOptions are a run's report's: its span from its journal.
func reportOptions(logger *slog.Logger, r *workspace.Run) reports.Options {
	opt := reports.Options{Logger: logger}
	if h, err := workspace.ReadJournal(r.Dir); err == nil {
		opt.Span[0], opt.Span[1] = r.Span(h)
	}
	return opt
}

// finishMetrics pushes the final metrics and keeps serving them a while, as
// the flags ask.
func finishMetrics(c *cli.Context, exp *metrics.Exporter, logger *slog.Logger) {
	out := c.App.Writer
	if url := c.String("pushgateway"); url != "" {
		if err := exp.Push(url); err != nil {
			logger.Error("push to Pushgateway", "url", url, "error", err)
		} else {
			fmt.Fprintf(out, "metrics pushed to %s\n", url)
		}
	}
	if d := c.Duration("linger"); d > 0 && c.Context.Err() == nil {
		fmt.Fprintf(out, "serving metrics for %s more\n", d)
		select {
		case <-time.After(d):
		case <-c.Context.Done():
		}
	}
}

func printSummary(out io.Writer, r *workspace.Run, s controller.Summary, d time.Duration) {
	fmt.Fprintf(out, "\n%d jobs done (%d run now, %d reused from the store), %d failed, %d skipped, %d not run; %s\n",
		s.Done, s.Done-s.Reused, s.Reused, s.Failed, s.Skipped, s.Pending, d.Round(time.Second))
	for _, f := range s.Failures {
		fmt.Fprintf(out, "  failed: %s: %s\n", f.Job.Name, firstLine(f.Error))
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "report.md")); err == nil {
		fmt.Fprintf(out, "report:  %s\nresults: %s\n", filepath.Join(r.Dir, "report.md"), filepath.Join(r.ResultsDir(), "{jobs,metrics}.parquet"))
	}
}

// firstLine returns the first line of an error message, for summaries.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
