package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randoms(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// reference computes c = a·op(b) in float64, op(b) = bᵀ when bt.
func reference(a, b []float32, m, n, k int, bt bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				bv := b[p*n+j]
				if bt {
					bv = b[j*k+p]
				}
				s += float64(a[i*k+p]) * float64(bv)
			}
			c[i*n+j] = s
		}
	}
	return c
}

// Shapes with every kind of edge: rows and columns not multiples of the
// 4x4 and 4x32 tiles, lengths not multiples of 16, blocks of b (abtBlock).
var shapes = [][3]int{
	{1, 1, 1}, {4, 4, 16}, {5, 7, 17}, {3, 33, 15}, {9, 10, 100}, {256, 10, 512},
	{10, 512, 256}, {7, 300, 64}, {130, 131, 784}, {2, 65, 1},
}

func TestMatmulAgainstFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a := randoms(rng, m*k)
		for _, tc := range []struct {
			name string
			bt   bool
			f    func(c, a, b []float32, m, n, k int)
		}{{"ABt", true, ABt}, {"AB", false, AB}, {"ABt/gonum", true, abtGonum}, {"AB/gonum", false, abGonum}} {
			t.Run(fmt.Sprintf("%s/%dx%dx%d", tc.name, m, n, k), func(t *testing.T) {
				b := randoms(rng, n*k)
				c := make([]float32, m*n)
				for i := range c {
					c[i] = float32(math.NaN()) // every value must be written
				}
				tc.f(c, a, b, m, n, k)
				want := reference(a, b, m, n, k, tc.bt)
				for i := range c {
					// float32 sums of k products of N(0,1) values.
					if d := math.Abs(float64(c[i]) - want[i]); !(d <= 1e-5*float64(k)) {
						t.Fatalf("c[%d] = %g, want %g (float64)", i, c[i], want[i])
					}
				}
			})
		}
	}
}

func TestMatmulHandExample(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6} // 2x3
	b := []float32{1, 0, 1, 2, 1, 0} // 2x3 for ABt, 3x2 for AB
	c := make([]float32, 4)
	ABt(c, a, b, 2, 2, 3)
	if want := []float32{4, 4, 10, 13}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("ABt = %v, want %v", c, want)
	}
	AB(c, a, b, 2, 2, 3)
	if want := []float32{6, 4, 15, 10}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("AB = %v, want %v", c, want)
	}
}

// BenchmarkMatmul compares the kernels with gonum's Sgemm on the probes'
// shapes, one after the other in one run: kNN similarities (a block of 256
// test rows against 10,000 training rows), a linear probe's logits and its
// weight gradient. Run it with -cpu 1: probe jobs get one core each.
func BenchmarkMatmul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		name    string
		m, n, k int
		bt      bool
	}{
		{"knn-d256", 256, 10000, 256, true}, {"knn-d512", 256, 10000, 512, true}, {"knn-d784", 256, 10000, 784, true},
		{"logits-d512", 256, 10, 512, true}, {"grad-d512", 10, 512, 256, false},
	} {
		x, y, c := randoms(rng, s.m*s.k), randoms(rng, s.n*s.k), make([]float32, s.m*s.n)
		impls := map[string]func(c, a, b []float32, m, n, k int){"gonum": abGonum, "matmul": AB}
		if s.bt {
			impls = map[string]func(c, a, b []float32, m, n, k int){"gonum": abtGonum, "matmul": ABt}
		}
		for _, impl := range []string{"gonum", "matmul"} {
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					impls[impl](c, x, y, s.m, s.n, s.k)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
