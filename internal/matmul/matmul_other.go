//go:build !(goexperiment.simd && amd64)

package matmul

func vector() bool { return false }

func abtVector(c, a, b []float32, m, n, k int) { panic("matmul: no vector kernels in this build") }
func abVector(c, a, b []float32, m, n, k int)  { panic("matmul: no vector kernels in this build") }
