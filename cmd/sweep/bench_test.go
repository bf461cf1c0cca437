package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkControllerOverhead runs a sweep of zero-length fake jobs through
// the real controller and child processes on 2 slots: every second of it is
// overhead (scheduling, process start, journal, Parquet part, metrics). It
// reports the overhead per job and the slot utilization that overhead
// implies for jobs of 10 s.
func BenchmarkControllerOverhead(b *testing.B) {
	seeds := "["
	for i := 0; i < 23; i++ {
		if i > 0 {
			seeds += ", "
		}
		seeds += fmt.Sprint(i)
	}
	grid := "name: ctl\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: " + seeds + "]\nreferences: []\n"
	const slots = 2
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		g := writeGrid(b, dir, grid)
		start := time.Now()
		out, err := sweepCmd(b, dir, []string{"SWEEP_FAKE_JOB=sleep=0s"}, "launch", "--runs", "runs", "--cpus", fmt.Sprint(slots), "--metrics-addr", "off", g).CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		wall := time.Since(start)
		_, plan := readJournal(b, filepath.Join(dir, "runs"))
		jobs := len(plan.Jobs)
		perJob := wall.Seconds() * slots / float64(jobs)
		b.ReportMetric(float64(jobs), "jobs")
		b.ReportMetric(1000*perJob, "ms-overhead/job")
		b.ReportMetric(100*10/(10+perJob), "%util-10s-jobs")
	}
}
