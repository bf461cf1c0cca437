package results

import "sort"

// SummaryRow is one evaluation of one encoder: the probe's configuration and
// its final numbers.
type SummaryRow struct {
	Job, Kind, Dataset, Objective, Method, Arch, Role, PeerArch string
	NoiseRate                                                   float64
	NoiseKind                                                   string
	Fraction                                                    float64
	Seed                                                        int64
	// AccBest is the test accuracy at the best-validation epoch (kNN: the kNN
	// accuracy); AccFinal at the final epoch.
	AccBest, AccFinal float64
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
		if j.Status == "done" && j.Kind != "pretrain" && j.Kind != "features" {
			done[key{j.Job, j.Attempt}] = j
		}
	}
	rows := map[key]*SummaryRow{}
	for k, j := range done {
		rows[k] = &SummaryRow{Job: j.Job, Kind: j.Kind, Dataset: j.Dataset, Objective: j.Objective, Method: j.Method,
			Arch: j.Arch, Role: j.Role, PeerArch: j.PeerArch, NoiseRate: j.NoiseRate, NoiseKind: j.NoiseKind,
			Fraction: j.Fraction, Seed: j.Seed, OOD: map[string]float64{}}
	}
	for _, m := range t.Metrics {
		r := rows[key{m.Job, m.Attempt}]
		if r == nil {
			continue
		}
		switch {
		case m.Split == "test" && (m.Name == "accuracy_at_best_val" || m.Name == "knn_accuracy"):
			r.AccBest = m.Value
			if m.Name == "knn_accuracy" {
				r.AccFinal = m.Value
			}
		case m.Split == "test" && m.Name == "accuracy_final":
			r.AccFinal = m.Value
		case len(m.Split) > 4 && m.Split[:4] == "ood:" && m.Name == "accuracy_at_best_val":
			r.OOD[m.Split[4:]] = m.Value
		}
	}
	out := make([]SummaryRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}
