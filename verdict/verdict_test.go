package verdict

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Values computed by hand: with 2 degrees of freedom Student's t has the
// closed form F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
func TestDecideByHand(t *testing.T) {
	// d = 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t = 2 sqrt(3) = sqrt(12).
	// p = 2 (1/2 - sqrt(12) / (2 sqrt(14))) = 1 - sqrt(12/14) = 0.0741799...
	// The 97.5% quantile solves t^2 = 0.95^2 (2 + t^2) / ... : 4.3026527...
	one := Rule{Alpha: 0.05, Margin: 0.5}.Decide([]float64{1, 2, 3})
	if math.Abs(one.P-(1-math.Sqrt(12.0/14))) > 1e-9 {
		t.Errorf("p = %.9f, want %.9f", one.P, 1-math.Sqrt(12.0/14))
	}
	q := math.Sqrt(2 * 0.95 * 0.95 / (1 - 0.95*0.95)) // F(q) = 0.975
	if math.Abs(one.Half-q/math.Sqrt(3)) > 1e-9 || one.Mean != 2 || one.Word != Undecided {
		t.Errorf("got %+v, want mean 2, half %.9f, undecided", one, q/math.Sqrt(3))
	}
	// A sequential design of 3 to 4 seeds: at its last look (n = 4 = max)
	// the level is 0.05 - 0.001 = 0.049; at n = 3 it is 0.001, and the
	// p-value is scaled by 0.05/0.001.
	seq := Rule{Alpha: 0.05, Margin: 0.5, Min: 3, Max: 4}
	if l3, l4 := seq.Level(3), seq.Level(4); math.Abs(l3-0.001) > 1e-15 || math.Abs(l4-0.049) > 1e-15 {
		t.Errorf("levels %g and %g, want 0.001 and 0.049", l3, l4)
	}
	early := seq.Decide([]float64{1, 2, 3})
	q3 := math.Sqrt(2 * 0.999 * 0.999 / (1 - 0.999*0.999)) // F(q) = 1 - 0.001/2
	if math.Abs(early.Half-q3/math.Sqrt(3)) > 1e-6 || math.Abs(early.P-math.Min(1, one.P*50)) > 1e-12 {
		t.Errorf("early look: %+v, want half %.9f and p %.9f", early, q3/math.Sqrt(3), math.Min(1, one.P*50))
	}
}

func TestDecideWords(t *testing.T) {
	r := Rule{Alpha: 0.05, Margin: 0.005}
	for _, tc := range []struct {
		d    []float64
		want string
	}{
		{[]float64{0.03, 0.031, 0.029, 0.03}, Gain},
		{[]float64{-0.03, -0.031, -0.029, -0.03}, Loss},
		{[]float64{0.001, -0.001, 0.0005, -0.0005, 0}, Equivalent},
		{[]float64{0.01, -0.01, 0.02}, Undecided},
		{[]float64{0.02}, Undecided}, // one seed: no interval
		{nil, Undecided},
		{[]float64{0.01, 0.01}, Gain},        // no spread, above zero
		{[]float64{0, 0, 0}, Equivalent},     // no spread, no difference
		{[]float64{0.004, 0.006}, Undecided}, // inside the margin on average, not by its interval
	} {
		if got := r.Decide(tc.d); got.Word != tc.want {
			t.Errorf("%v: %s (%+v), want %s", tc.d, got.Word, got, tc.want)
		}
	}
}

func TestHolmByHand(t *testing.T) {
	// Sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop.
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005}, 0.05)
	if fmt.Sprint(got) != "[true false false true]" {
		t.Errorf("Holm = %v", got)
	}
	if got := Holm([]float64{0.04, 0.04}, 0.05); fmt.Sprint(got) != "[false false]" {
		t.Errorf("Holm = %v", got)
	}
	if got := Holm(nil, 0.05); len(got) != 0 {
		t.Errorf("Holm(nil) = %v", got)
	}
}

// sigma is the spread of the quickstart's paired differences (DoGo minus
// solo, per seed, in accuracy): their standard deviations over 5 seeds were
// 0.2-1.1 points on clean test images (the headline and kNN tables); 0.6
// points is typical.
const sigma = 0.006

// sequential runs one simulated sweep of a comparison: min seeds, then one
// more while it is undecided, up to max. It returns the verdict and the
// seeds it took.
func sequential(rng *rand.Rand, rule Rule, truth float64, min, max int) (string, int) {
	var d []float64
	for len(d) < min {
		d = append(d, truth+sigma*rng.NormFloat64())
	}
	for {
		v := rule.Decide(d)
		if v.Word != Undecided || len(d) == max {
			return v.Word, len(d)
		}
		d = append(d, truth+sigma*rng.NormFloat64())
	}
}

// The decision code, looked at after every seed, keeps its error rate:
// with no true difference, the fraction of simulated sequential sweeps
// (3 to 10 seeds) that end in a gain or a loss stays at or below 5%,
// within simulation error. With a true difference of one standard
// deviation of the paired differences, it reports the seeds the sequential
// design takes against the fixed design of the same power.
func TestSequentialErrorRateAndSeeds(t *testing.T) {
	sims := 4000
	if testing.Short() {
		sims = 1500
	}
	const min, max = 3, 10
	rule := Rule{Alpha: 0.05, Margin: 0.005, Min: min, Max: max}
	rng := rand.New(rand.NewPCG(29, 2026))
	claims := 0
	for range sims {
		if w, _ := sequential(rng, rule, 0, min, max); w == Gain || w == Loss {
			claims++
		}
	}
	rate := float64(claims) / float64(sims)
	se := math.Sqrt(0.05 * 0.95 / float64(sims))
	t.Logf("no difference: %d of %d sequential sweeps claim a gain or a loss (%.2f%%; bound 5%% + 3 s.e. = %.2f%%)", claims, sims, 100*rate, 100*(0.05+3*se))
	if rate > 0.05+3*se {
		t.Errorf("false claims in %.2f%% of sweeps, above 5%%", 100*rate)
	}
	// Naive looks at 95% after every seed: the inflation the rule avoids.
	naive := Rule{Alpha: 0.05, Margin: 0.005}
	naiveClaims := 0
	for range sims {
		if w, _ := sequential(rng, naive, 0, min, max); w == Gain || w == Loss {
			naiveClaims++
		}
	}
	t.Logf("(looking at 95%% after every seed instead: %.1f%% false claims)", 100*float64(naiveClaims)/float64(sims))

	// A true gain of one standard deviation.
	gains, seeds := 0, 0
	for range sims {
		w, n := sequential(rng, rule, sigma, min, max)
		seeds += n
		if w == Gain {
			gains++
		}
	}
	power := float64(gains) / float64(sims)
	meanSeeds := float64(seeds) / float64(sims)
	// The fixed design (one look at 95%) with at least that power.
	fixedN := 0
	for n := 2; n <= 40 && fixedN == 0; n++ {
		g := 0
		for range sims {
			d := make([]float64, n)
			for i := range d {
				d[i] = sigma + sigma*rng.NormFloat64()
			}
			if naive.Decide(d).Word == Gain {
				g++
			}
		}
		if float64(g)/float64(sims) >= power {
			fixedN = n
		}
	}
	t.Logf("true gain of 1 sd: sequential (3-10 seeds) finds it in %.1f%% of sweeps with %.2f seeds on average; a fixed design needs %d seeds for that power",
		100*power, meanSeeds, fixedN)
	// The equal split (alpha/8 at every look), for comparison.
	equal := func(n int) Rule { return Rule{Alpha: 0.05 / float64(max-min+1), Margin: 0.005} }
	eqGains, eqSeeds := 0, 0
	for range sims {
		var d []float64
		for len(d) < min {
			d = append(d, sigma+sigma*rng.NormFloat64())
		}
		for {
			v := equal(len(d)).Decide(d)
			if v.Word != Undecided || len(d) == max {
				if v.Word == Gain {
					eqGains++
				}
				break
			}
			d = append(d, sigma+sigma*rng.NormFloat64())
		}
		eqSeeds += len(d)
	}
	t.Logf("(an equal split of alpha over the 8 looks: %.1f%% with %.2f seeds on average)", 100*float64(eqGains)/float64(sims), float64(eqSeeds)/float64(sims))
	if meanSeeds < min || meanSeeds > float64(fixedN) || fixedN == 0 {
		t.Errorf("the sequential design takes %.2f seeds on average, the fixed design of its power %d", meanSeeds, fixedN)
	}
}
