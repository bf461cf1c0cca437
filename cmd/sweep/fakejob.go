package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dogo-sweep/sweep/sweep"
)

// fakeJob stands in for a real job in the controller's tests
// (SWEEP_FAKE_JOB=behaviour[,behaviour...]): "sleep=DURATION" succeeds after
// a while; "quiet=DURATION" waits without a record (jobs whose name contains
// SWEEP_FAKE_MATCH); "panic", "exit", "kill" and "hang" fail in those ways for jobs whose
// name contains SWEEP_FAKE_MATCH, on attempts up to SWEEP_FAKE_UNTIL (default: all).
func fakeJob(ctx context.Context, spec string, j *sweep.Job, emit func(sweep.Record)) error {
	match := os.Getenv("SWEEP_FAKE_MATCH")
	hit := match != "" && strings.Contains(j.Name, match)
	for _, b := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(b, "=")
		switch {
		case k == "sleep":
			d, _ := time.ParseDuration(v)
			emit(sweep.Record{Type: sweep.RecProgress, Step: 1, Name: "loss", Value: 1})
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
		case !hit || fakeAttemptOver():
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
			emit(sweep.Record{Type: sweep.RecError, Message: "bad configuration", Permanent: true})
			os.Exit(1)
		}
	}
	emit(sweep.Record{Type: sweep.RecMetric, Split: "test", Name: "accuracy_at_best_val", Value: 0.5})
	return nil
}

func fakeAttemptOver() bool {
	until := os.Getenv("SWEEP_FAKE_UNTIL")
	if until == "" {
		return false
	}
	var n, a int
	fmt.Sscan(until, &n)
	for i, s := range os.Args {
		if s == "--attempt" && i+1 < len(os.Args) {
			fmt.Sscan(os.Args[i+1], &a)
		}
	}
	return a > n
}
