// Package verdict decides a comparison of paired results (DoGo minus solo,
// one difference per seed) in one of four words, with statistics that stay
// valid when the number of seeds is chosen while looking at the results,
// and corrects the claims of many comparisons for their number.
//
// The rule, to cite. A sequential comparison is looked at after each seed
// from min to max: K = max - min + 1 looks. Its two-sided t-interval is
// taken at level alpha/50 at every look before the last (0.001 for alpha
// 0.05) and at alpha - (K-1) alpha/50 at the last: the Haybittle-Peto
// boundary (Haybittle 1971; Peto et al. 1976) in its exact form, a split of
// alpha over the looks whose parts sum to alpha, so that by the union bound
// the probability that any look claims a difference that is not there is at
// most alpha, whatever rule stops the looking. A fixed-seed comparison has
// one look at level alpha. The verdict at a look:
//   - gain: the interval lies above zero; loss: below zero;
//   - equivalent: it lies within (-margin, +margin) (two one-sided tests,
//     Schuirmann 1987, at the same level);
//   - undecided: neither.
//
// The split was chosen by simulation (TestSequentialErrorRateAndSeeds): an
// equal split (alpha/K at every look) stops earlier for large effects but
// loses power at small ones; this one keeps nearly the power of a fixed
// design with max seeds and stops early where a difference is plain.
//
// Over a report's many comparisons, the gain and loss claims are corrected
// by Holm's step-down method (Holm 1979) on each comparison's p-value,
// scaled to its look's level (p * alpha / level), which keeps the
// probability of any false gain or loss among them at most alpha.
package verdict

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// The verdicts.
const (
	Gain       = "gain"
	Loss       = "loss"
	Equivalent = "equivalent"
	Undecided  = "undecided"
)

// Rule is how comparisons are decided.
type Rule struct {
	// Alpha is the error rate each comparison's claim keeps over all its
	// looks (and Holm's family-wise rate over comparisons): 0.05.
	Alpha float64
	// Margin is the difference that counts as none, in the units of the
	// differences (0.005: half an accuracy point).
	Margin float64
	// Min and Max are a sequential design's seeds (Max 0: fixed seeds, one
	// look).
	Min, Max int
}

// Level is the two-sided level of the look at n seeds.
func (r Rule) Level(n int) float64 {
	if r.Max <= r.Min {
		return r.Alpha
	}
	interim := r.Alpha / 50
	if n >= r.Max {
		return r.Alpha - float64(r.Max-r.Min)*interim
	}
	return interim
}

// Decision is a comparison's verdict over its seeds.
type Decision struct {
	Word string
	// N is the number of paired differences (seeds).
	N int
	// Mean is their mean; Half the half-width of the interval at the
	// look's level (NaN with fewer than two seeds).
	Mean, Half float64
	// Level is the look's two-sided level.
	Level float64
	// P is the two-sided p-value of "no difference", scaled to the look's
	// level (p * Alpha / Level, at most 1; 1 with fewer than two seeds):
	// the comparison claims a difference when P <= Alpha.
	P float64
}

// Decide gives the verdict of paired differences d.
func (r Rule) Decide(d []float64) Decision {
	out := Decision{Word: Undecided, N: len(d), Mean: math.NaN(), Half: math.NaN(), Level: r.Level(len(d)), P: 1}
	if len(d) == 0 {
		return out
	}
	out.Mean = stat.Mean(d, nil)
	if len(d) < 2 {
		return out
	}
	sd := stat.StdDev(d, nil)
	se := sd / math.Sqrt(float64(len(d)))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(d) - 1)}
	out.Half = t.Quantile(1-out.Level/2) * se
	switch {
	case se == 0 && out.Mean == 0:
		out.P = 1
	case se == 0:
		out.P = 0
	default:
		out.P = math.Min(1, 2*t.Survival(math.Abs(out.Mean)/se)*r.Alpha/out.Level)
	}
	lo, hi := out.Mean-out.Half, out.Mean+out.Half
	switch {
	case lo > 0:
		out.Word = Gain
	case hi < 0:
		out.Word = Loss
	case lo > -r.Margin && hi < r.Margin:
		out.Word = Equivalent
	}
	return out
}

// Holm returns which of the hypotheses with p-values ps Holm's step-down
// method rejects at family-wise level alpha: sorted ascending, the i-th
// smallest (from 0) is rejected while p <= alpha / (m - i).
func Holm(ps []float64, alpha float64) []bool {
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	out := make([]bool, len(ps))
	for i, j := range order {
		if ps[j] > alpha/float64(len(ps)-i) {
			break
		}
		out[j] = true
	}
	return out
}
