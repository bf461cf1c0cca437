package workspace

import (
	"fmt"
	"io"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// WriteMiss prints why job j of plan p is not in the store, down the jobs
// it depends on (ExplainMiss), as sweep plan --why does.
func (s *Store) WriteMiss(w io.Writer, p *job.Plan, j *job.Job) error {
	chain, err := s.ExplainMiss(p, j)
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
