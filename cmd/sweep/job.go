package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/dogo-sweep/dogo-sweep/runner"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func jobCommand(hooks jobHooks) *cli.Command {
	return &cli.Command{
		Name:   "job",
		Usage:  "run one job of a run folder (the controller starts these as child processes)",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:  "run",
			Usage: "run one job; progress and results go to stdout as JSON lines (see job.Record)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "run", Required: true, Usage: "run folder"},
				&cli.StringFlag{Name: "job", Required: true, Usage: "job ID"},
				&cli.IntFlag{Name: "attempt", Value: 1},
				&cli.StringFlag{Name: "data-dir", EnvVars: []string{"SWEEP_DATA_DIR"}, Usage: "folder with the data sets"},
			},
			Action: func(c *cli.Context) error {
				return runJob(c.Context, hooks, c.String("run"), c.String("job"), c.Int("attempt"), c.String("data-dir"), os.Stdout)
			},
		}},
	}
}

// jobContext is what a job runs with.
type jobContext struct {
	ctx     context.Context
	run     *workspace.Run
	job     *job.Job
	attempt int
	dataDir string
	dir     string // the job's folder
	emit    func(job.Record)
}

// runJob runs one job and reports through records on out and in the job's
// records.jsonl; it writes the done marker last, when the job succeeded.
func runJob(ctx context.Context, hooks jobHooks, runDir, id string, attempt int, dataDir string, out *os.File) error {
	r, err := workspace.OpenRun(runDir)
	if err != nil {
		return err
	}
	j := r.Plan.Job(id)
	if j == nil {
		return usageError{fmt.Errorf("job %s is not in the plan of %s", id, runDir)}
	}
	// A job runs in its work folder in the store; the controller moves it
	// into the store once its results are written.
	jc := jobContext{ctx: ctx, run: r, job: j, attempt: attempt, dataDir: dataDir, dir: r.Store.WorkDir(j.ID)}
	var recf *os.File
	var mu sync.Mutex
	jc.emit = func(rec job.Record) {
		rec.Time = time.Now().UTC()
		if rec.Type == job.RecWarning {
			fmt.Fprintln(os.Stderr, "warning:", rec.Message) // into the job's log
		}
		b, _ := json.Marshal(rec)
		b = append(b, '\n')
		mu.Lock()
		defer mu.Unlock()
		_, _ = out.Write(b) // the controller's pipe: if it is gone, so is the controller
		if recf != nil {
			_, _ = recf.Write(b) // a copy for `sweep status`; the controller has the records
		}
	}
	fail := func(err error) error {
		rec := job.Record{Type: job.RecError, Message: err.Error(), Permanent: runner.IsPermanent(err)}
		if controller.IsDiskFull(err) {
			rec.Fault = job.FaultDiskFull
		}
		jc.emit(rec)
		return err
	}
	if err := os.MkdirAll(jc.dir, 0o755); err != nil {
		return fail(err)
	}
	// A done marker of an earlier attempt (whose results were never kept)
	// must not vouch for this one.
	if err := os.Remove(filepath.Join(jc.dir, workspace.DoneMarker)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	spec, err := json.MarshalIndent(j.Spec, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.Write(filepath.Join(jc.dir, "spec.json"), spec); err != nil {
		return fail(err)
	}
	if recf, err = os.OpenFile(filepath.Join(jc.dir, "records.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return fail(err)
	}
	defer recf.Close()
	start := time.Now()
	stopBeat := heartbeat(jc.emit)
	defer stopBeat()
	if dev := os.Getenv("CUDA_VISIBLE_DEVICES"); dev != "" {
		jc.emit(job.Record{Type: job.RecInfo, Name: "devices", Message: dev})
	}
	if err := hooks.dispatch(jc); err != nil {
		return fail(err)
	}
	secs := time.Since(start).Seconds()
	if err := atomicfile.Write(filepath.Join(jc.dir, workspace.DoneMarker), fmt.Appendf(nil, `{"seconds":%.3f}`+"\n", secs)); err != nil {
		return fail(err)
	}
	jc.emit(job.Record{Type: job.RecDone, Value: secs})
	return nil
}

// heartbeat emits a heartbeat record every 30 s (SWEEP_BEAT in tests), so
// that jobs that report nothing for a long while (feature extraction,
// probes) are not taken for hung ones. The returned function stops it.
func heartbeat(emit func(job.Record)) func() {
	every := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SWEEP_BEAT")); err == nil && d > 0 {
		every = d
	}
	tick := time.NewTicker(every)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				emit(job.Record{Type: job.RecBeat})
			case <-stop:
				return
			}
		}
	}()
	return func() {
		tick.Stop()
		close(stop)
	}
}

// dispatch runs a job by its kind: pretraining and feature extraction on a
// GoMLX backend, probes on the extracted features.
func dispatch(jc jobContext) error {
	spec := jc.job.Spec
	if !spec.Kind.IsProbe() {
		g, err := grid.Load(filepath.Join(jc.run.Dir, "grid.yaml"))
		if err != nil {
			return err
		}
		backend, cfg, warning, err := runner.OpenBackend(g.Backend)
		if err != nil {
			return err
		}
		defer backend.Finalize()
		if warning != "" {
			jc.emit(job.Record{Type: job.RecInfo, Name: "backend_fallback", Message: warning})
		}
		jc.emit(job.Record{Type: job.RecInfo, Name: "backend", Backend: cfg})
		if folder, err := data.Folder(spec.Dataset, jc.dataDir); err == nil {
			jc.emit(job.Record{Type: job.RecInfo, Name: "data_dir", Message: folder})
		}
		env := runner.Env{Backend: backend, DataDir: jc.dataDir, Dir: jc.dir, Emit: jc.emit}
		if spec.Kind == job.KindPretrain {
			return runner.Pretrain(jc.ctx, env, spec)
		}
		parent := ""
		if spec.Parent != "" {
			parent = jc.run.Store.EntryDir(spec.Parent)
		}
		return runner.Features(jc.ctx, env, spec, parent)
	}
	return probe.Run(spec, jc.run.Store.EntryDir(spec.Features), jc.emit)
}
