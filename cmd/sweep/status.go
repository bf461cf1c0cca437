package main

import (
	"fmt"
	"io"
	"sort"
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
			if err := printStatus(c.App.Writer, r, h.States, time.Now()); err != nil {
				return err
			}
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

func printStatus(out io.Writer, r *workspace.Run, states map[string]*workspace.JobState, now time.Time) error {
	counts := map[string]map[string]int{}
	var failed, running []string
	durations := map[job.Kind][]time.Duration{}
	leftByKind := map[job.Kind]int{}
	done, left := 0, 0
	for _, j := range r.Plan.Jobs {
		st := string(job.StatePending)
		s, ok := states[j.ID]
		if ok {
			st = string(s.State)
		}
		k := string(j.Spec.Kind)
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][st]++
		switch {
		case ok && s.State == job.StateDone:
			done++
			if !s.Started.IsZero() {
				durations[j.Spec.Kind] = append(durations[j.Spec.Kind], s.Last.Time.Sub(s.Started))
			}
		case ok && (s.State == job.StateGaveUp || s.State == job.StateFailed):
			failed = append(failed, fmt.Sprintf("%s (attempt %d): %s\n%s", j.Name, s.Last.Attempt, firstLine(s.Last.Error),
				indent(workspace.LogTail(r.JobDir(j).Log(), 3))))
			if s.State == job.StateFailed {
				left++
				leftByKind[j.Spec.Kind]++
			}
		case ok && s.State == job.StateRunning:
			running = append(running, fmt.Sprintf("%s: %s (for %s)", j.Name, lastProgress(r.JobDir(j).Records(), s.Last.Attempt),
				now.Sub(s.Started).Round(time.Second)))
			left++
			leftByKind[j.Spec.Kind]++
		case !ok || s.State == job.StatePending:
			left++
			leftByKind[j.Spec.Kind]++
		}
	}
	fmt.Fprintf(out, "%s: %d jobs, %d done, %d to go\n", r.Dir, len(r.Plan.Jobs), done, left)
	var kinds []string
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for _, st := range []string{"done", "running", "pending", "failed", "gave_up", "skipped"} {
			if n := counts[k][st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		fmt.Fprintf(out, "  %-9s %s\n", k, strings.Join(parts, ", "))
	}
	if done > 0 && left > 0 {
		eta, untimed := metrics.ETA(leftByKind, durations, len(running))
		fmt.Fprintf(out, "ETA: about %s with %d jobs at a time (from finished jobs of each kind)", eta.Round(time.Second), max(len(running), 1))
		if len(untimed) > 0 {
			fmt.Fprintf(out, ", not counting %v jobs, none of which has finished yet", untimed)
		}
		fmt.Fprintln(out)
	}
	for _, s := range running {
		fmt.Fprintln(out, "running: "+s)
	}
	for _, f := range failed {
		fmt.Fprintln(out, "failed: "+f)
	}
	return nil
}

// lastProgress is the newest progress record of an attempt of a job, as text.
func lastProgress(path string, attempt int) string {
	var last *job.Record
	_ = job.ReadRecordsFile(path, func(r job.Record) {
		if r.Type == job.RecProgress && r.Attempt == attempt {
			last = &r
		}
	})
	if last == nil {
		return "started"
	}
	return fmt.Sprintf("epoch %d/%d, step %d, loss %.4f, %.0f images/s", last.Epoch, last.Epochs, last.Step, last.Value, last.ImagesPerSec)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
