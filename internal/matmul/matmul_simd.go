//go:build goexperiment.simd && amd64

package matmul

import "simd/archsimd"

type vec = archsimd.Float32x16

func vector() bool { return archsimd.X86.AVX512() }

// load reads up to 16 values of s from p on, zero-filling past its end.
func load(s []float32, p int) vec {
	v, _ := archsimd.LoadFloat32x16Part(s[p:])
	return v
}

func sum(v vec) float32 {
	h := v.GetLo().Add(v.GetHi())
	q := h.GetLo().Add(h.GetHi())
	return q.GetElem(0) + q.GetElem(1) + q.GetElem(2) + q.GetElem(3)
}

// abtBlock is how many rows of b stay in cache while every row of a passes
// over them (128 rows of 512 values: 256 KiB).
const abtBlock = 128

// The kernels end with VZEROUPPER: without it the scalar SSE code that Go
// compiles math.Exp and the probes' Adam to ran 4-5x slower after them.

func abtVector(c, a, b []float32, m, n, k int) {
	defer archsimd.ClearAVXUpperBits()
	for j0 := 0; j0 < n; j0 += abtBlock {
		j1 := min(j0+abtBlock, n)
		i := 0
		for ; i+4 <= m; i += 4 {
			a0, a1, a2, a3 := a[i*k:(i+1)*k], a[(i+1)*k:(i+2)*k], a[(i+2)*k:(i+3)*k], a[(i+3)*k:(i+4)*k]
			j := j0
			for ; j+4 <= j1; j += 4 {
				abt4x4(c[i*n+j:], n, a0, a1, a2, a3, b[j*k:(j+1)*k], b[(j+1)*k:(j+2)*k], b[(j+2)*k:(j+3)*k], b[(j+3)*k:(j+4)*k])
			}
			for ; j < j1; j++ {
				bj := b[j*k : (j+1)*k]
				c[i*n+j], c[(i+1)*n+j], c[(i+2)*n+j], c[(i+3)*n+j] = dot4(bj, a0, a1, a2, a3)
			}
		}
		for ; i < m; i++ {
			ai := a[i*k : (i+1)*k]
			j := j0
			for ; j+4 <= j1; j += 4 {
				c[i*n+j], c[i*n+j+1], c[i*n+j+2], c[i*n+j+3] = dot4(ai, b[j*k:(j+1)*k], b[(j+1)*k:(j+2)*k], b[(j+2)*k:(j+3)*k], b[(j+3)*k:(j+4)*k])
			}
			for ; j < j1; j++ {
				c[i*n+j] = dot(ai, b[j*k:(j+1)*k])
			}
		}
	}
}

// abt4x4 writes the 16 dot products of rows a0-a3 with rows b0-b3 (all of
// the same length) into c, whose rows are stride apart.
func abt4x4(c []float32, stride int, a0, a1, a2, a3, b0, b1, b2, b3 []float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 vec
	for p := 0; p < len(a0); p += 16 {
		x0, x1, x2, x3 := load(a0, p), load(a1, p), load(a2, p), load(a3, p)
		y0, y1, y2, y3 := load(b0, p), load(b1, p), load(b2, p), load(b3, p)
		c00, c01, c02, c03 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01), x0.MulAdd(y2, c02), x0.MulAdd(y3, c03)
		c10, c11, c12, c13 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11), x1.MulAdd(y2, c12), x1.MulAdd(y3, c13)
		c20, c21, c22, c23 = x2.MulAdd(y0, c20), x2.MulAdd(y1, c21), x2.MulAdd(y2, c22), x2.MulAdd(y3, c23)
		c30, c31, c32, c33 = x3.MulAdd(y0, c30), x3.MulAdd(y1, c31), x3.MulAdd(y2, c32), x3.MulAdd(y3, c33)
	}
	r := c[:3*stride+4]
	r[0], r[1], r[2], r[3] = sum(c00), sum(c01), sum(c02), sum(c03)
	r = c[stride:]
	r[0], r[1], r[2], r[3] = sum(c10), sum(c11), sum(c12), sum(c13)
	r = c[2*stride:]
	r[0], r[1], r[2], r[3] = sum(c20), sum(c21), sum(c22), sum(c23)
	r = c[3*stride:]
	r[0], r[1], r[2], r[3] = sum(c30), sum(c31), sum(c32), sum(c33)
}

// dot4 returns the dot products of x with y0-y3.
func dot4(x, y0, y1, y2, y3 []float32) (float32, float32, float32, float32) {
	var s0, s1, s2, s3 vec
	for p := 0; p < len(x); p += 16 {
		v := load(x, p)
		s0, s1, s2, s3 = v.MulAdd(load(y0, p), s0), v.MulAdd(load(y1, p), s1), v.MulAdd(load(y2, p), s2), v.MulAdd(load(y3, p), s3)
	}
	return sum(s0), sum(s1), sum(s2), sum(s3)
}

func dot(x, y []float32) float32 {
	var s vec
	for p := 0; p < len(x); p += 16 {
		s = load(x, p).MulAdd(load(y, p), s)
	}
	return sum(s)
}

func abVector(c, a, b []float32, m, n, k int) {
	defer archsimd.ClearAVXUpperBits()
	i := 0
	for ; i+4 <= m; i += 4 {
		a0, a1, a2, a3 := a[i*k:(i+1)*k], a[(i+1)*k:(i+2)*k], a[(i+2)*k:(i+3)*k], a[(i+3)*k:(i+4)*k]
		for j := 0; j < n; j += 32 {
			ab4x32(c[i*n:], n, j, a0, a1, a2, a3, b)
		}
	}
	for ; i < m; i++ {
		ai := a[i*k : (i+1)*k]
		for j := 0; j < n; j += 32 {
			ab1x32(c[i*n:(i+1)*n], n, j, ai, b)
		}
	}
}

// ab4x32 writes columns j to j+32 (or to n) of four rows of c = a·b, where
// a0-a3 are the rows of a and b has n columns.
func ab4x32(c []float32, n, j int, a0, a1, a2, a3, b []float32) {
	j16, j32 := min(j+16, n), min(j+32, n)
	var c00, c01, c10, c11, c20, c21, c30, c31 vec
	for p := range a0 {
		row := b[p*n : (p+1)*n]
		y0, y1 := load(row[:j16], j), load(row[:j32], j16)
		x0, x1 := archsimd.BroadcastFloat32x16(a0[p]), archsimd.BroadcastFloat32x16(a1[p])
		x2, x3 := archsimd.BroadcastFloat32x16(a2[p]), archsimd.BroadcastFloat32x16(a3[p])
		c00, c01 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01)
		c10, c11 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11)
		c20, c21 = x2.MulAdd(y0, c20), x2.MulAdd(y1, c21)
		c30, c31 = x3.MulAdd(y0, c30), x3.MulAdd(y1, c31)
	}
	for r, v := range [4][2]vec{{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}} {
		row := c[r*n : (r+1)*n]
		v[0].StorePart(row[j:j16])
		v[1].StorePart(row[j16:j32])
	}
}

func ab1x32(c []float32, n, j int, a, b []float32) {
	j16, j32 := min(j+16, n), min(j+32, n)
	var c0, c1 vec
	for p, x := range a {
		row := b[p*n : (p+1)*n]
		v := archsimd.BroadcastFloat32x16(x)
		c0, c1 = v.MulAdd(load(row[:j16], j), c0), v.MulAdd(load(row[:j32], j16), c1)
	}
	c0.StorePart(c[j:j16])
	c1.StorePart(c[j16:j32])
}
