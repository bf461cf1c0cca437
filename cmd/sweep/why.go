package main

import (
	"fmt"
	"io"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// explainMiss prints why a planned job is not in the store, down the jobs
// it depends on.
func explainMiss(w io.Writer, p *job.Plan, st *workspace.Store, ref string) error {
	j := p.Find(ref)
	if j == nil {
		return usageError{fmt.Errorf("plan: no job %q in this plan (give an ID or a name from `sweep plan`)", ref)}
	}
	if st == nil {
		fmt.Fprintf(w, "%s (%s): the workspace has no store yet, so nothing is reused.\n", j.ID, j.Name)
		return nil
	}
	return st.WriteMiss(w, p, j)
}
