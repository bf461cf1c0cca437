package workspace

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// Miss is one link of the explanation of a cache miss: a planned job, and
// either where the store holds it, or the closest stored job of its kind
// and every setting in which they differ.
type Miss struct {
	Job *job.Job
	// Stored: the store holds the job (committed by Origin): the chain ends.
	Stored bool
	Origin string
	// Closest is the stored job of the same kind whose spec differs least
	// ("" when the store holds none of that kind), committed by
	// ClosestOrigin; Diffs are the settings that differ ("kd_weight 10 vs
	// 100"), this plan's value first.
	Closest, ClosestOrigin string
	Diffs                  []string
}

// ExplainMiss explains why a planned job is not in the store: the stored
// job of its kind whose spec is closest, and each setting that differs.
// When what differs is the job it depends on, and that job is missing too,
// it is explained in turn, so that a miss always ends at a setting.
func (s *Store) ExplainMiss(p *job.Plan, j *job.Job) ([]Miss, error) {
	specs, err := s.storedSpecs()
	if err != nil {
		return nil, err
	}
	var out []Miss
	for j != nil {
		m := Miss{Job: j}
		if s.Finished(j.ID) {
			m.Stored, m.Origin = true, s.Origin(j.ID)
			return append(out, m), nil
		}
		var next *job.Job
		m.Closest, m.Diffs, next = closest(p, j.Spec, specs)
		if m.Closest != "" {
			m.ClosestOrigin = s.Origin(m.Closest)
		}
		out = append(out, m)
		j = next
	}
	return out, nil
}

// storedSpecs reads the spec of every job in the store, by ID.
func (s *Store) storedSpecs() (map[string]job.Spec, error) {
	ids, err := s.Entries()
	if err != nil {
		return nil, err
	}
	out := map[string]job.Spec{}
	for _, id := range ids {
		if sp, err := s.Entry(id).ReadSpec(); err == nil {
			out[id] = sp
		}
	}
	return out, nil
}

// closest returns the stored spec of the same kind with the fewest
// differing settings, those differences in words, and the planned job it
// depends on when that is one of them.
func closest(p *job.Plan, want job.Spec, specs map[string]job.Spec) (string, []string, *job.Job) {
	bestID, best := "", []string(nil)
	var next *job.Job
	for _, id := range slices.Sorted(maps.Keys(specs)) {
		sp := specs[id]
		if sp.Kind != want.Kind {
			continue
		}
		d, dep := diffSpecs(want, sp)
		if bestID == "" || len(d) < len(best) {
			bestID, best, next = id, d, nil
			if dep != "" {
				next = p.Job(dep)
			}
		}
	}
	return bestID, best, next
}

// diffSpecs lists the settings in which a planned spec differs from a
// stored one, in words, and the job it depends on when that differs.
func diffSpecs(plan, stored job.Spec) ([]string, string) {
	a, b := flatten(plan), flatten(stored)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	dep := ""
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		x, y := a[k], b[k]
		if x == y {
			continue
		}
		switch {
		case k == "revision":
			c := job.CodeOf(plan)
			out = append(out, fmt.Sprintf("%s revision %s vs %s (what the %s code computes changed)", c, orNone(x), orNone(y), c))
		case strings.HasPrefix(k, "data."):
			out = append(out, fmt.Sprintf("data set %s: files differ (%s vs %s)", strings.TrimPrefix(k, "data."), short(x), short(y)))
		case k == "parent" || k == "features":
			out = append(out, fmt.Sprintf("%s job %s vs %s", map[string]string{"parent": "pretraining", "features": "features"}[k], orNone(x), orNone(y)))
			dep = x
		default:
			out = append(out, fmt.Sprintf("%s %s vs %s", strings.TrimPrefix(strings.TrimPrefix(k, "pretrain."), "eval."), orNone(x), orNone(y)))
		}
	}
	return out, dep
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
