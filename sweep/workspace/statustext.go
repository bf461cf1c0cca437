package workspace

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/metrics"
)

// WriteDecisions says how many of a sequential sweep's cells are decided,
// and the seeds each has.
func WriteDecisions(out io.Writer, ds []CellDecision) {
	if len(ds) == 0 {
		return
	}
	decided := 0
	var cells []string
	for _, d := range ds {
		state := "undecided"
		switch {
		case d.Decided:
			decided++
			state = "decided"
		case d.Next > 0:
			state = fmt.Sprintf("undecided, seed %d next", d.Next)
		}
		cells = append(cells, fmt.Sprintf("  %s: %d seeds, %s", d.Cell, d.Seeds, state))
	}
	fmt.Fprintf(out, "sequential seeds: %d of %d cells decided\n%s\n", decided, len(ds), strings.Join(cells, "\n"))
}

// Write prints the status of the run in dir as sweep status does: jobs by
// kind and state, the controller, an ETA, running, interrupted and failed
// jobs.
func (s Status) Write(out io.Writer, dir string, now time.Time) {
	left := 0
	for _, n := range s.Left {
		left += n
	}
	fmt.Fprintf(out, "%s: %d jobs, %d done, %d to go\n", dir, s.Jobs, s.Done, left)
	switch {
	case s.Controller.Live:
		fmt.Fprintf(out, "controller: running (pid %d)\n", s.Controller.PID)
	case len(s.Interrupted) > 0:
		fmt.Fprintf(out, "controller: none holds the run: its %d running jobs were interrupted; launch the grid again (or sweep resume) to go on\n", len(s.Interrupted))
	}
	for _, k := range slices.Sorted(maps.Keys(s.ByKind)) {
		var parts []string
		for _, st := range []job.State{job.StateDone, job.StateRunning, job.StatePending, job.StateFailed, job.StateGaveUp, job.StateSkipped} {
			if n := s.ByKind[k][st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		fmt.Fprintf(out, "  %-9s %s\n", k, strings.Join(parts, ", "))
	}
	if s.Done > 0 && left > 0 {
		parallel := max(len(s.Running), 1)
		eta, untimed := metrics.ETA(s.Left, s.Durations, parallel)
		fmt.Fprintf(out, "ETA: about %s with %d jobs at a time (from finished jobs of each kind)", eta.Round(time.Second), parallel)
		if len(untimed) > 0 {
			n, kinds := 0, make([]string, len(untimed))
			for i, k := range untimed {
				n += s.Left[k]
				kinds[i] = string(k)
			}
			fmt.Fprintf(out, "; not counted: %d jobs of kinds none of which has finished yet (%s)", n, strings.Join(kinds, ", "))
		}
		fmt.Fprintln(out)
	}
	for _, rj := range s.Running {
		fmt.Fprintf(out, "running: %s: %s (for %s)\n", rj.Job.Name, progressText(rj.Last), now.Sub(rj.Since).Round(time.Second))
	}
	for _, rj := range s.Interrupted {
		fmt.Fprintf(out, "interrupted: %s: %s\n", rj.Job.Name, progressText(rj.Last))
	}
	for _, f := range s.Failed {
		fmt.Fprintf(out, "failed: %s (attempt %d): %s\n%s\n", f.Job.Name, f.Attempt, job.FirstLine(f.Error), indent(f.LogTail))
	}
}

// progressText is a progress record as text.
func progressText(r *job.Record) string {
	if r == nil {
		return "started"
	}
	return fmt.Sprintf("epoch %d/%d, step %d, loss %.4f, %.0f images/s", r.Epoch, r.Epochs, r.Step, r.Value, r.ImagesPerSec)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
