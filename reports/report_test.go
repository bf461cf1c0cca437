package reports

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/sweep/internal/golden"
	"github.com/dogo-sweep/sweep/results"
	"github.com/dogo-sweep/sweep/sweep"
)

// Statistics checked against values computed by hand.
func TestStatsByHand(t *testing.T) {
	m, s := MeanStd([]float64{1, 2, 3, 4})
	// mean 2.5; sample variance (2.25+0.25+0.25+2.25)/3 = 5/3
	if m != 2.5 || math.Abs(s-math.Sqrt(5.0/3)) > 1e-12 {
		t.Errorf("MeanStd = %g, %g", m, s)
	}
	// Differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.303 -> half-width 4.303/sqrt(3) = 2.4843.
	d, h := PairedCI([]float64{1, 2, 3})
	if d != 2 || math.Abs(h-2.4843) > 1e-4 {
		t.Errorf("PairedCI = %g +- %g, want 2 +- 2.4843", d, h)
	}
	if _, h := PairedCI([]float64{0.5}); !math.IsNaN(h) {
		t.Errorf("one seed has no interval, got %g", h)
	}
	// df 40: exact 2.0211; the approximation must be within 0.002.
	if q := tQuantile975(40); math.Abs(q-2.0211) > 0.002 {
		t.Errorf("t(40) = %g", q)
	}
}

const reportGrid = `name: golden
datasets: [fashion-mnist]
pairs: [cnn-s+cnn-l, cnn-s+cnn-s]
seeds: [1, 2, 3]
fractions: [0.1, 1]
noise: {rates: [0, 0.5]}
exclude: [{fraction: 0.1, noise_rate: 0.5}]
ood: [gaussian_noise-3]
references: [random, pixels]
`

// tables fabricates the results of a plan: accuracies from a fixed formula,
// with options to drop seeds, fail jobs, or give DoGo no gain.
type fixture struct {
	seeds    map[int]bool // seeds that finished (all when nil)
	fail     string       // name prefix of jobs that failed
	dogoGain float64
}

func (f fixture) tables(t *testing.T, p *sweep.Plan) *results.Tables {
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
		if f.fail != "" && strings.HasPrefix(j.Name, f.fail) {
			row.Status, row.Error = "gave_up", "exit status 2\npanic: out of memory"
			failed[j.ID] = true
		}
		tb.Jobs = append(tb.Jobs, row)
		if row.Status != "done" {
			continue
		}
		base := map[string]float64{"pixels": 0.80, "random": 0.70, "solo": 0.75, "dogo": 0.75 + f.dogoGain}[s.Method]
		if s.Arch == "cnn-l" {
			base += 0.02
		}
		acc := base + 0.004*float64(s.Seed) - 0.1*s.NoiseRate
		if s.Kind == sweep.KindFraction {
			acc -= 0.08
		}
		add := func(split, name string, v float64) {
			tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Split: split, Name: name, Value: v})
		}
		switch s.Kind {
		case sweep.KindKNN:
			add("test", "knn_accuracy", acc+0.01)
		case sweep.KindLinear, sweep.KindFraction, sweep.KindNoise:
			add("test", "accuracy_at_best_val", acc)
			add("test", "accuracy_final", acc-0.01)
			add("ood:gaussian_noise-3", "accuracy_at_best_val", acc-0.2)
		case sweep.KindPretrain:
			for e := int64(1); e <= 2; e++ {
				tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Epoch: e, Split: "train", Name: "ssl_loss", Value: 5 - float64(e)})
				tb.Metrics = append(tb.Metrics, results.MetricRow{Job: j.ID, Attempt: 1, Epoch: e, Split: "train", Name: "images_per_second", Value: 400})
			}
		}
	}
	return tb
}

func TestReportGolden(t *testing.T) {
	g, err := sweep.ParseGrid("grid.yaml", []byte(reportGrid))
	if err != nil {
		t.Fatal(err)
	}
	p := sweep.NewPlan(g)
	now := func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		fx   fixture
	}{
		{"dogo-gain", fixture{dogoGain: 0.012}},
		{"no-dogo-gain", fixture{dogoGain: 0}},
		{"single-seed", fixture{seeds: map[int]bool{2: true}, dogoGain: 0.01}},
		{"missing-seed-and-failures", fixture{seeds: map[int]bool{1: true, 2: true}, fail: "features-fashion-mnist-dogo-cnn-s-small", dogoGain: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, p, g, tc.fx.tables(t, p), Options{Now: now}); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".md", buf.String())
		})
	}
}

func TestWriteMakesReportAndPlots(t *testing.T) {
	g, err := sweep.ParseGrid("grid.yaml", []byte(reportGrid))
	if err != nil {
		t.Fatal(err)
	}
	p := sweep.NewPlan(g)
	dir := t.TempDir()
	r, err := sweep.CreateRun(dir, []byte(reportGrid), p)
	if err != nil {
		t.Fatal(err)
	}
	r.Unlock()
	tb := fixture{dogoGain: 0.01}.tables(t, p)
	for _, j := range tb.Jobs {
		var m []results.MetricRow
		for _, x := range tb.Metrics {
			if x.Job == j.Job {
				m = append(m, x)
			}
		}
		if err := results.WritePart(r.ResultsDir(), j, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(dir, Options{}); err != nil {
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
