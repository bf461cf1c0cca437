package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/dogo-sweep/sweep/sweep"
	"github.com/schollz/progressbar/v3"
)

// progress shows a sweep's progress: on a terminal, a bar over all jobs with
// the running jobs' own progress beside it; otherwise a line every few seconds.
type progress struct {
	out     io.Writer
	bar     *progressbar.ProgressBar
	mu      sync.Mutex
	total   int
	done    int
	failed  int
	running map[string]string
	last    time.Time
}

func newProgress(out io.Writer, p *sweep.Plan, alreadyDone int) *progress {
	pr := &progress{out: out, total: len(p.Jobs), done: alreadyDone, running: map[string]string{}}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			pr.bar = progressbar.NewOptions(len(p.Jobs),
				progressbar.OptionSetWriter(out),
				progressbar.OptionSetDescription("jobs"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionClearOnFinish())
			_ = pr.bar.Set(alreadyDone)
		}
	}
	return pr
}

func (p *progress) JobStarted(j *sweep.Job, attempt int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = j.Name
	p.show()
}

func (p *progress) JobRecord(j *sweep.Job, attempt int, r sweep.Record) {
	if r.Type != sweep.RecProgress {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = fmt.Sprintf("%s %d/%d loss %.3f %.0f img/s", j.Spec.Method+" "+joinArchs(j.Spec.Archs), r.Epoch, r.Epochs, r.Value, r.ImagesPerSec)
	p.show()
}

func (p *progress) JobEnded(j *sweep.Job, attempt int, st sweep.State, err error, start, end time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, j.ID)
	if st == sweep.StateDone {
		p.done++
		if p.bar != nil {
			_ = p.bar.Add(1)
		}
	} else {
		p.failed++
	}
	p.show()
}

// show updates the bar's description, or prints a line at most every 5 s.
func (p *progress) show() {
	var names []string
	for _, s := range p.running {
		names = append(names, s)
	}
	sort.Strings(names)
	desc := fmt.Sprintf("%d running, %d failed attempts", len(p.running), p.failed)
	for i, s := range names {
		if i == 2 {
			desc += fmt.Sprintf(" | +%d more", len(names)-2)
			break
		}
		desc += " | " + s
	}
	if p.bar != nil {
		p.bar.Describe(desc)
		return
	}
	if time.Since(p.last) < 5*time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.out, "[%s] %d/%d jobs done, %s\n", time.Now().Format("15:04:05"), p.done, p.total, desc)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
