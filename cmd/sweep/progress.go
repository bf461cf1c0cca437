package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dogo-sweep/sweep/sweep"
)

// progress prints the sweep's progress: one line every few seconds, or a
// live line when standard output is a terminal.
type progress struct {
	out     io.Writer
	tty     bool
	mu      sync.Mutex
	total   int
	done    int
	failed  int
	running map[string]string
	last    time.Time
}

func newProgress(out io.Writer, p *sweep.Plan) *progress {
	tty := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{out: out, tty: tty, total: len(p.Jobs), running: map[string]string{}}
}

func (p *progress) JobStarted(j *sweep.Job, attempt int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = j.Name
	p.print(false)
}

func (p *progress) JobRecord(j *sweep.Job, attempt int, r sweep.Record) {
	if r.Type != sweep.RecProgress {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.ID] = fmt.Sprintf("%s epoch %d/%d loss %.3f %.0f img/s", j.Name, r.Epoch, r.Epochs, r.Value, r.ImagesPerSec)
	p.print(false)
}

func (p *progress) JobEnded(j *sweep.Job, attempt int, st sweep.State, err error, start, end time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, j.ID)
	if st == sweep.StateDone {
		p.done++
	} else {
		p.failed++
	}
	p.print(false)
}

func (p *progress) print(force bool) {
	if !force && time.Since(p.last) < 5*time.Second && !p.tty {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("[%s] %d/%d jobs finished this run, %d failed attempts, %d running", time.Now().Format("15:04:05"), p.done, p.total, p.failed, len(p.running))
	for _, s := range p.running {
		if len(s) > 0 {
			line += " | " + s
			break
		}
	}
	if p.tty {
		if len(line) > 160 {
			line = line[:160]
		}
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.out, line)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintln(p.out)
	}
}
