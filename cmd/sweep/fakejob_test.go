package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/worker"
)

// fakeDispatch runs a fake job when SWEEP_FAKE_JOB is set, the real job
// otherwise. It lives in test code: the released binary has no fakes.
func fakeDispatch(ctx context.Context, a worker.Attempt) error {
	if fake := os.Getenv("SWEEP_FAKE_JOB"); fake != "" {
		return fakeJob(ctx, fake, &a.Task.Job, a.Task.Attempt, a.Dir, a.Emit)
	}
	return worker.Dispatch(ctx, a)
}

// fakeJob stands in for a real job in the controller's tests
// (SWEEP_FAKE_JOB=behaviour[,behaviour...]): "sleep=DURATION" succeeds after
// a while; "epochs=N:DURATION" reports pretraining epochs, one per
// DURATION, from the one after the last its folder's records hold (as a
// job resumed from its checkpoint); "quiet=DURATION" waits without a record (jobs whose name contains
// SWEEP_FAKE_MATCH); "panic", "exit", "kill" and "hang" fail in those ways for jobs whose
// name contains SWEEP_FAKE_MATCH, on attempts up to SWEEP_FAKE_UNTIL (default: all).
// With SWEEP_FAKE_LOG, each run appends the job's ID to that file.
func fakeJob(ctx context.Context, spec string, j *job.Job, attempt int, dir jobdir.Dir, emit func(job.Record)) error {
	if log := os.Getenv("SWEEP_FAKE_LOG"); log != "" {
		// Every run of a job, across controllers, as one line.
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, j.ID)
		f.Close()
	}
	match := os.Getenv("SWEEP_FAKE_MATCH")
	hit := match != "" && strings.Contains(j.Name, match) && !fakeAttemptOver(attempt)
	for _, b := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(b, "=")
		switch {
		case k == "sleep":
			d, _ := time.ParseDuration(v)
			emit(job.Record{Type: job.RecProgress, Step: 1, Name: "loss", Value: 1})
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		case k == "epochs" && j.Spec.Kind == job.KindPretrain:
			// A pretraining job that resumes from its last epoch, as one
			// resuming from its checkpoint does: epochs=N:DURATION.
			n, d, _ := strings.Cut(v, ":")
			total, _ := strconv.Atoi(n)
			every, _ := time.ParseDuration(d)
			last := 0
			_ = job.ReadRecordsFile(dir.Records(), func(r job.Record) {
				if r.Type == job.RecMetric && r.Name == "ssl_loss" {
					last = max(last, r.Epoch)
				}
			})
			for e := last + 1; e <= total; e++ {
				select {
				case <-time.After(every):
				case <-ctx.Done():
					return ctx.Err()
				}
				emit(job.Record{Type: job.RecMetric, Split: job.SplitTrain, Name: "ssl_loss", Epoch: e, Value: 10 - float64(e)})
			}
		case k == "quiet" && hit:
			// Silent but alive: only heartbeats go out.
			d, _ := time.ParseDuration(v)
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		case !hit:
		case k == "panic":
			panic("fake job panics")
		case k == "exit":
			os.Exit(3)
		case k == "kill":
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Signal(os.Kill)
			time.Sleep(time.Second)
		case k == "hang":
			// Wedged: the whole process stops, its heartbeats too.
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			select {}
		case k == "permanent":
			emit(job.Record{Type: job.RecError, Message: "bad configuration", Permanent: true})
			os.Exit(1)
		}
	}
	acc := fakeAccuracy(j)
	emit(job.Record{Type: job.RecMetric, Split: "test", Name: "accuracy_at_best_val", Value: acc})
	if j.Spec.Kind.IsProbe() {
		emit(job.Record{Type: job.RecMetric, Split: "test", Name: job.MetricAccSelected, Value: acc})
		if j.Spec.Kind == job.KindKNN {
			emit(job.Record{Type: job.RecMetric, Split: "test", Name: job.MetricKNN, Value: acc})
		}
	}
	return fakeOutputs(j.Spec.Kind, dir)
}

// fakeAccuracy is a fake probe's test accuracy: 0.5, or with
// SWEEP_FAKE_ACC=SPREAD, 0.8 plus SPREAD times a normal draw seeded by the
// job's ID, and for a DoGo peer of a pair of two architectures
// SWEEP_FAKE_EFFECT more (a planted gain).
func fakeAccuracy(j *job.Job) float64 {
	spread, err := strconv.ParseFloat(os.Getenv("SWEEP_FAKE_ACC"), 64)
	if err != nil {
		return 0.5
	}
	var seed uint64
	for _, c := range j.ID {
		seed = seed*131 + uint64(c)
	}
	acc := 0.8 + spread*rand.New(rand.NewPCG(seed, 7)).NormFloat64()
	if j.Spec.Method == job.MethodDoGo && j.Spec.PeerArch != j.Spec.Arch {
		effect, _ := strconv.ParseFloat(os.Getenv("SWEEP_FAKE_EFFECT"), 64)
		acc += effect
	}
	return acc
}

// fakeOutputs writes what a finished job of a kind holds: a checkpoint, or
// features (neither of them read by the fake jobs that follow).
func fakeOutputs(kind job.Kind, dir jobdir.Dir) error {
	switch kind {
	case job.KindPretrain:
		if err := os.MkdirAll(dir.Checkpoints(), 0o755); err != nil {
			return err
		}
		js, bin, _ := dir.CheckpointFiles("checkpoint-n0000000-fake")
		if err := os.WriteFile(bin, []byte("weights"), 0o644); err != nil {
			return err
		}
		return os.WriteFile(js, []byte("{}"), 0o644)
	case job.KindFeatures:
		return os.WriteFile(dir.Features(), []byte("features"), 0o644)
	}
	return nil
}

func fakeAttemptOver(attempt int) bool {
	n, err := strconv.Atoi(os.Getenv("SWEEP_FAKE_UNTIL"))
	return err == nil && attempt > n
}
