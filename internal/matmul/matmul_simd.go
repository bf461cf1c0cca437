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
		for ; k > 0 && i+4 <= m; i += 4 {
			a4 := a[i*k : (i+4)*k]
			j := j0
			for ; j+4 <= j1; j += 4 {
				b4 := b[j*k : (j+4)*k]
				_ = c[(i+3)*n+j+3]
				abt4x4(&c[i*n+j], n, &a4[0], &b4[0], k)
			}
			for ; j < j1; j++ {
				c[i*n+j], c[(i+1)*n+j], c[(i+2)*n+j], c[(i+3)*n+j] = dot4(b[j*k:(j+1)*k], a4[:k], a4[k:2*k], a4[2*k:3*k], a4[3*k:])
			}
		}
		for ; i+2 <= m; i += 2 {
			a2 := a[i*k : (i+2)*k]
			j := j0
			for ; j+4 <= j1; j += 4 {
				abt2x4(c[i*n+j:], n, a2, b[j*k:(j+4)*k], k)
			}
			for ; j < j1; j++ {
				c[i*n+j], c[(i+1)*n+j] = dot2(b[j*k:(j+1)*k], a2[:k], a2[k:])
			}
		}
		if i < m {
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

// abt4x4 (abt_amd64.s) writes the 16 dot products of four rows of a (4 x k,
// row after row, at a) with four rows of b (at b) into c, whose rows are
// stride apart, each computed as dot computes it. In assembly because Go's
// compiler keeps neither 16 accumulators nor the row pointers in registers:
// the compiled 2x4 kernel spilled, reloaded its pointers from the stack and
// checked bounds on every load, and ran at a third of the core's speed.
//
//go:noescape
func abt4x4(c *float32, stride int, a, b *float32, k int)

// abt2x4 writes the 8 dot products of the two rows of a (2 x k, row after
// row) with the four rows of b (4 x k) into c, whose rows are stride apart.
//
// Two rows, not four: with 16 accumulators Go's register allocator spills
// some of them to the stack in the loop, and those 64-byte stores and
// reloads, at stack offsets that cross cache lines, cost little on AMD's
// Zen and a great deal on Intel's cores (the 4x4 kernel ran 4-8x slower
// than gonum there, 10-15% faster than this one on Zen). With eight
// accumulators nothing spills (go build -gcflags=-S shows no Z register
// stored to SP): the loop is loads and FMAs on every CPU. Full vectors are
// loaded with LoadFloat32x16 (one result) and only the last, partial one
// masked.
//
// Every kernel here computes a dot product the same way (16 lanes
// accumulated in order with FMA, the last vector zero-filled, then sum), so
// the blocking never changes a result's bits.
func abt2x4(c []float32, stride int, a, b []float32, k int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 vec
	p := 0
	for ; p+16 <= k; p += 16 {
		x0, x1 := archsimd.LoadFloat32x16(a[p:]), archsimd.LoadFloat32x16(a[k+p:])
		y0, y1 := archsimd.LoadFloat32x16(b[p:]), archsimd.LoadFloat32x16(b[k+p:])
		y2, y3 := archsimd.LoadFloat32x16(b[2*k+p:]), archsimd.LoadFloat32x16(b[3*k+p:])
		c00, c01, c02, c03 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01), x0.MulAdd(y2, c02), x0.MulAdd(y3, c03)
		c10, c11, c12, c13 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11), x1.MulAdd(y2, c12), x1.MulAdd(y3, c13)
	}
	if p < k {
		x0, x1 := load(a[:k], p), load(a[k:2*k], p)
		y0, y1, y2, y3 := load(b[:k], p), load(b[k:2*k], p), load(b[2*k:3*k], p), load(b[3*k:4*k], p)
		c00, c01, c02, c03 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01), x0.MulAdd(y2, c02), x0.MulAdd(y3, c03)
		c10, c11, c12, c13 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11), x1.MulAdd(y2, c12), x1.MulAdd(y3, c13)
	}
	r := c[:stride+4]
	r[0], r[1], r[2], r[3] = sum(c00), sum(c01), sum(c02), sum(c03)
	r = c[stride:]
	r[0], r[1], r[2], r[3] = sum(c10), sum(c11), sum(c12), sum(c13)
}

// dot4 returns the dot products of x with y0-y3.
func dot4(x, y0, y1, y2, y3 []float32) (float32, float32, float32, float32) {
	var s0, s1, s2, s3 vec
	k := len(x)
	p := 0
	for ; p+16 <= k; p += 16 {
		v := archsimd.LoadFloat32x16(x[p:])
		s0, s1 = v.MulAdd(archsimd.LoadFloat32x16(y0[p:]), s0), v.MulAdd(archsimd.LoadFloat32x16(y1[p:]), s1)
		s2, s3 = v.MulAdd(archsimd.LoadFloat32x16(y2[p:]), s2), v.MulAdd(archsimd.LoadFloat32x16(y3[p:]), s3)
	}
	if p < k {
		v := load(x, p)
		s0, s1, s2, s3 = v.MulAdd(load(y0, p), s0), v.MulAdd(load(y1, p), s1), v.MulAdd(load(y2, p), s2), v.MulAdd(load(y3, p), s3)
	}
	return sum(s0), sum(s1), sum(s2), sum(s3)
}

// dot2 returns the dot products of x with y0 and y1.
func dot2(x, y0, y1 []float32) (float32, float32) {
	var s0, s1 vec
	k := len(x)
	p := 0
	for ; p+16 <= k; p += 16 {
		v := archsimd.LoadFloat32x16(x[p:])
		s0, s1 = v.MulAdd(archsimd.LoadFloat32x16(y0[p:]), s0), v.MulAdd(archsimd.LoadFloat32x16(y1[p:]), s1)
	}
	if p < k {
		v := load(x, p)
		s0, s1 = v.MulAdd(load(y0, p), s0), v.MulAdd(load(y1, p), s1)
	}
	return sum(s0), sum(s1)
}

func dot(x, y []float32) float32 {
	var s vec
	k := len(x)
	p := 0
	for ; p+16 <= k; p += 16 {
		s = archsimd.LoadFloat32x16(x[p:]).MulAdd(archsimd.LoadFloat32x16(y[p:]), s)
	}
	if p < k {
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
	if j32-j == 32 {
		// Whole columns: full loads (one result each), so that nothing
		// spills in the loop.
		for p := range a0 {
			row := b[p*n : (p+1)*n]
			y0, y1 := archsimd.LoadFloat32x16(row[j:]), archsimd.LoadFloat32x16(row[j16:])
			x0, x1 := archsimd.BroadcastFloat32x16(a0[p]), archsimd.BroadcastFloat32x16(a1[p])
			c00, c01 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01)
			c10, c11 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11)
			x2, x3 := archsimd.BroadcastFloat32x16(a2[p]), archsimd.BroadcastFloat32x16(a3[p])
			c20, c21 = x2.MulAdd(y0, c20), x2.MulAdd(y1, c21)
			c30, c31 = x3.MulAdd(y0, c30), x3.MulAdd(y1, c31)
		}
	} else {
		for p := range a0 {
			row := b[p*n : (p+1)*n]
			y0, y1 := load(row[:j16], j), load(row[:j32], j16)
			x0, x1 := archsimd.BroadcastFloat32x16(a0[p]), archsimd.BroadcastFloat32x16(a1[p])
			c00, c01 = x0.MulAdd(y0, c00), x0.MulAdd(y1, c01)
			c10, c11 = x1.MulAdd(y0, c10), x1.MulAdd(y1, c11)
			x2, x3 := archsimd.BroadcastFloat32x16(a2[p]), archsimd.BroadcastFloat32x16(a3[p])
			c20, c21 = x2.MulAdd(y0, c20), x2.MulAdd(y1, c21)
			c30, c31 = x3.MulAdd(y0, c30), x3.MulAdd(y1, c31)
		}
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
