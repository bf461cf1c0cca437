package data

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Synthetic is a small grey 28x28 data set in Fashion-MNIST's shape for
// tests: class c is a bar at angle c·18° around a random centre, with a
// random blob and noise, so that the classes are learnable but not trivial.
func Synthetic(n int, seed uint64, split string) *Set {
	info := Known()["fashion-mnist"]
	rng := rand.New(rand.NewPCG(seed, 9))
	s := &Set{Info: info, Split: split, N: n, Images: make([]uint8, n*784), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		c := i % 10
		s.Labels[i] = int32(c)
		ang := float64(c) * math.Pi / 10
		cx, cy := 14+rng.Float64()*12-6, 14+rng.Float64()*12-6
		half := 4 + rng.Float64()*6
		bx, by := rng.Float64()*28, rng.Float64()*28
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				dx, dy := float64(x)-cx, float64(y)-cy
				d := math.Abs(-math.Sin(ang)*dx + math.Cos(ang)*dy)
				along := math.Abs(math.Cos(ang)*dx + math.Sin(ang)*dy)
				v := 40 + 50*rng.NormFloat64()
				if d < 1.5 && along < half {
					v += 170
				}
				if (float64(x)-bx)*(float64(x)-bx)+(float64(y)-by)*(float64(y)-by) < 9 {
					v += 120
				}
				s.Images[i*784+y*28+x] = uint8(math.Max(0, math.Min(255, v)))
			}
		}
	}
	return s
}

// WriteSynthetic writes Synthetic train and test splits as a Fashion-MNIST
// folder (IDX files) under dir/fashion-mnist, for tests that run real jobs
// without the real data set.
func WriteSynthetic(dir string, train, test int, seed uint64) error {
	folder := filepath.Join(dir, "fashion-mnist")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return err
	}
	for _, sp := range []struct {
		prefix string
		set    *Set
	}{{"train", Synthetic(train, seed, "train")}, {"t10k", Synthetic(test, seed+1, "test")}} {
		labels := make([]uint8, sp.set.N)
		for i, l := range sp.set.Labels {
			labels[i] = uint8(l)
		}
		for _, f := range []struct {
			name    string
			dims    []int
			payload []uint8
		}{
			{sp.prefix + "-images-idx3-ubyte", []int{sp.set.N, 28, 28}, sp.set.Images},
			{sp.prefix + "-labels-idx1-ubyte", []int{sp.set.N}, labels},
		} {
			var buf bytes.Buffer
			if err := WriteIDX(&buf, f.dims, f.payload); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(folder, f.name), buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("write synthetic data: %w", err)
			}
		}
	}
	return nil
}
