package progress

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// Without a terminal, a line every 5 s: it counts the jobs that run, also
// when one ends and the next starts (the line comes with the start, never
// between the two).
func TestLineCountsWhatRuns(t *testing.T) {
	var jobs []*job.Job
	for i := range 4 {
		jobs = append(jobs, &job.Job{ID: fmt.Sprint(i), Name: fmt.Sprint("knn-", i), Spec: job.Spec{Kind: job.KindKNN}})
	}
	var out bytes.Buffer
	p := New(&out, &job.Plan{Jobs: jobs})
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return clock }
	p.JobStarted(jobs[0], 1)
	clock = clock.Add(time.Second)
	p.JobStarted(jobs[1], 1)
	for i := 2; i < 4; i++ {
		clock = clock.Add(6 * time.Second)
		p.JobEnded(jobs[i-2], 1, job.StateDone, nil, time.Time{}, time.Time{})
		p.JobStarted(jobs[i], 1)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"[10:00:00] 0/4 jobs done, 1 running, 0 failed attempts | knn-0",
		"[10:00:07] 1/4 jobs done, 2 running, 0 failed attempts | knn-1 | knn-2",
		"[10:00:13] 2/4 jobs done, 2 running, 0 failed attempts | knn-2 | knn-3",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
}
