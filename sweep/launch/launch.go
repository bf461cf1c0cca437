// Package launch runs a sweep's run folder to its end: it wires the
// controller to the run's journal, the workspace's store, an executor
// (child processes here, or Slurm job arrays), the Prometheus exporter and
// the progress display, runs the plan, and publishes the results (Parquet
// tables, report, plots). `sweep launch` and `sweep resume` call it with
// their flags.
package launch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

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
)

// Options are a launch's settings (its command's flags).
type Options struct {
	// Executor is "local" or "slurm".
	Executor string
	// CPUs (0: all), GPUs (-1: those found) and MemoryGB (0: MemAvailable
	// when the grid limits memory) that local jobs share.
	CPUs, GPUs int
	MemoryGB   float64
	// MaxParallel caps the jobs running at once (0: the grid's).
	MaxParallel int
	// MetricsAddr serves /metrics ("" or "off": not served).
	MetricsAddr string
	// Pushgateway receives the final metrics ("": none); Linger keeps
	// serving them after the sweep.
	Pushgateway string
	Linger      time.Duration
	// Timeout is a per-job limit (0: none); Heartbeat kills a job silent
	// that long; Backoff waits before the first retry; StopGrace is how long
	// a stopped job has to checkpoint; ClaimStale how old another
	// controller's claim may be before it is taken over.
	Timeout, Heartbeat, Backoff, StopGrace, ClaimStale time.Duration
	// DataDir is the only folder data sets are read from ("": the system's).
	DataDir string
	// ChildEnv is added to the job processes' environment.
	ChildEnv []string
	Out      io.Writer
	Logger   *slog.Logger
	// Replan plans a grid as the launch planned the first (a sequential
	// sweep's next rounds: the same data identities).
	Replan func(*grid.Grid) (*job.Plan, error)
}

// Execute runs a locked run folder to the end and publishes its results.
// Cancelling ctx stops it (running jobs checkpoint). A sequential grid runs
// in rounds: after each, every cell is decided on the results so far and
// the undecided ones get one more seed (Rounds).
func Execute(ctx context.Context, r *workspace.Run, g *grid.Grid, opt Options) (controller.Summary, error) {
	jr, torn, err := workspace.OpenJournal(r.Dir)
	if err != nil {
		return controller.Summary{}, &controller.StopError{Err: err}
	}
	defer jr.Close()
	if torn != "" {
		opt.Logger.Warn("journal mended", "run", r.Dir, "what", torn)
	}
	exp := metrics.New(r.Plan, filepath.Base(r.Dir), nil)
	defer serveMetrics(exp, opt)()
	obs := &storedRecords{Exporter: exp, store: r.Store, ended: map[string]bool{}}
	r.Store.StaleAfter = opt.ClaimStale
	defer r.Store.KeepAlive(r.Store.StaleAfter / 12)() // claims stay fresh while this controller lives
	defer r.Store.ReleaseAll()
	sum, err := runRounds(ctx, r, g, obs, jr, opt)
	if werr := publish(opt.Logger, r, sum); werr != nil && err == nil {
		err = &controller.StopError{Err: werr}
	}
	finishMetrics(ctx, exp, opt)
	return sum, err
}

// runRounds runs the run's plan; a sequential sweep's, round after round
// until no cell gets another seed, growing the plan (and the exporter's
// jobs) between rounds.
func runRounds(ctx context.Context, r *workspace.Run, g *grid.Grid, obs *storedRecords, jr controller.Journal, opt Options) (controller.Summary, error) {
	var sum controller.Summary
	ranNow := 0
	rounds := newRounds(g)
	for {
		hist, err := workspace.ReadJournal(r.Dir)
		if err != nil {
			return sum, err
		}
		ctl, prog, err := newController(r, g, obs, jr, hist, opt)
		if err != nil {
			return sum, err
		}
		sum, err = ctl.Execute(ctx)
		prog.Finish()
		ranNow += sum.Done - sum.Reused
		sum.Reused = sum.Done - ranNow // jobs run in earlier rounds were run now too
		if err != nil || rounds == nil {
			return sum, err
		}
		next, err := rounds.decide(r, jr, opt)
		if err != nil {
			return sum, &controller.StopError{Err: err}
		}
		if next == nil {
			return sum, nil
		}
		if err := r.SetPlan(next); err != nil {
			return sum, &controller.StopError{Err: err}
		}
		obs.Grow(next)
	}
}

// Rounds is a sequential sweep's state: the seeds each cell has. A
// relaunch starts again from min seeds everywhere; since decisions are a
// function of the results, which are the store's, it reaches the same
// decisions and reuses every job the earlier launch finished.
type Rounds struct {
	g     *grid.Grid
	seeds map[grid.Cell]int
}

func newRounds(g *grid.Grid) *Rounds {
	if g.Sequential == nil {
		return nil
	}
	seeds := map[grid.Cell]int{}
	for _, c := range g.Cells() {
		seeds[c] = g.Sequential.Min
	}
	return &Rounds{g: g, seeds: seeds}
}

// decide decides every cell on the run's results so far, journals each
// decision with its statistics, and returns the plan of the next round:
// one more seed for each undecided cell below max (nil when none).
func (rs *Rounds) decide(r *workspace.Run, jr controller.Journal, opt Options) (*job.Plan, error) {
	t, err := r.Tables()
	if err != nil {
		return nil, err
	}
	rep := reports.Analyze(r.Plan, t, reports.Options{})
	byCell := map[grid.Cell]reports.CellVerdict{}
	for _, c := range reports.Cells(rep.Verdicts, rs.g.Decide.On) {
		byCell[grid.Cell{Dataset: c.Dataset, Objective: c.Objective, Pair: c.Pair}] = c
	}
	grow, decided := 0, 0
	var open []string
	for _, c := range rs.g.Cells() {
		cv := byCell[c]
		d := workspace.CellDecision{Time: time.Now().UTC(), Cell: c.String(), Seeds: rs.seeds[c], Decided: cv.Decided()}
		for _, v := range rep.Verdicts {
			if v.Dataset == c.Dataset && v.Objective == c.Objective && v.Pair() == c.Pair && slices.Contains(rs.g.Decide.On, v.Setting.Protocol()) {
				d.Comparisons = append(d.Comparisons, comparisonDecision(v))
			}
		}
		switch {
		case d.Decided:
			decided++
		case cv.Deciding > 0 && rs.seeds[c] < rs.g.Sequential.Max:
			rs.seeds[c]++
			d.Next = rs.seeds[c]
			grow++
			open = append(open, c.Pair)
		}
		if err := jr.Append(workspace.Entry{Time: time.Now().UTC(), Decision: &d}); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(opt.Out, "sequential seeds: %d of %d cells decided", decided, len(rs.seeds))
	if grow == 0 {
		fmt.Fprintln(opt.Out, "; no cell gets another seed")
		return nil, nil
	}
	fmt.Fprintf(opt.Out, "; one more seed for %d: %s\n", grow, strings.Join(open, ", "))
	return opt.Replan(rs.g.Round(rs.seeds))
}

// comparisonDecision is a verdict as the journal keeps it (no NaN: a
// comparison with one seed has half-width 0 and n 1).
func comparisonDecision(v reports.Verdict) workspace.ComparisonDecision {
	d := v.Decision
	finite := func(x float64) float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0
		}
		return x
	}
	return workspace.ComparisonDecision{Protocol: v.Setting.Protocol(), Setting: v.Setting.Describe(), Encoder: fmt.Sprintf("%s (%s)", v.Arch, v.Role),
		Verdict: d.Word, N: d.N, Mean: finite(d.Mean), Half: finite(d.Half), Level: d.Level, P: d.P}
}

// newController wires the controller of a run: its resources, executor,
// journal, store, results and observers (metrics, progress).
func newController(r *workspace.Run, g *grid.Grid, obs controller.Observer, jr controller.Journal, hist workspace.History, opt Options) (*controller.Controller, *progress.Progress, error) {
	if hist.Skipped > 0 {
		opt.Logger.Warn("journal lines could not be read and were skipped", "run", r.Dir, "lines", hist.Skipped)
	}
	r.Store.Build = jobdir.CurrentBuild()
	prog := progress.New(opt.Out, r.Plan)
	ctl := &controller.Controller{
		Plan: r.Plan, Journal: jr, History: hist, Store: r.Store, Results: results.Keeper{Settings: r.Plan.Settings}, Logger: opt.Logger,
		Observers: []controller.Observer{obs, prog},
		Retries:   g.Retries, MaxFailures: g.MaxFailures, Backoff: opt.Backoff, Timeout: opt.Timeout,
		MaxParallel: opt.MaxParallel,
	}
	if ctl.MaxParallel == 0 {
		ctl.MaxParallel = g.Resources.MaxParallel
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	settings := workspace.TaskSettings{Backend: g.Backend, DataDir: opt.DataDir, Beat: min(max(opt.Heartbeat/10, 100*time.Millisecond), 30*time.Second)}
	if settings.DataDir != "" {
		settings.DataDir, _ = filepath.Abs(settings.DataDir)
	}
	settings.DataCache, _ = filepath.Abs(r.Store.DataCache())
	switch opt.Executor {
	case "local":
		gpuIDs := local.DiscoverGPUs()
		ctl.CPUs, ctl.GPUs, ctl.MemoryGB = resources(opt, g, len(gpuIDs))
		ctl.Exec = &local.Executor{Prepare: taskWriter(r, settings), Binary: bin, GPUIDs: gpuIDs, Env: opt.ChildEnv,
			Heartbeat: opt.Heartbeat, StopGrace: opt.StopGrace}
		fmt.Fprintf(opt.Out, "run folder: %s (%d jobs; %d CPU cores, %d GPUs)\n", r.Dir, len(r.Plan.Jobs), ctl.CPUs, ctl.GPUs)
	case "slurm":
		abs, err := filepath.Abs(r.Dir)
		if err != nil {
			return nil, nil, err
		}
		r.Dir = abs // array tasks run elsewhere: they need absolute paths
		if r.Store.Dir, err = filepath.Abs(r.Store.Dir); err != nil {
			return nil, nil, err
		}
		ctl.Exec = &slurm.Executor{Settings: g.Slurm, RunDir: r.Dir, Plan: r.Plan.Name, Prepare: taskWriter(r, settings), Binary: bin, Logger: opt.Logger}
		// Slurm schedules: the controller submits every ready job at once.
		ctl.CPUs = 1 << 20
		if ctl.MaxParallel == 0 {
			ctl.MaxParallel = 10000
		}
		fmt.Fprintf(opt.Out, "run folder: %s (%d jobs; submitting to Slurm as job arrays)\n", r.Dir, len(r.Plan.Jobs))
	default:
		return nil, nil, fmt.Errorf("unknown executor %q (local or slurm)", opt.Executor)
	}
	return ctl, prog, nil
}

// taskWriter writes what a job process needs into the job's work folder
// before it starts (workspace.Run.WriteTask).
func taskWriter(r *workspace.Run, s workspace.TaskSettings) func(controller.Task) error {
	return func(t controller.Task) error { return r.WriteTask(t.Dir, t.Job, t.Attempt, s) }
}

// resources are the CPU cores, GPUs and memory the local executor shares
// out: the options, else what the machine has.
func resources(opt Options, g *grid.Grid, found int) (cpus, gpus int, memGB float64) {
	cpus = opt.CPUs
	if cpus <= 0 {
		cpus = runtime.NumCPU()
	}
	gpus = opt.GPUs
	if gpus < 0 || gpus > found {
		gpus = found
	}
	memGB = opt.MemoryGB
	if memGB <= 0 && g.Resources.MemoryGB > 0 {
		memGB = local.DiscoverMemoryGB()
	}
	return cpus, gpus, memGB
}

// storedRecords passes the exporter, besides the events of the jobs this
// sweep runs, the metric records of each probe reused from the store (those
// of its finished attempt), so that a sweep whose jobs all come from the
// store exports their accuracies too. A job that ended once (a sequential
// sweep's earlier round) is not counted again when a later round reuses it.
type storedRecords struct {
	*metrics.Exporter
	store *workspace.Store
	ended map[string]bool
}

func (o *storedRecords) JobEnded(j *job.Job, attempt int, st job.State, err error, start, end time.Time) {
	if attempt == 0 && o.ended[j.ID] {
		return
	}
	if st == job.StateDone {
		o.ended[j.ID] = true
	}
	if attempt == 0 && j.Spec.Kind.IsProbe() {
		var recs []job.Record
		done := 0
		_ = job.ReadRecordsFile(o.store.Entry(j.ID).Records(), func(r job.Record) {
			switch r.Type {
			case job.RecMetric:
				recs = append(recs, r)
			case job.RecDone:
				done = r.Attempt
			}
		})
		for _, r := range recs {
			if r.Attempt == done {
				o.Exporter.JobRecord(j, 0, r)
			}
		}
	}
	o.Exporter.JobEnded(j, attempt, st, err, start, end)
}

// serveMetrics serves /metrics where the options say; the returned
// function stops the server.
func serveMetrics(exp *metrics.Exporter, opt Options) func() {
	if opt.MetricsAddr == "" || opt.MetricsAddr == "off" {
		return func() {}
	}
	where, stop, err := exp.Serve(opt.MetricsAddr)
	if err != nil {
		opt.Logger.Warn("metrics not served", "addr", opt.MetricsAddr, "error", err)
		return func() {}
	}
	fmt.Fprintf(opt.Out, "metrics: http://%s/metrics\n", where)
	return stop
}

// publish writes the run's Parquet tables (from its jobs' folders in the
// store, reused jobs included), links its jobs, and writes its report,
// when this launch ran or reused anything new (or they are missing): a
// relaunch that changes nothing writes nothing.
func publish(logger *slog.Logger, r *workspace.Run, sum controller.Summary) error {
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
	if err := writeDecisions(r); err != nil {
		return err
	}
	return reports.Publish(r.Dir, r.ResultsDir(), r.Plan, t, ReportOptions(logger, r))
}

// writeDecisions writes a sequential sweep's decisions, every round's, from
// its journal into results/decisions.parquet.
func writeDecisions(r *workspace.Run) error {
	h, err := workspace.ReadJournal(r.Dir)
	if err != nil || len(h.Decisions) == 0 {
		return err
	}
	var rows []results.DecisionRow
	for _, d := range h.Decisions {
		for _, c := range d.Comparisons {
			rows = append(rows, results.DecisionRow{Time: d.Time, Cell: d.Cell, Seeds: int64(d.Seeds), Decided: d.Decided, Next: int64(d.Next),
				Protocol: c.Protocol, Setting: c.Setting, Encoder: c.Encoder, Verdict: c.Verdict, N: int64(c.N), Mean: c.Mean, Half: c.Half, Level: c.Level, P: c.P})
		}
	}
	return results.WriteDecisions(r.ResultsDir(), rows)
}

// ReportOptions are a run's report's: its span, from its journal.
func ReportOptions(logger *slog.Logger, r *workspace.Run) reports.Options {
	opt := reports.Options{Logger: logger}
	if h, err := workspace.ReadJournal(r.Dir); err == nil {
		opt.Span[0], opt.Span[1] = r.Span(h)
	}
	return opt
}

// finishMetrics pushes the final metrics and keeps serving them a while, as
// the options ask.
func finishMetrics(ctx context.Context, exp *metrics.Exporter, opt Options) {
	if opt.Pushgateway != "" {
		if err := exp.Push(opt.Pushgateway); err != nil {
			opt.Logger.Error("push to Pushgateway", "url", opt.Pushgateway, "error", err)
		} else {
			fmt.Fprintf(opt.Out, "metrics pushed to %s\n", opt.Pushgateway)
		}
	}
	if opt.Linger > 0 && ctx.Err() == nil {
		fmt.Fprintf(opt.Out, "serving metrics for %s more\n", opt.Linger)
		select {
		case <-time.After(opt.Linger):
		case <-ctx.Done():
		}
	}
}
