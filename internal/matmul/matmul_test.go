package matmul

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
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

// vectors asks for the vector kernels (gonum's where the build or CPU has none).
var vectors = Kernels{ABtImpl: Vector, ABImpl: Vector}

func TestMatmulAgainstFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a := randoms(rng, m*k)
		for _, tc := range []struct {
			name string
			bt   bool
			f    func(c, a, b []float32, m, n, k int)
		}{{"ABt", true, vectors.ABt}, {"AB", false, vectors.AB}, {"ABt/gonum", true, Kernels{}.ABt}, {"AB/gonum", false, Kernels{}.AB}} {
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
	vectors.ABt(c, a, b, 2, 2, 3)
	if want := []float32{4, 4, 10, 13}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("ABt = %v, want %v", c, want)
	}
	vectors.AB(c, a, b, 2, 2, 3)
	if want := []float32{6, 4, 15, 10}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("AB = %v, want %v", c, want)
	}
}

// BenchmarkMatmul compares the vector kernels with gonum's Sgemm, and with
// what Measure chooses on this machine (chosen=...), on the probes' shapes,
// one after the other in one run: kNN similarities (a block of 256
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
		chosen := Measure().Kernels
		impls := map[string]func(c, a, b []float32, m, n, k int){"gonum": abGonum, "vector": vectors.AB, "chosen=" + chosen.ABImpl.String(): chosen.AB}
		if s.bt {
			impls = map[string]func(c, a, b []float32, m, n, k int){"gonum": abtGonum, "vector": vectors.ABt, "chosen=" + chosen.ABtImpl.String(): chosen.ABt}
		}
		for _, impl := range slices.Sorted(maps.Keys(impls)) {
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					impls[impl](c, x, y, s.m, s.n, s.k)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// laneDot is the vector kernels' dot product, emulated: 16 lanes, each
// accumulating its products in order with a fused multiply-add (exact in
// float64, then rounded to float32), the last vector zero-filled; then the
// halves added (8 lanes, then 4) and the last four summed left to right.
func laneDot(x, y func(p int) float32, k int) float32 {
	var l [16]float32
	for p := 0; p < k; p++ {
		l[p%16] = float32(math.FMA(float64(x(p)), float64(y(p)), float64(l[p%16])))
	}
	var h [8]float32
	for i := range h {
		h[i] = l[i] + l[i+8]
	}
	var q [4]float32
	for i := range q {
		q[i] = h[i] + h[i+4]
	}
	return q[0] + q[1] + q[2] + q[3]
}

// TestVectorKernelBits: the vector kernels compute every value in the lane
// order above, bit for bit, whatever the blocking of the product (which
// kernel, which tile, which tail), so a change of blocking never changes a
// probe's results. A·B accumulates each value in one lane, in order.
func TestVectorKernelBits(t *testing.T) {
	if !vector() {
		t.Skip("no vector kernels in this build or on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, b, c := randoms(rng, m*k), randoms(rng, n*k), make([]float32, m*n)
		vectors.ABt(c, a, b, m, n, k)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				want := laneDot(func(p int) float32 { return a[i*k+p] }, func(p int) float32 { return b[j*k+p] }, k)
				if math.Float32bits(c[i*n+j]) != math.Float32bits(want) {
					t.Fatalf("ABt %v: c[%d,%d] = %x, the lane order gives %x", s, i, j, math.Float32bits(c[i*n+j]), math.Float32bits(want))
				}
			}
		}
		vectors.AB(c, a, b, m, n, k)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var want float32
				for p := 0; p < k; p++ {
					want = float32(math.FMA(float64(a[i*k+p]), float64(b[p*n+j]), float64(want)))
				}
				if math.Float32bits(c[i*n+j]) != math.Float32bits(want) {
					t.Fatalf("AB %v: c[%d,%d] = %x, in order %x", s, i, j, math.Float32bits(c[i*n+j]), math.Float32bits(want))
				}
			}
		}
	}
}

// TestMeasure: on this machine the measured choice is consistent with the
// speeds it reports (the vector kernels only where 1.5x faster), and gonum
// where there are no vector kernels.
func TestMeasure(t *testing.T) {
	m := Measure()
	t.Log(m)
	if !vector() {
		if m.Kernels != (Kernels{}) {
			t.Fatalf("no vector kernels, but chose %+v", m.Kernels)
		}
		return
	}
	for _, p := range []struct {
		name string
		s    Speed
		impl Impl
	}{{"ABt", m.ABt, m.ABtImpl}, {"AB", m.AB, m.ABImpl}} {
		if p.s.Gonum <= 0 || p.s.Vector <= 0 {
			t.Errorf("%s: speeds %+v", p.name, p.s)
		}
		if want := p.s.Vector >= margin*p.s.Gonum; (p.impl == Vector) != want {
			t.Errorf("%s: chose %v at %+v", p.name, p.impl, p.s)
		}
	}
}
