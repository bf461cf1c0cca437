package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// explainMiss says why a planned job is not in the store: the stored job of
// its kind whose spec is closest, and each setting that differs. When what
// differs is the job it depends on, that job is explained in turn, so a
// miss always ends at a setting.
func explainMiss(w io.Writer, p *job.Plan, st *workspace.Store, ref string) error {
	j := findJob(p, ref)
	if j == nil {
		return usageError{fmt.Errorf("plan: no job %q in this plan (give an ID or a name from `sweep plan`)", ref)}
	}
	if st == nil {
		fmt.Fprintf(w, "%s (%s): the workspace has no store yet, so nothing is reused.\n", j.ID, j.Name)
		return nil
	}
	specs, err := storedSpecs(st)
	if err != nil {
		return err
	}
	for depth := 0; j != nil; depth++ {
		indent := strings.Repeat("  ", depth)
		if st.Finished(j.ID) {
			fmt.Fprintf(w, "%s%s (%s) is in the store (run by %s).\n", indent, j.ID, j.Name, st.Origin(j.ID))
			return nil
		}
		fmt.Fprintf(w, "%s%s (%s) is not in the store.\n", indent, j.ID, j.Name)
		id, diffs := closest(j.Spec, specs)
		if id == "" {
			fmt.Fprintf(w, "%s  The store holds no %s job to compare with.\n", indent, j.Spec.Kind)
			return nil
		}
		fmt.Fprintf(w, "%s  Closest stored %s job: %s (run by %s); what differs (this plan vs stored):\n", indent, j.Spec.Kind, id, orUnknown(st.Origin(id)))
		var next *job.Job
		for _, d := range diffs {
			fmt.Fprintf(w, "%s  - %s\n", indent, d.text)
			if d.dep != "" {
				next = p.Job(d.dep)
			}
		}
		if next == nil {
			return nil
		}
		fmt.Fprintf(w, "%s  It depends on a job that is not stored either:\n", indent)
		j = next
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

// storedSpecs reads the spec of every finished job in the store, by ID.
func storedSpecs(st *workspace.Store) (map[string]job.Spec, error) {
	ids, err := st.Entries()
	if err != nil {
		return nil, err
	}
	out := map[string]job.Spec{}
	for _, id := range ids {
		if sp, err := st.Spec(id); err == nil {
			out[id] = sp
		}
	}
	return out, nil
}

// difference is one setting in which two specs differ; dep is set when it
// is the job a job depends on (its parent or its features).
type difference struct {
	text string
	dep  string
}

// closest returns the stored spec of the same kind with the fewest
// differing settings, and those differences.
func closest(want job.Spec, specs map[string]job.Spec) (string, []difference) {
	ids := make([]string, 0, len(specs))
	for id := range specs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	bestID, best := "", []difference(nil)
	for _, id := range ids {
		sp := specs[id]
		if sp.Kind != want.Kind {
			continue
		}
		d := diffSpecs(want, sp)
		if bestID == "" || len(d) < len(best) {
			bestID, best = id, d
		}
	}
	return bestID, best
}

// diffSpecs lists the settings in which a planned spec differs from a
// stored one, in words.
func diffSpecs(plan, stored job.Spec) []difference {
	a, b := flatten(plan), flatten(stored)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []difference
	for _, k := range sortedKeys(keys) {
		x, y := a[k], b[k]
		if x == y {
			continue
		}
		switch {
		case k == "revision":
			out = append(out, difference{text: fmt.Sprintf("%s revision %s vs %s (what the %s code computes changed)", job.CodeOf(plan), orNone(x), orNone(y), job.CodeOf(plan))})
		case strings.HasPrefix(k, "data."):
			out = append(out, difference{text: fmt.Sprintf("data set %s: files differ (%s vs %s)", strings.TrimPrefix(k, "data."), short(x), short(y))})
		case k == "parent" || k == "features":
			out = append(out, difference{text: fmt.Sprintf("%s job %s vs %s", map[string]string{"parent": "pretraining", "features": "features"}[k], orNone(x), orNone(y)), dep: x})
		default:
			out = append(out, difference{text: fmt.Sprintf("%s %s vs %s", strings.TrimPrefix(strings.TrimPrefix(k, "pretrain."), "eval."), orNone(x), orNone(y))})
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return orNone(s)
}

// flatten turns a spec into dotted keys and text values ("pretrain.kd_weight": "100").
func flatten(s job.Spec) map[string]string {
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				walk(strings.TrimPrefix(prefix+"."+k, "."), y)
			}
		case []any:
			parts := make([]string, len(x))
			for i, y := range x {
				parts[i] = fmt.Sprint(y)
			}
			out[prefix] = "[" + strings.Join(parts, ", ") + "]"
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", m)
	return out
}
