package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/dogo-sweep/dogo-sweep/internal/mapfile"
	"github.com/dogo-sweep/dogo-sweep/internal/matmul"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
)

// blobs makes features of k well-separated Gaussian clusters in d dimensions.
func blobs(n, d, k int, sep float64, seed uint64) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	centers := make([][]float64, k)
	for c := range centers {
		centers[c] = make([]float64, d)
		for j := range centers[c] {
			centers[c][j] = rng.NormFloat64() * sep
		}
	}
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := 0; i < n; i++ {
		c := i % k
		y[i] = int32(c)
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(centers[c][j] + rng.NormFloat64())
		}
	}
	return x, y
}

func features(sep float64, seed uint64) *Features {
	tr, trl := blobs(1200, 16, 5, sep, seed)
	te, tel := blobs(500, 16, 5, sep, seed) // same centers: same seed
	_ = tel
	return &Features{Dim: 16, Classes: 5, Train: tr, TrainLabels: trl, Test: te, TestLabels: tel}
}

func cfg(seed uint64) LinearConfig {
	return LinearConfig{Epochs: 20, Batch: 64, LR: 1e-2, WeightDecay: 1e-6, ValFraction: 0.15, Standardize: true, Seed: seed, Kernels: matmul.Measure().Kernels}
}

func TestLinearProbeSeparable(t *testing.T) {
	f := features(5, 1)
	r := mustLinear(t, f, seq(len(f.TrainLabels)), f.TrainLabels, cfg(1))
	if r.TestAtBest < 0.99 || r.TestFinal < 0.99 {
		t.Errorf("separable features: test accuracy %.3f (best-val), %.3f (final), want ~1", r.TestAtBest, r.TestFinal)
	}
}

// Labels that the features say nothing about can only be guessed at chance.
func TestLinearProbeRandomLabelsIsChance(t *testing.T) {
	f := features(0, 2) // one cluster: no class signal
	rng := rand.New(rand.NewPCG(9, 9))
	random := make([]int32, len(f.TrainLabels))
	for i := range random {
		random[i] = int32(rng.IntN(5))
	}
	r := mustLinear(t, f, seq(len(random)), random, cfg(2))
	if math.Abs(r.TestAtBest-0.2) > 0.08 {
		t.Errorf("random labels: test accuracy %.3f, want chance (0.2)", r.TestAtBest)
	}
}

func TestBestValEpochSelection(t *testing.T) {
	f := features(0.6, 3)
	c := cfg(3)
	c.Curves = true
	r := mustLinear(t, f, seq(len(f.TrainLabels)), f.TrainLabels, c)
	best := 0
	for i, v := range r.ValCurve {
		if v > r.ValCurve[best] {
			best = i
		}
	}
	if r.BestEpoch != best+1 || r.BestVal != r.ValCurve[best] || r.TestAtBest != r.TestCurve[best] {
		t.Errorf("best epoch %d (val %.4f, test %.4f); curves say epoch %d (val %.4f, test %.4f)",
			r.BestEpoch, r.BestVal, r.TestAtBest, best+1, r.ValCurve[best], r.TestCurve[best])
	}
	if len(r.ValCurve) != 20 || len(r.TestCurve) != 20 {
		t.Fatalf("curves of %d and %d epochs", len(r.ValCurve), len(r.TestCurve))
	}
	if r.TestFinal != r.TestCurve[len(r.TestCurve)-1] {
		t.Errorf("final accuracy %.4f is not the last epoch's %.4f", r.TestFinal, r.TestCurve[len(r.TestCurve)-1])
	}
}

func TestLinearProbeDeterministicPerSeed(t *testing.T) {
	f := features(1, 4)
	a := mustLinear(t, f, seq(len(f.TrainLabels)), f.TrainLabels, cfg(7))
	b := mustLinear(t, f, seq(len(f.TrainLabels)), f.TrainLabels, cfg(7))
	if a.TestAtBest != b.TestAtBest || a.BestEpoch != b.BestEpoch {
		t.Errorf("same seed, different results: %+v vs %+v", a.TestAtBest, b.TestAtBest)
	}
}

func TestKNN(t *testing.T) {
	if acc := mustKNN(t, features(5, 5), 20, 0.07); acc < 0.99 {
		t.Errorf("kNN on separable features: %.3f", acc)
	}
	f := features(0, 6)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range f.TrainLabels {
		f.TrainLabels[i] = int32(rng.IntN(5))
	}
	if acc := mustKNN(t, f, 20, 0.07); math.Abs(acc-0.2) > 0.08 {
		t.Errorf("kNN with random training labels: %.3f, want chance", acc)
	}
}

// kNN by hand: 1-D features, k=3.
func TestKNNByHand(t *testing.T) {
	f := &Features{Dim: 2, Classes: 2,
		Train:       []float32{1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9, 0.2, 0.8},
		TrainLabels: []int32{0, 0, 1, 1, 1},
		Test:        []float32{1, 0.05, 0.05, 1},
		TestLabels:  []int32{0, 1},
	}
	if acc := mustKNN(t, f, 2, 0.1); acc != 1 {
		t.Errorf("k=2: accuracy %g, want 1", acc)
	}
	// With k=5 the three class-1 neighbours outvote for the first test point
	// only if the temperature is high (uniform weights).
	if acc := mustKNN(t, f, 5, 100); acc != 0.5 {
		t.Errorf("k=5, T=100: accuracy %g, want 0.5", acc)
	}
}

// storedFeatures writes features as a finished features job's entry (with
// its manifest) and returns it.
func storedFeatures(t *testing.T, f *Features) jobdir.Dir {
	t.Helper()
	d := jobdir.Dir(t.TempDir())
	if err := f.Write(d.Features()); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteManifest(jobdir.Manifest{Job: "f1", Kind: string(job.KindFeatures)}); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRunWritesMetricsAndRoundTripsFeatures(t *testing.T) {
	f := features(5, 8)
	f.OOD = map[string][]float32{"gaussian_noise-3": f.Test, "dataset:other": f.Test[:100*16]}
	f.OODLabels = map[string][]int32{"dataset:other": f.TestLabels[:100]}
	dir := storedFeatures(t, f)
	e := grid.Default().Eval
	e.Epochs, e.LR, e.Standardize = 10, 1e-2, true
	var recs []job.Record
	spec := job.Spec{Kind: job.KindNoise, Dataset: "fashion-mnist", Seed: 1, NoiseRate: 0.2, NoiseKind: "symmetric", Fraction: 0.5, Eval: &e}
	if err := Run(context.Background(), spec, dir, "f1", func(r job.Record) { recs = append(recs, r) }); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range recs {
		got[r.Split+"/"+r.Name] = r.Value
	}
	if got["/realized_noise_rate"] < 0.19 || got["/realized_noise_rate"] > 0.21 {
		t.Errorf("realized noise %v", got["/realized_noise_rate"])
	}
	if got["/train_labels"] != 600 {
		t.Errorf("train labels %v, want half of 1200", got["/train_labels"])
	}
	if got["test/accuracy_at_best_val"] < 0.9 || got["ood:gaussian_noise-3/accuracy_at_best_val"] < 0.9 || got["ood:dataset:other/accuracy_at_best_val"] < 0.9 {
		t.Errorf("metrics %v", got)
	}
}

// BenchmarkProbes measures one linear probe (30 epochs, batch 256) and one
// kNN evaluation at quickstart size: 10,000 training and 10,000 test rows.
func BenchmarkProbes(b *testing.B) {
	for _, d := range []int{64, 256, 512, 784} {
		tr, trl := blobs(10000, d, 10, 1, 1)
		te, tel := blobs(10000, d, 10, 1, 1)
		f := &Features{Dim: d, Classes: 10, Train: tr, TrainLabels: trl, Test: te, TestLabels: tel,
			OOD: map[string][]float32{"noise": te}}
		b.Run(fmt.Sprintf("linear/d=%d", d), func(b *testing.B) {
			c := LinearConfig{Epochs: 30, Batch: 256, LR: 1e-3, ValFraction: 0.15, Standardize: true, Seed: 1, Kernels: matmul.Measure().Kernels}
			for i := 0; i < b.N; i++ {
				Linear(context.Background(), f, seq(10000), trl, c)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/probe")
		})
		b.Run(fmt.Sprintf("knn/d=%d", d), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				KNN(context.Background(), matmul.Measure().Kernels, f, 20, 0.07)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/knn")
		})
	}
}

// The reported accuracy comes from the best-validation epoch only when the
// validation split has MinValPerClass images per class.
func TestSelectionRule(t *testing.T) {
	r := LinearResult{BestEpoch: 3, TestAtBest: 0.7, TestFinal: 0.8}
	for _, tc := range []struct {
		val   int
		acc   float64
		epoch int
	}{{99, 0.8, 30}, {100, 0.7, 3}, {15, 0.8, 30}, {1500, 0.7, 3}} {
		r.ValImages = tc.val
		if acc, epoch, _ := r.Selected(10, 30); acc != tc.acc || epoch != tc.epoch {
			t.Errorf("%d validation images: %g at epoch %d, want %g at %d", tc.val, acc, epoch, tc.acc, tc.epoch)
		}
	}
}

// A features file reads back what was written, read or mapped (a probe
// job's read, whose arrays are the mapped file's bytes where they lie
// aligned), also a file written before the header's padding; a damaged
// file is an error, not features of the wrong size.
func TestFeaturesFile(t *testing.T) {
	f := features(5, 8)
	f.OOD = map[string][]float32{"gaussian_noise-3": f.Test, "dataset:other": f.Test[:100*16]}
	f.OODLabels = map[string][]int32{"dataset:other": f.TestLabels[:100]}
	plain := features(5, 9)
	for _, tc := range []struct {
		name  string
		f     *Features
		write func(t *testing.T, dir string, f *Features)
		want  string // error text, "" for none
	}{
		{"with OOD sets", f, write, ""},
		{"without", plain, write, ""},
		{"written before the padding", f, func(t *testing.T, dir string, f *Features) {
			write(t, dir, f)
			p := jobdir.Dir(dir).Features()
			b, _ := os.ReadFile(p)
			head, rest, _ := bytes.Cut(b, []byte{'\n'})
			trimmed := bytes.TrimRight(head, " ")
			if (len(trimmed)+1)%4 == 0 { // older files lie at any offset: this one unaligned
				trimmed = append(trimmed, ' ')
			}
			os.WriteFile(p, append(append(trimmed, '\n'), rest...), 0o644)
		}, ""},
		{"truncated", f, func(t *testing.T, dir string, f *Features) {
			write(t, dir, f)
			p := jobdir.Dir(dir).Features()
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-3], 0o644)
		}, "truncated"},
		{"trailing bytes", f, func(t *testing.T, dir string, f *Features) {
			write(t, dir, f)
			p := jobdir.Dir(dir).Features()
			b, _ := os.ReadFile(p)
			os.WriteFile(p, append(b, 0, 0, 0, 0), 0o644)
		}, "4 bytes after"},
		{"missing", f, func(*testing.T, string, *Features) {}, "features.bin: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.write(t, dir, tc.f)
			path := jobdir.Dir(dir).Features()
			got, err := ReadFeatures(path)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one that says %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Errorf("read back features differ from those written")
			}
			mapped, err := mapfile.Map(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err = decodeFeatures(mapped, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Errorf("mapped features differ from those written")
			}
			head, _, _ := bytes.Cut(mapped, []byte{'\n'})
			start := uintptr(unsafe.Pointer(&mapped[0]))
			at := uintptr(unsafe.Pointer(&got.Train[0]))
			if aliased := at >= start && at < start+uintptr(len(mapped)); aliased != ((len(head)+1)%4 == 0) {
				t.Errorf("header of %d bytes: the arrays alias the mapped file: %v", len(head), aliased)
			}
		})
	}
}

func write(t *testing.T, dir string, f *Features) {
	t.Helper()
	if err := f.Write(jobdir.Dir(dir).Features()); err != nil {
		t.Fatal(err)
	}
}

func mustLinear(t *testing.T, f *Features, rows []int, labels []int32, cfg LinearConfig) LinearResult {
	t.Helper()
	r, err := Linear(context.Background(), f, rows, labels, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustKNN(t *testing.T, f *Features, k int, temperature float64) float64 {
	t.Helper()
	acc, err := KNN(context.Background(), matmul.Measure().Kernels, f, k, temperature)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// Features whose bytes do not match their entry's manifest (16 flipped
// bytes, a truncated file, a missing one) are never probed: the probe
// fails with the features job's damage, which sends that job to run again.
func TestDamagedFeaturesAreNotProbed(t *testing.T) {
	e := grid.Default().Eval
	e.Epochs = 2
	spec := job.Spec{Kind: job.KindLinear, Dataset: "fashion-mnist", Seed: 1, Eval: &e}
	for _, tc := range []struct {
		name   string
		damage func(path string)
	}{
		{"16 flipped bytes", func(p string) {
			b, _ := os.ReadFile(p)
			for i := 0; i < 16; i++ {
				b[len(b)/2+i] ^= 0xff
			}
			os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-100], 0o644)
		}},
		{"missing", func(p string) { os.Remove(p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := storedFeatures(t, features(5, 8))
			if err := Run(context.Background(), spec, d, "f1", func(job.Record) {}); err != nil {
				t.Fatalf("undamaged: %v", err)
			}
			tc.damage(d.Features())
			var ran bool
			err := Run(context.Background(), spec, d, "f1", func(r job.Record) { ran = ran || r.Type == job.RecMetric })
			var damaged *job.DamagedInputError
			if !errors.As(err, &damaged) || damaged.Job != "f1" || ran {
				t.Fatalf("error %v (metrics reported: %v), want the features job's damage", err, ran)
			}
		})
	}
}

// A cancelled probe stops at its next minibatch or block, with the
// context's error.
func TestProbesStopWhenAsked(t *testing.T) {
	f := features(5, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Linear(ctx, f, seq(len(f.TrainLabels)), f.TrainLabels, cfg(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("linear: %v", err)
	}
	if _, err := KNN(ctx, matmul.Kernels{}, f, 20, 0.07); !errors.Is(err, context.Canceled) {
		t.Errorf("knn: %v", err)
	}
}
