package results

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
)

// SummaryJSON is a summary row as `sweep results --format json` prints it,
// accuracies in percent; the CSV has the same columns, an OOD set each.
type SummaryJSON struct {
	Job       string  `json:"job"`
	Kind      string  `json:"kind"`
	Dataset   string  `json:"dataset"`
	Objective string  `json:"objective"`
	Method    string  `json:"method"`
	Arch      string  `json:"arch"`
	Role      string  `json:"role"`
	PeerArch  string  `json:"peer_arch,omitempty"`
	NoiseRate float64 `json:"noise_rate"`
	NoiseKind string  `json:"noise_kind,omitempty"`
	Fraction  float64 `json:"fraction"`
	Seed      int64   `json:"seed"`
	AccBest   float64 `json:"acc_best_val_pct"`
	AccFinal  float64 `json:"acc_final_pct"`
	// AccSelected is the one the report uses (see SummaryRow).
	AccSelected float64            `json:"acc_selected_pct"`
	OOD         map[string]float64 `json:"ood_acc_best_val_pct,omitempty"`
}

func summaryJSON(s SummaryRow) SummaryJSON {
	r := SummaryJSON{Job: s.Job, Kind: string(s.Kind), Dataset: s.Dataset, Objective: s.Objective, Method: s.Method, Arch: s.Arch, Role: s.Role,
		PeerArch: s.PeerArch, NoiseRate: s.NoiseRate, NoiseKind: s.NoiseKind, Fraction: s.Fraction, Seed: s.Seed,
		AccBest: pct2(s.AccBest), AccFinal: pct2(s.AccFinal), AccSelected: pct2(s.AccSelected)}
	if len(s.OOD) > 0 {
		r.OOD = map[string]float64{}
		for k, v := range s.OOD {
			r.OOD[k] = pct2(v)
		}
	}
	return r
}

// WriteSummary prints summary rows as a table, CSV or JSON (format); the
// CSV and the JSON hold the same values.
func WriteSummary(w io.Writer, sum []SummaryRow, format string) error {
	switch format {
	case "json":
		rows := make([]SummaryJSON, len(sum))
		for i, s := range sum {
			rows[i] = summaryJSON(s)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		sets := map[string]bool{}
		for _, s := range sum {
			for o := range s.OOD {
				sets[o] = true
			}
		}
		oods := slices.Sorted(maps.Keys(sets))
		cw := csv.NewWriter(w)
		head := []string{"job", "kind", "dataset", "objective", "method", "arch", "role", "peer_arch", "noise_rate", "noise_kind", "fraction", "seed",
			"acc_best_val_pct", "acc_final_pct", "acc_selected_pct"}
		for _, o := range oods {
			head = append(head, "ood_acc_best_val_pct:"+o)
		}
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, s := range sum {
			r := summaryJSON(s)
			rec := []string{r.Job, r.Kind, r.Dataset, r.Objective, r.Method, r.Arch, r.Role, r.PeerArch, ff(r.NoiseRate), r.NoiseKind, ff(r.Fraction),
				strconv.FormatInt(r.Seed, 10), ff(r.AccBest), ff(r.AccFinal), ff(r.AccSelected)}
			for _, o := range oods {
				v := ""
				if x, ok := r.OOD[o]; ok {
					v = ff(x)
				}
				rec = append(rec, v)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tDATASET\tMETHOD\tARCH\tROLE\tNOISE\tLABELS\tSEED\tBEST-VAL ACC %\tFINAL ACC %\tREPORTED ACC %")
		for _, s := range sum {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g%% %s\t%g%%\t%d\t%.2f\t%.2f\t%.2f\n", s.Kind, s.Dataset, s.Method, s.Arch, s.Role,
				s.NoiseRate*100, s.NoiseKind, s.Fraction*100, s.Seed, 100*s.AccBest, 100*s.AccFinal, 100*s.AccSelected)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (table, csv or json)", format)
}

// pct2 is a fraction in percent, to 0.01.
func pct2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(100*f, 'f', 2, 64), 64)
	return v
}

func ff(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
