package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// explainMiss prints why a planned job is not in the store, down the jobs
// it depends on (workspace.ExplainMiss).
func explainMiss(w io.Writer, p *job.Plan, st *workspace.Store, ref string) error {
	j := findJob(p, ref)
	if j == nil {
		return usageError{fmt.Errorf("plan: no job %q in this plan (give an ID or a name from `sweep plan`)", ref)}
	}
	if st == nil {
		fmt.Fprintf(w, "%s (%s): the workspace has no store yet, so nothing is reused.\n", j.ID, j.Name)
		return nil
	}
	chain, err := st.ExplainMiss(p, j)
	if err != nil {
		return err
	}
	for depth, m := range chain {
		indent := strings.Repeat("  ", depth)
		if depth > 0 {
			fmt.Fprintf(w, "%s  It depends on a job that is not stored either:\n", strings.Repeat("  ", depth-1))
		}
		if m.Stored {
			fmt.Fprintf(w, "%s%s (%s) is in the store (run by %s).\n", indent, m.Job.ID, m.Job.Name, m.Origin)
			continue
		}
		fmt.Fprintf(w, "%s%s (%s) is not in the store.\n", indent, m.Job.ID, m.Job.Name)
		if m.Closest == "" {
			fmt.Fprintf(w, "%s  The store holds no %s job to compare with.\n", indent, m.Job.Spec.Kind)
			continue
		}
		fmt.Fprintf(w, "%s  Closest stored %s job: %s (run by %s); what differs (this plan vs stored):\n", indent, m.Job.Spec.Kind, m.Closest, orUnknown(m.ClosestOrigin))
		for _, d := range m.Diffs {
			fmt.Fprintf(w, "%s  - %s\n", indent, d)
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown sweep"
	}
	return s
}

func findJob(p *job.Plan, ref string) *job.Job {
	if j := p.Job(ref); j != nil {
		return j
	}
	for _, j := range p.Jobs {
		if j.Name == ref || strings.HasPrefix(j.ID, ref) && len(ref) >= 6 {
			return j
		}
	}
	return nil
}
