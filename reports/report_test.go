package reports

import (
	"bytes"
	"fmt"
	"github.com/dogo-sweep/dogo-sweep/verdict"
	"hash/fnv"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/golden"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/google/go-cmp/cmp"
)

// Statistics checked against values computed by hand.
func TestStatsByHand(t *testing.T) {
	m, s := MeanStd([]float64{1, 2, 3, 4})
	// mean 2.5; sample variance (2.25+0.25+0.25+2.25)/3 = 5/3
	if m != 2.5 || math.Abs(s-math.Sqrt(5.0/3)) > 1e-12 {
		t.Errorf("MeanStd = %g, %g", m, s)
	}
	// Differences 1, 2, 3: mean 2, sd 1. With 2 degrees of freedom the t
	// quantile has a closed form, (2p-1)/sqrt(2p(1-p)) at p = .975:
	// .95/sqrt(.04875) = 4.302653; half-width 4.302653/sqrt(3) = 2.484138.
	// (The report's intervals are package verdict's, at one look.)
	PairedCI := func(d []float64) (float64, float64) {
		v := verdict.Rule{Alpha: 0.05}.Decide(d)
		return v.Mean, v.Half
	}
	d, h := PairedCI([]float64{1, 2, 3})
	if d != 2 || math.Abs(h-2.484138) > 1e-6 {
		t.Errorf("PairedCI = %g +- %g, want 2 +- 2.484138", d, h)
	}
	// Five seeds (4 df): mean .5, squared deviations 4 x .25, sd sqrt(1/4)
	// = .5; the textbook t = 2.7764451; half-width 2.7764451 x .5 / sqrt(5).
	_, h = PairedCI([]float64{0, 1, 0, 1, 0.5})
	if math.Abs(h-2.7764451*0.5/math.Sqrt(5)) > 1e-6 {
		t.Errorf("5 seeds: half-width %g", h)
	}
	if _, h := PairedCI([]float64{0.5}); !math.IsNaN(h) {
		t.Errorf("one seed has no interval, got %g", h)
	}
	if _, s := MeanStd([]float64{0.5}); !math.IsNaN(s) {
		t.Errorf("one value has no deviation, got %g", s)
	}
}

const reportGrid = `name: golden
datasets: [fashion-mnist]
pairs: [cnn-s+cnn-l, cnn-s+cnn-s]
seeds: [1, 2, 3]
fractions: [0.01, 1]
noise: {rates: [0, 0.5]}
exclude: [{fraction: 0.01, noise_rate: 0.5}]
ood: [gaussian_noise-3]
references: [random, pixels]
`

// fixture fabricates the results of a plan: accuracies from a fixed formula
// plus per-seed noise, and for DoGo peers a deviation of -0.1, +0.1 and 0
// points on seeds 1, 2 and 3, so that every interval has width. As a DoGo
// peer, the small encoder gains 3 points (its interval is above zero), the
// large one loses 3 (below zero), and a copy of itself changes nothing (a
// tie), all times effect. Options drop seeds or fail jobs.
type fixture struct {
	seeds  map[int]bool // seeds that finished (all when nil)
	fail   string       // name prefix of jobs that failed
	effect float64
}

// noise is a deterministic per-seed deviation in [-0.3, +0.3] points.
func noise(parts ...any) float64 {
	h := fnv.New64a()
	fmt.Fprint(h, parts...)
	return (float64(h.Sum64()%1000)/999 - 0.5) * 0.006
}

// dogoEffect is what being a DoGo peer does to an encoder, in accuracy.
func (f fixture) dogoEffect(s job.Spec) float64 {
	switch {
	case s.Method != job.MethodDoGo || s.Arch == s.PeerArch:
		return 0
	case s.Role == job.RoleSmall:
		return 0.03 * f.effect
	}
	return -0.03 * f.effect
}

func (f fixture) tables(t *testing.T, p *job.Plan) *results.Tables {
	t.Helper()
	tb := &results.Tables{}
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	failed := map[string]bool{}
	for i, j := range p.Jobs {
		s := j.Spec
		if f.seeds != nil && !f.seeds[s.Seed] {
			continue
		}
		blocked := false
		for _, d := range j.Deps {
			blocked = blocked || failed[d]
		}
		if blocked {
			failed[j.ID] = true // skipped: never ran, no row
			continue
		}
		row := results.JobRowOf(j, nil)
		row.Status, row.Attempt, row.Start, row.End, row.DurationS, row.Host, row.Backend = "done", 1, t0.Add(time.Duration(i)*time.Second), t0.Add(time.Duration(i+30)*time.Second), 30, "host", "go:parallelism=1"
		row.Build = []string{"(devel) 1a2b3c4d5e6f go1.27.3 gomlx v0.28.16", "(devel) 1a2b3c4d5e6f+dirty(9f8e7d6c5b4a) go1.27.3 gomlx v0.28.16"}[min(i%7, 1)]
		if f.fail != "" && strings.HasPrefix(j.Name, f.fail) {
			row.Status, row.Error = "gave_up", "exit status 2\npanic: out of memory"
			failed[j.ID] = true
		}
		tb.Jobs = append(tb.Jobs, row)
		if row.Status != "done" {
			continue
		}
		base := map[string]float64{"pixels": 0.80, "random": 0.70, "solo": 0.75, "dogo": 0.75}[s.Method]
		if s.Arch == "cnn-l" {
			base += 0.02
		}
		// Noise shared by every encoder of an architecture in a setting, and
		// for DoGo peers a planted per-seed deviation (mean zero), so that
		// DoGo minus solo is the effect plus that deviation, exactly.
		acc := base + f.dogoEffect(s) - 0.1*s.NoiseRate + noise(s.Seed, s.Arch, s.Kind, s.Fraction, s.NoiseRate)
		if s.Method == job.MethodDoGo {
			acc += map[int]float64{1: -0.001, 2: 0.001}[s.Seed]
		}
		if s.Method == job.MethodPixels && s.Kind == job.KindKNN {
			acc = base // deterministic: kNN on raw pixels draws nothing
		}
		if s.Kind == job.KindFraction {
			acc -= 0.08
		}
		add := func(split, name string, v float64) {
			tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Split: split, Name: name, Value: v})
		}
		switch s.Kind {
		case job.KindKNN:
			add(job.SplitTest, job.MetricKNN, acc+0.01)
		case job.KindLinear, job.KindFraction, job.KindNoise:
			final := acc - 0.01 + noise("final", s.Seed, s.Arch)
			add(job.SplitTest, job.MetricAccBest, acc)
			add(job.SplitTest, job.MetricAccFinal, final)
			// With 1% of the labels the validation split is too small to
			// choose an epoch by: the probe reports its final epoch.
			if s.Kind == job.KindFraction {
				add(job.SplitTest, job.MetricAccSelected, final)
			}
			add(job.OODSplit("gaussian_noise-3"), job.MetricAccBest, acc-0.2)
		case job.KindPretrain:
			for e := int64(1); e <= 2; e++ {
				tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Epoch: e, Split: job.SplitTrain, Name: "ssl_loss", Value: 5 - float64(e)})
				tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Epoch: e, Split: job.SplitTrain, Name: "images_per_second", Value: 400})
			}
		}
	}
	return tb
}

func TestReportGolden(t *testing.T) {
	g, err := grid.Parse("grid.yaml", []byte(reportGrid))
	if err != nil {
		t.Fatal(err)
	}
	p := grid.NewPlan(g, nil)
	now := func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		fx   fixture
	}{
		{"gain-tie-loss", fixture{effect: 1}},
		{"no-dogo-effect", fixture{effect: 0}},
		{"single-seed", fixture{seeds: map[int]bool{2: true}, effect: 1}},
		{"missing-seed-and-failures", fixture{seeds: map[int]bool{1: true, 2: true}, fail: "features-fashion-mnist-dogo-cnn-s-small", effect: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			span := [2]time.Time{now().Add(-3 * time.Hour), now().Add(-time.Hour)}
			if err := Render(&buf, p, tc.fx.tables(t, p), Options{Now: now, Span: span}); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".md", buf.String())
			// The summary lists every gain and loss it counts.
			count := Counts(Analyze(p, tc.fx.tables(t, p), Options{}).Verdicts)
			_, sum, _ := strings.Cut(buf.String(), "## Summary")
			for outcome, n := range map[string]int{Gain: count[Gain], Loss: count[Loss]} {
				if got := strings.Count(sum, ": "+outcome+", "); got != n {
					t.Errorf("the summary lists %d %ss, counts %d", got, outcome, n)
				}
			}
		})
	}
}

// The analysis, without markdown: in every fixture each comparison comes
// out as the fixture planted it. A small peer with a larger peer gains 3
// points, the large peer loses 3, copies of the same architecture tie; with
// no effect nothing is a gain or a loss; with one seed there is no
// interval; failed jobs leave their comparisons out and are listed.
func TestAnalysisVerdicts(t *testing.T) {
	g, err := grid.Parse("grid.yaml", []byte(reportGrid))
	if err != nil {
		t.Fatal(err)
	}
	p := grid.NewPlan(g, nil)
	planted := func(v Verdict) string {
		switch {
		case v.Arch == v.Peer:
			return Equivalent
		case v.Role == job.RoleSmall:
			return Gain
		}
		return Loss
	}
	for _, tc := range []struct {
		name     string
		fx       fixture
		verdicts int
		want     func(v Verdict) string
		failed   int
	}{
		// Five settings (all labels, kNN, 1% of the labels, 50% noise, an OOD
		// set) of four comparisons (small and large peer, two copies).
		{"gain-tie-loss", fixture{effect: 1}, 20, planted, 0},
		{"no-dogo-effect", fixture{effect: 0}, 20, func(Verdict) string { return Equivalent }, 0},
		{"single-seed", fixture{seeds: map[int]bool{2: true}, effect: 1}, 20, func(Verdict) string { return Undecided }, 0},
		// The small cnn-s peer's features failed, in both pairs, on both seeds.
		// With two seeds the copies' interval (+-1.3 points) is wider than the
		// margin: undecided.
		{"missing-seed-and-failures", fixture{seeds: map[int]bool{1: true, 2: true}, fail: "features-fashion-mnist-dogo-cnn-s-small", effect: 1}, 10, func(v Verdict) string {
			if v.Arch == v.Peer {
				return Undecided
			}
			return planted(v)
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Analyze(p, tc.fx.tables(t, p), Options{})
			if len(r.Verdicts) != tc.verdicts {
				t.Errorf("%d verdicts, want %d", len(r.Verdicts), tc.verdicts)
			}
			for _, v := range r.Verdicts {
				if got, want := v.Outcome(), tc.want(v); got != want {
					t.Errorf("%s %s with %s (%s): %s, want %s (diff %+.4f, half %.4f)", v.Setting.Describe(), v.Arch, v.Peer, v.Role, got, want, v.Diff, v.Half)
				}
				if tc.name == "missing-seed-and-failures" && v.Role == job.RoleSmall {
					t.Errorf("a comparison of the failed small peer: %+v", v)
				}
			}
			if len(r.Failed) != tc.failed {
				t.Errorf("failed: %q", r.Failed)
			}
			// The headline's references: random init of each architecture and raw pixels.
			if refs := r.Headline[0].References; len(refs) != 3 || refs[0].Name != "random-init cnn-l" || refs[2].Name != "raw pixels" {
				t.Errorf("references %+v", refs)
			}
		})
	}
}

func TestWriteMakesReportAndPlots(t *testing.T) {
	g, err := grid.Parse("grid.yaml", []byte(reportGrid))
	if err != nil {
		t.Fatal(err)
	}
	p := grid.NewPlan(g, nil)
	dir := t.TempDir()
	tb := fixture{effect: 1}.tables(t, p)
	if err := Write(dir, p, tb, Options{}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "plots", "*.png"))
	if len(pngs) != 3 {
		t.Fatalf("plots: %v", pngs)
	}
	for _, f := range pngs {
		if !strings.Contains(string(md), "plots/"+filepath.Base(f)) {
			t.Errorf("report does not link %s", f)
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
			t.Errorf("%s is %v", f, b)
		}
	}
}

// The plots' x ticks sit at the grid's values, lines are shifted apart
// around them, and the axes leave room around the data.
func TestPlotGeometry(t *testing.T) {
	xs := []float64{0, 0.2, 0.5, 0.8, 0.2}
	ticks := xTicks(xs)
	var got []string
	for _, tk := range ticks {
		got = append(got, fmt.Sprintf("%g=%s", tk.Value, tk.Label))
	}
	if strings.Join(got, " ") != "0=0% 0.2=20% 0.5=50% 0.8=80%" {
		t.Errorf("ticks %v", got)
	}
	// Three lines at x = 0.5 of a 0..0.8 axis: 1.5% of the range apart.
	for i, want := range []float64{0.5 - 0.012, 0.5, 0.5 + 0.012} {
		if d := dodge(0.5, i, 3, xs, false); math.Abs(d-want) > 1e-12 {
			t.Errorf("line %d at %g, want %g", i, d, want)
		}
	}
	if d := dodge(0.1, 0, 2, []float64{0.01, 1}, true); !(d < 0.1 && d > 0.09) {
		t.Errorf("log-scale dodge of 0.1: %g", d)
	}
	if lo, hi := padRange(70, 80, false); lo >= 70 || hi <= 80 {
		t.Errorf("padded [70, 80] to [%g, %g]", lo, hi)
	}
	if lo, hi := padRange(0.01, 1, true); lo >= 0.01 || hi <= 1 || lo <= 0 {
		t.Errorf("padded log [0.01, 1] to [%g, %g]", lo, hi)
	}
	// Enough labelled y ticks to read a value on a narrow range (a kNN
	// monitor's 80.1-81.3), at round values.
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{80.1, 81.3, "80.2 80.4 80.6 80.8 81.0 81.2"},
		{0, 100, "0 20 40 60 80 100"},
		{3.1, 3.6, "3.1 3.2 3.3 3.4 3.5 3.6"},
		{70, 82, "70 72 74 76 78 80 82"}, {70, 80, "70 72 74 76 78 80"}, {0, 14, "0.0 2.5 5.0 7.5 10.0 12.5"},
	} {
		var labels []string
		for _, tk := range (denseTicks{n: 6}).Ticks(tc.lo, tc.hi) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("ticks of [%g, %g]: %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
	// Every line of a figure has its own colour (the quickstart's have 9).
	seen := map[color.Color]int{}
	for i := range 9 {
		if j, dup := seen[lineColor(i)]; dup {
			t.Errorf("lines %d and %d share a colour", j, i)
		}
		seen[lineColor(i)] = i
	}
	var epochs []string
	for _, tk := range epochTicks([]float64{1, 2, 3}) {
		epochs = append(epochs, tk.Label)
	}
	if strings.Join(epochs, " ") != "1 2 3" {
		t.Errorf("epoch ticks %v", epochs)
	}
}

// A pretraining job resumed from its checkpoint (attempt 1 stopped after
// epoch 2, attempt 2 reporting epochs 3-4 and finishing) has every epoch
// once in its training curve; an unfinished job has none.
func TestTrainingCurvesJoinResumedAttempts(t *testing.T) {
	tb := &results.Tables{
		Jobs: []results.JobRow{
			{Job: "p", Kind: "pretrain", Method: job.MethodSolo, Arch: "mlp-s", Status: "stopped", Attempt: 1},
			{Job: "p", Kind: "pretrain", Method: job.MethodSolo, Arch: "mlp-s", Status: "done", Attempt: 2},
			{Job: "q", Kind: "pretrain", Method: job.MethodSolo, Arch: "mlp-m", Status: "stopped", Attempt: 1},
		},
	}
	for a, epochs := range map[int64][]int64{1: {1, 2, 3}, 2: {3, 4}} {
		for _, e := range epochs {
			tb.Metrics = append(tb.Metrics, results.MetricRow{Job: "p", Attempt: a, Epoch: e, Name: "ssl_loss", Value: float64(10*a + e)})
		}
	}
	tb.Metrics = append(tb.Metrics, results.MetricRow{Job: "q", Attempt: 1, Epoch: 1, Name: "ssl_loss", Value: 1})
	got := trainingCurves(tb, "ssl_loss")
	want := map[string]map[float64][]float64{"solo mlp-s": {1: {11}, 2: {12}, 3: {23}, 4: {24}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("curves (-want +got):\n%s", diff)
	}
}
