// Package matmul multiplies dense row-major float32 matrices for the probes:
// C = A·Bᵀ (kNN similarities, a linear layer's logits) and C = A·B (its
// weight gradient). With GOEXPERIMENT=simd on a CPU with AVX-512 it uses
// register-blocked vector kernels (about 4x gonum's pure-Go Sgemm on one core,
// see BenchmarkMatmul); elsewhere it calls gonum's blas32.
package matmul

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// ABt sets c (m x n) to a (m x k) times the transpose of b (n x k).
func ABt(c, a, b []float32, m, n, k int) {
	check(c, a, b, m*n, m*k, n*k)
	if m == 0 || n == 0 {
		return
	}
	if vector() {
		abtVector(c, a, b, m, n, k)
		return
	}
	abtGonum(c, a, b, m, n, k)
}

func abtGonum(c, a, b []float32, m, n, k int) {
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: m, Cols: k, Stride: max(k, 1), Data: a},
		blas32.General{Rows: n, Cols: k, Stride: max(k, 1), Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// AB sets c (m x n) to a (m x k) times b (k x n).
func AB(c, a, b []float32, m, n, k int) {
	check(c, a, b, m*n, m*k, k*n)
	if m == 0 || n == 0 {
		return
	}
	if vector() {
		abVector(c, a, b, m, n, k)
		return
	}
	abGonum(c, a, b, m, n, k)
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
