// Package matmul multiplies dense row-major float32 matrices for the probes:
// C = A·Bᵀ (kNN similarities, a linear layer's logits) and C = A·B (its
// weight gradient). Built with GOEXPERIMENT=simd on a CPU with AVX-512 it has
// register-blocked vector kernels; gonum's pure-Go Sgemm everywhere.
//
// Which one runs is chosen by measuring both on the machine (Measure), not
// by a CPU flag: vector kernels that were 4x gonum's speed on AMD's Zen ran
// 4-8x slower than gonum on an Intel core.
package matmul

import (
	"fmt"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Impl is an implementation of a product.
type Impl uint8

const (
	Gonum  Impl = iota // gonum's blas32 (pure Go)
	Vector             // this package's AVX-512 kernels
)

func (i Impl) String() string {
	if i == Vector {
		return "vector"
	}
	return "gonum"
}

// Kernels is the implementation each product uses. The zero value uses
// gonum's everywhere; Measure picks the faster one on this machine.
type Kernels struct {
	ABtImpl, ABImpl Impl
}

// ABt sets c (m x n) to a (m x k) times the transpose of b (n x k).
func (ks Kernels) ABt(c, a, b []float32, m, n, k int) {
	check(c, a, b, m*n, m*k, n*k)
	if m == 0 || n == 0 {
		return
	}
	if ks.ABtImpl == Vector && vector() {
		abtVector(c, a, b, m, n, k)
		return
	}
	abtGonum(c, a, b, m, n, k)
}

// AB sets c (m x n) to a (m x k) times b (k x n).
func (ks Kernels) AB(c, a, b []float32, m, n, k int) {
	check(c, a, b, m*n, m*k, k*n)
	if m == 0 || n == 0 {
		return
	}
	if ks.ABImpl == Vector && vector() {
		abVector(c, a, b, m, n, k)
		return
	}
	abGonum(c, a, b, m, n, k)
}

// Speed is what Measure found for one product, in GFLOP/s.
type Speed struct {
	Gonum, Vector float64
}

// Measured is a choice of kernels with the speeds behind it.
type Measured struct {
	Kernels
	ABt, AB Speed
}

func (m Measured) String() string {
	if !vector() {
		return "gonum (no vector kernels on this CPU or build)"
	}
	return fmt.Sprintf("A·Bᵀ %s (vector %.1f, gonum %.1f GFLOP/s); A·B %s (vector %.1f, gonum %.1f GFLOP/s)",
		m.ABtImpl, m.ABt.Vector, m.ABt.Gonum, m.ABImpl, m.AB.Vector, m.AB.Gonum)
}

// margin is how much faster than gonum the vector kernels must measure to
// be chosen: the two round differently in the last bits, so a choice that
// flipped with timing noise on a CPU where they run alike would make a
// probe's results depend on the moment it was measured.
const margin = 1.5

// Measure times gonum's and the vector kernels on the probes' shapes (a
// block of kNN similarities, a minibatch's weight gradient), alternating,
// for about 10 ms, and picks the vector kernels for a product only where
// they are at least 1.5x faster.
func Measure() Measured {
	var out Measured
	if !vector() {
		return out
	}
	rng := rand.New(rand.NewPCG(7, 7))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	time1 := func(f func(c, a, b []float32, m, n, k int), c, a, b []float32, m, n, k, reps int) float64 {
		best := time.Duration(1 << 62)
		for range reps {
			start := time.Now()
			f(c, a, b, m, n, k)
			best = min(best, time.Since(start))
		}
		return 2 * float64(m*n*k) / max(best.Seconds(), 1e-9) / 1e9
	}
	pick := func(s Speed) Impl {
		if s.Vector >= margin*s.Gonum {
			return Vector
		}
		return Gonum
	}
	{ // kNN similarities: 32 test rows against 256 training rows of 256 values
		m, n, k := 32, 256, 256
		a, b, c := rnd(m*k), rnd(n*k), make([]float32, m*n)
		for range 3 {
			out.ABt.Gonum = max(out.ABt.Gonum, time1(abtGonum, c, a, b, m, n, k, 3))
			out.ABt.Vector = max(out.ABt.Vector, time1(abtVector, c, a, b, m, n, k, 3))
		}
		out.ABtImpl = pick(out.ABt)
	}
	{ // a weight gradient: 10 classes, 256 features, a minibatch of 64
		m, n, k := 10, 256, 64
		a, b, c := rnd(m*k), rnd(k*n), make([]float32, m*n)
		for range 3 {
			out.AB.Gonum = max(out.AB.Gonum, time1(abGonum, c, a, b, m, n, k, 10))
			out.AB.Vector = max(out.AB.Vector, time1(abVector, c, a, b, m, n, k, 10))
		}
		out.ABImpl = pick(out.AB)
	}
	return out
}

func abtGonum(c, a, b []float32, m, n, k int) {
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: m, Cols: k, Stride: max(k, 1), Data: a},
		blas32.General{Rows: n, Cols: k, Stride: max(k, 1), Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

func abGonum(c, a, b []float32, m, n, k int) {
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas32.General{Rows: m, Cols: k, Stride: max(k, 1), Data: a},
		blas32.General{Rows: k, Cols: n, Stride: n, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

func check(c, a, b []float32, nc, na, nb int) {
	if len(c) < nc || len(a) < na || len(b) < nb {
		panic(fmt.Sprintf("matmul: slices of %d, %d, %d values for %d, %d, %d", len(c), len(a), len(b), nc, na, nb))
	}
}
