package grid

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
)

func mustGrid(t testing.TB, src string) *Grid {
	t.Helper()
	g, err := Parse("grid.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		points int
		check  func(t *testing.T, pts []Point)
	}{
		{"product", "name: t\ndatasets: [fashion-mnist, mnist]\npairs: [cnn-s+cnn-l, mlp-s+mlp-l]\nseeds: [1, 2, 3]\nfractions: [1, 0.1]\n", 24, nil},
		{"noise rates times kinds", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nnoise: {rates: [0, 0.2], kinds: [symmetric, asymmetric]}\n", 4, nil},
		{"zip pairs datasets with architectures", "name: t\ndatasets: [fashion-mnist, cifar10]\npairs: [mlp-s+mlp-l, cnn-s+cnn-l]\nseeds: [1, 2]\nzip: [[dataset, pair]]\n", 4,
			func(t *testing.T, pts []Point) {
				for _, p := range pts {
					if (p.Dataset == "cifar10") != (p.Pair == "cnn-s+cnn-l") {
						t.Errorf("zip broken: %v", p)
					}
				}
			}},
		{"exclude removes matching points", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nfractions: [1, 0.1]\nnoise: {rates: [0, 0.5]}\nexclude: [{fraction: 0.1, noise_rate: 0.5}]\n", 3,
			func(t *testing.T, pts []Point) {
				for _, p := range pts {
					if p.Fraction == 0.1 && p.NoiseRate == 0.5 {
						t.Errorf("excluded point present: %v", p)
					}
				}
			}},
		{"exclude with lists matches any value", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nfractions: [0.01, 0.1, 1]\nnoise: {rates: [0, 0.2, 0.5]}\nexclude: [{fraction: [0.01, 0.1], noise_rate: [0.2, 0.5]}]\n", 5, nil},
		{"include ranges over unnamed axes", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1, 2]\ninclude: [{pair: cnn-s+cnn-s}]\n", 4,
			func(t *testing.T, pts []Point) {
				n := 0
				for _, p := range pts {
					if p.Pair == "cnn-s+cnn-s" {
						n++
					}
				}
				if n != 2 {
					t.Errorf("include gave %d points, want one per seed (2)", n)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts := mustGrid(t, tc.src).Points()
			if len(pts) != tc.points {
				t.Fatalf("%d points, want %d", len(pts), tc.points)
			}
			if tc.check != nil {
				tc.check(t, pts)
			}
		})
	}
}

func TestPlanSharing(t *testing.T) {
	// Two pairs share the small architecture: its solo baseline is trained once
	// per seed. Noise and fractions add probes, never pretraining.
	g := mustGrid(t, `name: t
datasets: [fashion-mnist]
pairs: [cnn-s+cnn-l, cnn-s+cnn-s]
seeds: [1, 2]
fractions: [1, 0.1]
noise: {rates: [0, 0.5]}
references: []
`)
	p := NewPlan(g, nil)
	if err := p.Topo(); err != nil {
		t.Fatal(err)
	}
	counts := map[job.Kind]int{}
	solo := map[string]int{}
	for _, j := range p.Jobs {
		counts[j.Spec.Kind]++
		if j.Spec.Kind == job.KindPretrain && j.Spec.Method == job.MethodSolo {
			solo[fmt.Sprint(j.Spec.Archs, j.Spec.Seed)]++
		}
	}
	// Per seed: DoGo s+l, DoGo s+s, solo s, solo l = 4 pretraining jobs.
	if counts[job.KindPretrain] != 8 {
		t.Errorf("%d pretraining jobs, want 8", counts[job.KindPretrain])
	}
	for k, n := range solo {
		if n != 1 {
			t.Errorf("solo %s planned %d times", k, n)
		}
	}
	// Encoders per seed: 2 + 2 DoGo peers, 2 solo = 6; each extracted once.
	if counts[job.KindFeatures] != 12 {
		t.Errorf("%d feature jobs, want 12", counts[job.KindFeatures])
	}
	// Probes per encoder: (1,0) linear, (0.1,0) fraction, (1,.5) and (.1,.5) noise; plus one kNN.
	if counts[job.KindLinear] != 12 || counts[job.KindFraction] != 12 || counts[job.KindNoise] != 24 || counts[job.KindKNN] != 12 {
		t.Errorf("probe counts %v", counts)
	}
	if p.Stats.Saved <= 0 || p.Stats.Requested != p.Stats.Jobs+p.Stats.Saved {
		t.Errorf("stats %+v", p.Stats)
	}
	// Every probe depends on exactly one features job, which depends on a pretraining job.
	for _, j := range p.Jobs {
		switch j.Spec.Kind {
		case job.KindPretrain:
			if len(j.Deps) != 0 {
				t.Errorf("%s has deps", j.Name)
			}
		case job.KindFeatures:
			if len(j.Deps) != 1 || p.Job(j.Deps[0]).Spec.Kind != job.KindPretrain {
				t.Errorf("%s deps %v", j.Name, j.Deps)
			}
		default:
			if len(j.Deps) != 1 || p.Job(j.Deps[0]).Spec.Kind != job.KindFeatures {
				t.Errorf("%s deps %v", j.Name, j.Deps)
			}
		}
	}
}

// One encoder probed over 5 noise rates x 3 fractions costs one feature extraction.
func TestOneFeatureExtractionPerEncoder(t *testing.T) {
	g := mustGrid(t, `name: t
datasets: [fashion-mnist]
pairs: [cnn-s+cnn-l]
noise: {rates: [0, 0.2, 0.4, 0.6, 0.8]}
fractions: [0.01, 0.1, 1]
references: []
`)
	p := NewPlan(g, nil)
	perFeatures := map[string]int{}
	for _, j := range p.Jobs {
		if j.Spec.Features != "" && j.Spec.Kind != job.KindKNN {
			perFeatures[j.Spec.Features]++
		}
	}
	if len(perFeatures) != 4 {
		t.Fatalf("%d features jobs, want 4 (2 DoGo peers, 2 solo)", len(perFeatures))
	}
	for f, n := range perFeatures {
		if n != 15 {
			t.Errorf("features %s serves %d probes, want 15", f, n)
		}
	}
}

// BenchmarkPlan expands and plans grids of 25,000 to 100,000 points; bytes
// allocated per point stay flat (linear memory).
func BenchmarkPlan(b *testing.B) {
	for _, nSeeds := range []int{28, 56, 112} { // 900 points per seed
		seeds := "["
		for i := 0; i < nSeeds; i++ {
			if i > 0 {
				seeds += ", "
			}
			seeds += fmt.Sprint(i)
		}
		seeds += "]"
		src := `name: big
datasets: [fashion-mnist, mnist]
objectives: [simclr, simsiam, simclr+simsiam]
pairs: [mlp-s+mlp-l, cnn-s+cnn-l, cnn-s+cnn-m, cnn-m+cnn-l, mlp-m+mlp-l]
noise: {rates: [0, 0.2, 0.4, 0.6, 0.8], kinds: [symmetric, asymmetric]}
fractions: [0.01, 0.1, 1]
seeds: ` + seeds + "\n"
		g := mustGrid(b, src)
		b.Run(fmt.Sprintf("points=%d", g.Count()), func(b *testing.B) {
			var p *job.Plan
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			for i := 0; i < b.N; i++ {
				p = NewPlan(g, nil)
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(p.Stats.Points), "points")
			b.ReportMetric(float64(p.Stats.Jobs), "jobs")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/plan")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/float64(p.Stats.Points), "B/point")
		})
	}
}

// BenchmarkPlanMemory plans grids of about 10^4, 10^5 and 10^6 jobs (the
// quickstart's axes, more seeds) and reports the bytes a planned job holds
// (the live heap after planning, over the jobs) and allocates on the way:
// both stay flat as the grid grows, so memory is linear in the jobs.
func BenchmarkPlanMemory(b *testing.B) {
	for _, nSeeds := range []int{133, 1333, 13333} { // 75 jobs per seed
		g := manySeeds(b, nSeeds)
		b.Run(fmt.Sprintf("seeds=%d", nSeeds), func(b *testing.B) {
			var ms0, ms1, ms2 runtime.MemStats
			var p *job.Plan
			for i := 0; i < b.N; i++ {
				p = nil
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				p = NewPlan(g, nil)
				runtime.ReadMemStats(&ms1)
				runtime.GC()
				runtime.ReadMemStats(&ms2)
			}
			jobs := float64(p.Stats.Jobs)
			b.ReportMetric(jobs, "jobs")
			b.ReportMetric(float64(ms2.HeapAlloc-ms0.HeapAlloc)/jobs, "live-B/job")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/jobs, "alloc-B/job")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/plan")
			runtime.KeepAlive(p)
		})
	}
}

// manySeeds is the quickstart's grid with seeds 1..n, the job limit lifted.
func manySeeds(tb testing.TB, n int) *Grid {
	tb.Helper()
	src, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	g, err := ParseContext(context.Background(), "many-seeds.yaml", withSeeds(src, n), Options{MaxJobs: math.MaxInt})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}
