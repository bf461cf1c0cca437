package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// fakeDispatch runs a fake job when SWEEP_FAKE_JOB is set, the real job
// otherwise. It lives in test code: the released binary has no fakes.
func fakeDispatch(jc jobContext) error {
	if fake := os.Getenv("SWEEP_FAKE_JOB"); fake != "" {
		return fakeJob(jc.ctx, fake, jc.job, jc.attempt, jc.emit)
	}
	return dispatch(jc)
}

// fakeJob stands in for a real job in the controller's tests
// (SWEEP_FAKE_JOB=behaviour[,behaviour...]): "sleep=DURATION" succeeds after
// a while; "quiet=DURATION" waits without a record (jobs whose name contains
// SWEEP_FAKE_MATCH); "panic", "exit", "kill" and "hang" fail in those ways for jobs whose
// name contains SWEEP_FAKE_MATCH, on attempts up to SWEEP_FAKE_UNTIL (default: all).
// With SWEEP_FAKE_LOG, each run appends the job's ID to that file.
func fakeJob(ctx context.Context, spec string, j *job.Job, attempt int, emit func(job.Record)) error {
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
			select {}
		case k == "permanent":
			emit(job.Record{Type: job.RecError, Message: "bad configuration", Permanent: true})
			os.Exit(1)
		}
	}
	emit(job.Record{Type: job.RecMetric, Split: "test", Name: "accuracy_at_best_val", Value: 0.5})
	return nil
}

func fakeAttemptOver(attempt int) bool {
	n, err := strconv.Atoi(os.Getenv("SWEEP_FAKE_UNTIL"))
	return err == nil && attempt > n
}
