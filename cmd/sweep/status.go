package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/metrics"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run's jobs by state, running jobs' progress, an ETA, and failures with their last log lines",
		ArgsUsage: "RUN",
		Description: `Reads the run folder only: it works while the sweep runs, after it ended, or after a crash.

Examples:
   sweep status runs/quickstart-1a2b3c4d`,
		Action: func(c *cli.Context) error {
			r, err := runArg(c)
			if err != nil {
				return err
			}
			h, err := workspace.ReadJournal(r.Dir)
			if err != nil {
				return err
			}
			if h.Skipped > 0 {
				fmt.Fprintf(c.App.Writer, "(%d journal lines could not be read and were skipped)\n", h.Skipped)
			}
			if err := printStatus(c.App.Writer, r, h, time.Now()); err != nil {
				return err
			}
			printDecisions(c.App.Writer, h.LastDecisions())
			for _, w := range h.Warnings {
				name := w.Job
				if j := r.Plan.Job(w.Job); j != nil {
					name = j.Name
				}
				if w.Quarantine != "" {
					fmt.Fprintf(c.App.Writer, "quarantined: %s: %s; moved to %s (the job ran again)\n", name, w.Warning, w.Quarantine)
					continue
				}
				fmt.Fprintf(c.App.Writer, "warning: %s (attempt %d): %s\n", name, w.Attempt, w.Warning)
			}
			return nil
		},
	}
}

// printDecisions says how many of a sequential sweep's cells are decided,
// and the seeds each has.
func printDecisions(out io.Writer, ds []workspace.CellDecision) {
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

func printStatus(out io.Writer, r *workspace.Run, h workspace.History, now time.Time) error {
	s := r.Status(h)
	left := 0
	for _, n := range s.Left {
		left += n
	}
	fmt.Fprintf(out, "%s: %d jobs, %d done, %d to go\n", r.Dir, s.Jobs, s.Done, left)
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
	return nil
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
