package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dogo-sweep/sweep/probe"
	"github.com/dogo-sweep/sweep/runner"
	"github.com/dogo-sweep/sweep/sweep"
	"github.com/urfave/cli/v2"
)

func jobCommand(logger *slog.Logger) *cli.Command {
	return &cli.Command{
		Name:   "job",
		Usage:  "run one job of a run folder (the controller starts these as child processes)",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:  "run",
			Usage: "run one job; progress and results go to stdout as JSON lines (see sweep.Record)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "run", Required: true, Usage: "run folder"},
				&cli.StringFlag{Name: "job", Required: true, Usage: "job ID"},
				&cli.IntFlag{Name: "attempt", Value: 1},
				&cli.StringFlag{Name: "data-dir", EnvVars: []string{"SWEEP_DATA_DIR"}, Usage: "folder with the data sets"},
			},
			Action: func(c *cli.Context) error {
				return runJob(c.Context, c.String("run"), c.String("job"), c.String("data-dir"), os.Stdout)
			},
		}},
	}
}

// runJob runs one job and reports through records on out and in the job's
// records.jsonl; it writes the done marker last, when the job succeeded.
func runJob(ctx context.Context, runDir, id, dataDir string, out *os.File) error {
	r, err := sweep.OpenRun(runDir)
	if err != nil {
		return err
	}
	j := r.Plan.Job(id)
	if j == nil {
		return usageError{fmt.Errorf("job %s is not in the plan of %s", id, runDir)}
	}
	dir := r.JobDir(j)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	spec, _ := json.MarshalIndent(j.Spec, "", "  ")
	if err := sweep.WriteFileAtomic(filepath.Join(dir, "spec.json"), spec); err != nil {
		return err
	}
	recf, err := os.OpenFile(filepath.Join(dir, "records.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer recf.Close()
	var mu sync.Mutex
	emit := func(rec sweep.Record) {
		rec.Time = time.Now().UTC()
		b, _ := json.Marshal(rec)
		b = append(b, '\n')
		mu.Lock()
		defer mu.Unlock()
		_, _ = out.Write(b)
		_, _ = recf.Write(b)
	}
	start := time.Now()
	// A heartbeat every 30 s: jobs that report nothing for a long while
	// (feature extraction, probes) are not taken for hung ones.
	every := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SWEEP_BEAT")); err == nil && d > 0 {
		every = d // tests
	}
	beat := time.NewTicker(every)
	defer beat.Stop()
	stopBeat := make(chan struct{})
	defer close(stopBeat)
	go func() {
		for {
			select {
			case <-beat.C:
				emit(sweep.Record{Type: sweep.RecBeat})
			case <-stopBeat:
				return
			}
		}
	}()
	if dev := os.Getenv("CUDA_VISIBLE_DEVICES"); dev != "" {
		emit(sweep.Record{Type: sweep.RecInfo, Name: "devices", Message: dev})
	}
	err = dispatch(ctx, r, j, dataDir, dir, emit)
	if err != nil {
		emit(sweep.Record{Type: sweep.RecError, Message: err.Error(), Permanent: runner.IsPermanent(err)})
		return err
	}
	emit(sweep.Record{Type: sweep.RecDone, Value: time.Since(start).Seconds()})
	return sweep.WriteFileAtomic(filepath.Join(dir, sweep.DoneMarker), []byte(fmt.Sprintf(`{"seconds":%.3f}`+"\n", time.Since(start).Seconds())))
}

func dispatch(ctx context.Context, r *sweep.Run, j *sweep.Job, dataDir, dir string, emit func(sweep.Record)) error {
	if fake := os.Getenv("SWEEP_FAKE_JOB"); fake != "" {
		return fakeJob(ctx, fake, j, emit)
	}
	spec := j.Spec
	switch spec.Kind {
	case sweep.KindPretrain, sweep.KindFeatures:
		g, err := readGridSettings(r)
		if err != nil {
			return err
		}
		backend, cfg, warning, err := runner.OpenBackend(g.Backend, j.CPUs)
		if err != nil {
			return err
		}
		defer backend.Finalize()
		if warning != "" {
			emit(sweep.Record{Type: sweep.RecInfo, Name: "backend_fallback", Message: warning})
		}
		emit(sweep.Record{Type: sweep.RecInfo, Name: "backend", Backend: cfg})
		env := runner.Env{Backend: backend, DataDir: dataDir, Dir: dir, Emit: emit}
		if spec.Kind == sweep.KindPretrain {
			return runner.Pretrain(ctx, env, spec)
		}
		parent := ""
		if spec.Parent != "" {
			parent = r.JobDir(r.Plan.Job(spec.Parent))
		}
		return runner.Features(ctx, env, spec, parent)
	default:
		return probe.Run(spec, r.JobDir(r.Plan.Job(spec.Features)), emit)
	}
}

func readGridSettings(r *sweep.Run) (*sweep.Grid, error) {
	return sweep.LoadGrid(filepath.Join(r.Dir, "grid.yaml"))
}
