// Package progress shows a running sweep's progress to a person: on a
// terminal, a bar over all jobs and one per running job; otherwise a line
// every few seconds. It is a controller.Observer.
package progress

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Progress shows a sweep's progress. On a terminal: a bar over all jobs and
// one bar per running job (training steps for pretraining; a bar that fills
// when it ends for the short jobs). Otherwise: a line every few seconds.
type Progress struct {
	out     io.Writer
	bars    *mpb.Progress
	overall *mpb.Bar
	jobBars map[string]*mpb.Bar
	mu      sync.Mutex
	total   int
	done    int
	failed  int
	running map[string]string
	last    time.Time
	now     func() time.Time
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New shows the progress of a plan on out.
func New(out io.Writer, p *job.Plan) *Progress {
	pr := &Progress{out: out, total: len(p.Jobs), running: map[string]string{}, jobBars: map[string]*mpb.Bar{}, now: time.Now}
	if isTerminal(out) {
		pr.bars = mpb.New(mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithRefreshRate(250*time.Millisecond))
		pr.overall = pr.bars.AddBar(int64(len(p.Jobs)),
			mpb.PrependDecorators(decor.Name("all jobs ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
			mpb.BarPriority(-1))
	}
	return pr
}

// JobStarted adds a running job (and its bar).
func (p *Progress) JobStarted(j *job.Job, attempt int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = j.Name
	if p.bars != nil {
		p.jobBars[j.ID] = p.bars.AddBar(1,
			mpb.PrependDecorators(decor.Name(shortName(j), decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)),
			mpb.BarRemoveOnComplete())
	}
	p.show()
}

func shortName(j *job.Job) string {
	n := j.Name
	if len(n) > 48 {
		n = n[:48]
	}
	return n
}

// JobRecord follows a running job's training progress.
func (p *Progress) JobRecord(j *job.Job, attempt int, r job.Record) {
	if r.Type != job.RecProgress {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = fmt.Sprintf("%s %s epoch %d/%d loss %.3f %.0f img/s", j.Spec.Method, j.Spec.ArchLabel(), r.Epoch, r.Epochs, r.Value, r.ImagesPerSec)
	if b := p.jobBars[j.ID]; b != nil && r.Steps > 0 {
		b.SetTotal(r.Steps, false)
		b.SetCurrent(r.Step)
	}
	p.show()
}

// JobEnded counts a job done or failed. It prints no line: the next job
// starts at once, and a line printed between the two would count one
// running job too few.
func (p *Progress) JobEnded(j *job.Job, attempt int, st job.State, err error, start, end time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, j.ID)
	if b := p.jobBars[j.ID]; b != nil {
		b.Abort(true)
		delete(p.jobBars, j.ID)
	}
	switch {
	case st == job.StateDone:
		p.done++
		if p.overall != nil {
			p.overall.Increment()
		}
	case st != job.StateStopped:
		p.failed++
	}
}

// show prints a line at most every 5 s when there are no bars.
func (p *Progress) show() {
	if p.bars != nil || p.now().Sub(p.last) < 5*time.Second {
		return
	}
	p.last = p.now()
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
	fmt.Fprintf(p.out, "[%s] %d/%d jobs done, %s\n", p.last.Format("15:04:05"), p.done, p.total, desc)
}

// Finish ends the bars, before the sweep's summary is printed.
func (p *Progress) Finish() {
	p.mu.Lock()
	bars := p.bars
	if bars != nil {
		for id, b := range p.jobBars {
			b.Abort(true)
			delete(p.jobBars, id)
		}
		p.overall.Abort(false)
	}
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}
