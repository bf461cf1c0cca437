// Package worker is the job process, the far side of the hop from the
// controller to a job:
//
//	controller --(executor: task.json in the job's work folder)--> `sweep job run FOLDER`
//	  --(worker: runner or probe)--> outputs, records.jsonl, stdout --> controller
//
// `sweep job run FOLDER` reads the task its executor wrote into the job's
// folder, runs the job (pretraining and feature extraction on a GoMLX
// backend, probes on extracted features), and writes every record both
// into the folder (records.jsonl, from which the job's results are rebuilt)
// and to its standard output (which the local executor reads), its done
// record last. It needs nothing but its folder and the folders of its
// inputs, whose paths the task names: neither the grid nor the run folder.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/dogo-sweep/dogo-sweep/runner"
)

// Attempt is one attempt of a job, as its dispatch sees it.
type Attempt struct {
	Task jobdir.Task
	Dir  jobdir.Dir
	// Emit reports a record (stamped with the time and the attempt).
	Emit func(job.Record)
}

// Dispatcher runs an attempt: Dispatch in the released binary; tests put
// fake jobs in its place.
type Dispatcher func(ctx context.Context, a Attempt) error

// Run runs the attempt whose task is in dir, reporting to stdout and into
// the folder; the done record, written last, says it succeeded.
func Run(ctx context.Context, dir string, dispatch Dispatcher, stdout io.Writer) error {
	d := jobdir.Dir(dir)
	task, err := d.ReadTask()
	if err != nil {
		return err
	}
	recf, err := openRecords(d.Records())
	if err != nil {
		return err
	}
	defer recf.Close()
	w := job.NewRecordWriter(recf, stdout)
	// A record that cannot be kept (a full disk) stops the job: its results
	// are rebuilt from the records file.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	emit := func(rec job.Record) {
		rec.Time, rec.Attempt = time.Now().UTC(), task.Attempt
		if rec.Type == job.RecWarning {
			fmt.Fprintln(os.Stderr, "warning:", rec.Message) // into the job's log
		}
		if err := w.Write(rec); err != nil {
			cancel(err)
		}
	}
	fail := func(err error) error {
		rec := job.Record{Type: job.RecError, Message: err.Error(), Permanent: runner.IsPermanent(err)}
		var damaged *job.DamagedInputError
		switch {
		case job.DiskFull(err):
			rec.Fault = job.FaultDiskFull
		case errors.As(err, &damaged):
			rec.Fault, rec.Damaged = job.FaultDamagedInput, damaged.Job
		}
		emit(rec)
		return err
	}
	start := time.Now()
	stopBeat := heartbeat(task.Beat, emit)
	defer stopBeat()
	host, _ := os.Hostname()
	emit(job.Record{Type: job.RecInfo, Name: "host", Message: host})
	emit(job.Record{Type: job.RecInfo, Name: "build", Message: jobdir.CurrentBuildAs(task.Build).Code()})
	if dev := os.Getenv("CUDA_VISIBLE_DEVICES"); dev != "" {
		emit(job.Record{Type: job.RecInfo, Name: "devices", Message: dev})
	}
	err = dispatch(jctx, Attempt{Task: task, Dir: d, Emit: emit})
	if cause := context.Cause(jctx); err == nil && cause != nil && ctx.Err() == nil {
		err = cause // a record could not be kept
	}
	if missing := d.MissingOutput(task.Job.Spec.Kind); err == nil && missing != "" {
		err = fmt.Errorf("the job ended without writing %s", missing)
	}
	if err != nil {
		if cause := context.Cause(jctx); cause != nil && ctx.Err() == nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		return fail(err)
	}
	stopBeat()
	if err := w.Write(job.Record{Type: job.RecDone, Time: time.Now().UTC(), Attempt: task.Attempt, Value: time.Since(start).Seconds()}); err != nil {
		return fail(err)
	}
	return recf.Sync()
}

// openRecords opens the records file for appending; a last line cut short
// (an attempt killed in the middle of a write) is ended first, so that it
// cannot swallow this attempt's first record.
func openRecords(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if n := st.Size(); n > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, n-1); err != nil {
			f.Close()
			return nil, err
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return f, nil
}

// heartbeat emits a heartbeat record every interval (30 s by default), so
// that jobs that report nothing for a long while (feature extraction,
// probes) are not taken for hung ones. The returned function stops it.
func heartbeat(every time.Duration, emit func(job.Record)) func() {
	if every <= 0 {
		every = 30 * time.Second
	}
	tick := time.NewTicker(every)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-tick.C:
				emit(job.Record{Type: job.RecBeat})
			case <-stop:
				return
			}
		}
	}()
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			tick.Stop()
			close(stop)
			<-finished
		}
	}
}

// Dispatch runs a job by its kind: pretraining and feature extraction on a
// GoMLX backend, probes on the extracted features.
func Dispatch(ctx context.Context, a Attempt) error {
	spec := a.Task.Job.Spec
	if spec.Kind.IsProbe() {
		return probe.Run(ctx, spec, jobdir.Dir(a.Task.Inputs[spec.Features]), spec.Features, a.Emit)
	}
	backend, cfg, warning, err := runner.OpenBackend(a.Task.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	if warning != "" {
		a.Emit(job.Record{Type: job.RecInfo, Name: "backend_fallback", Message: warning})
	}
	a.Emit(job.Record{Type: job.RecInfo, Name: "backend", Backend: cfg})
	if folder, err := data.Folder(spec.Dataset, a.Task.DataDir); err == nil {
		a.Emit(job.Record{Type: job.RecInfo, Name: "data_dir", Message: folder})
	}
	env := runner.Env{Backend: backend, DataDir: a.Task.DataDir, DataCache: a.Task.DataCache, Dir: a.Dir, Emit: a.Emit}
	if spec.Kind == job.KindPretrain {
		return runner.Pretrain(ctx, env, spec)
	}
	var parent jobdir.Dir
	if spec.Parent != "" {
		parent = jobdir.Dir(a.Task.Inputs[spec.Parent])
	}
	return runner.Features(ctx, env, spec, parent)
}
