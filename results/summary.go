package results

import (
	"cmp"
	"sort"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// SummaryRow is one evaluation of one encoder: the probe's configuration and
// its final numbers.
type SummaryRow struct {
	Job                                              string
	Kind                                             job.Kind
	Dataset, Objective, Method, Arch, Role, PeerArch string
	NoiseRate                                        float64
	NoiseKind                                        string
	Fraction                                         float64
	Seed                                             int64
	// AccBest is the test accuracy at the best-validation epoch (kNN: the kNN
	// accuracy); AccFinal at the final epoch; AccSelected the one the probe
	// reports (best-validation, or final when its validation split was too
	// small; AccBest for results written before the rule).
	AccBest, AccFinal, AccSelected float64
	// OOD accuracy at the best-validation epoch, by set.
	OOD map[string]float64
}

// Summary derives one row per finished probe or kNN job from the tables.
func Summary(t *Tables) []SummaryRow {
	type key struct {
		job     string
		attempt int64
	}
	done := map[key]JobRow{}
	for _, j := range t.Jobs {
		if j.Status == string(job.StateDone) && job.Kind(j.Kind).IsProbe() {
			done[key{j.Job, j.Attempt}] = j
		}
	}
	rows := map[key]*SummaryRow{}
	for k, j := range done {
		rows[k] = &SummaryRow{Job: j.Job, Kind: job.Kind(j.Kind), Dataset: j.Dataset, Objective: j.Objective, Method: j.Method,
			Arch: j.Arch, Role: j.Role, PeerArch: j.PeerArch, NoiseRate: j.NoiseRate, NoiseKind: j.NoiseKind,
			Fraction: j.Fraction, Seed: j.Seed, OOD: map[string]float64{}}
	}
	hasSelected := map[key]bool{}
	for _, m := range t.Metrics {
		r := rows[key{m.Job, m.Attempt}]
		if r == nil {
			continue
		}
		switch {
		case m.Split == job.SplitTest && m.Name == job.MetricAccSelected:
			r.AccSelected = m.Value
			hasSelected[key{m.Job, m.Attempt}] = true
		case m.Split == job.SplitTest && (m.Name == job.MetricAccBest || m.Name == job.MetricKNN):
			r.AccBest = m.Value
			if m.Name == job.MetricKNN {
				r.AccFinal = m.Value
			}
		case m.Split == job.SplitTest && m.Name == job.MetricAccFinal:
			r.AccFinal = m.Value
		case m.Name == job.MetricAccBest:
			if set, ok := job.OODSet(m.Split); ok {
				r.OOD[set] = m.Value
			}
		}
	}
	out := make([]SummaryRow, 0, len(rows))
	for k, r := range rows {
		if !hasSelected[k] {
			r.AccSelected = r.AccBest
		}
		out = append(out, *r)
	}
	// Grouped as a reader scans them: by data set, objective, probe, then
	// encoder, labels and seed.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := cmp.Or(
			cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Objective, b.Objective), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Role, b.Role), cmp.Compare(a.PeerArch, b.PeerArch),
			cmp.Compare(a.NoiseKind, b.NoiseKind), cmp.Compare(a.NoiseRate, b.NoiseRate), cmp.Compare(a.Fraction, b.Fraction),
			cmp.Compare(a.Seed, b.Seed)); c != 0 {
			return c < 0
		}
		return a.Job < b.Job
	})
	return out
}
