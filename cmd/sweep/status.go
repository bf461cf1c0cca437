package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dogo-sweep/sweep/sweep"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run's jobs by state, and its failures with their last log lines",
		ArgsUsage: "RUN",
		Description: `Examples:
   sweep status runs/quickstart-1a2b3c4d`,
		Action: func(c *cli.Context) error {
			dir, err := oneArg(c, "RUN")
			if err != nil {
				return err
			}
			r, err := sweep.OpenRun(dir)
			if err != nil {
				return usageError{err}
			}
			states, err := sweep.ReadJournal(dir)
			if err != nil {
				return err
			}
			counts := map[string]int{}
			var failed []string
			for _, j := range r.Plan.Jobs {
				st := string(sweep.StatePending)
				if s, ok := states[j.ID]; ok {
					st = string(s.State)
					if s.State == sweep.StateGaveUp || s.State == sweep.StateFailed {
						failed = append(failed, fmt.Sprintf("%s (attempt %d): %s\n%s", j.Name, s.Last.Attempt, firstLine(s.Last.Error), indent(logTail(filepath.Join(r.JobDir(j), "log"), 3))))
					}
				}
				counts[string(j.Spec.Kind)+" "+st]++
			}
			out := c.App.Writer
			fmt.Fprintf(out, "%s: %d jobs\n", dir, len(r.Plan.Jobs))
			var keys []string
			for k := range counts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(out, "  %-24s %d\n", k, counts[k])
			}
			for _, f := range failed {
				fmt.Fprintln(out, "failed: "+f)
			}
			return nil
		},
	}
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
