//go:build goexperiment.simd && amd64

#include "textflag.h"

// Accumulators: Z(4i+j) holds the 16 lanes of row i of a times row j of b.
// Rows of a load into Z16-Z19, rows of b into Z20-Z23.

// COL multiplies the rows of a (Z16-Z19) by row j of b (in yj) into the
// accumulators of column j.
#define COL(yj, c0, c1, c2, c3) \
	VFMADD231PS yj, Z16, c0; \
	VFMADD231PS yj, Z17, c1; \
	VFMADD231PS yj, Z18, c2; \
	VFMADD231PS yj, Z19, c3

// STEP loads 16 values of each row at offset DX (with LOAD: FULL, or PART,
// zero-filled past the first k%16 lanes by mask K1, for the last vector)
// and accumulates.
#define STEP(LOAD) \
	LOAD((SI)(DX*1), Z16); \
	LOAD((DI)(DX*1), Z17); \
	LOAD((R8)(DX*1), Z18); \
	LOAD((R9)(DX*1), Z19); \
	LOAD((R10)(DX*1), Z20); \
	COL(Z20, Z0, Z4, Z8, Z12); \
	LOAD((R11)(DX*1), Z21); \
	COL(Z21, Z1, Z5, Z9, Z13); \
	LOAD((R12)(DX*1), Z22); \
	COL(Z22, Z2, Z6, Z10, Z14); \
	LOAD((R13)(DX*1), Z23); \
	COL(Z23, Z3, Z7, Z11, Z15)

#define FULL(m, z) VMOVUPS m, z
#define PART(m, z) VMOVUPS.Z m, K1, z

// HALVE adds an accumulator's halves, then quarters: its 4-lane partial sum
// in x (the low quarter of z, y).
#define HALVE(z, y, x) \
	VEXTRACTF64X4 $1, z, Y16; \
	VADDPS Y16, y, y; \
	VEXTRACTF32X4 $1, y, X16; \
	VADDPS X16, x, x

// ROW transposes the partial sums of a row's four dot products (q0-q3) and
// adds their lanes across, ((q0+q1)+q2)+q3 for each, into 4 values at (DI).
#define ROW(q0, q1, q2, q3) \
	VUNPCKLPS q1, q0, X16; \
	VUNPCKHPS q1, q0, X17; \
	VUNPCKLPS q3, q2, X18; \
	VUNPCKHPS q3, q2, X19; \
	VMOVLHPS X18, X16, X20; \
	VMOVHLPS X16, X18, X21; \
	VMOVLHPS X19, X17, X22; \
	VMOVHLPS X17, X19, X23; \
	VADDPS X21, X20, X20; \
	VADDPS X22, X20, X20; \
	VADDPS X23, X20, X20; \
	VMOVUPS X20, (DI)

// func abt4x4(c *float32, stride int, a, b *float32, k int)
//
// c[i*stride+j] = the dot product of row i of a (4 x k) with row j of b
// (4 x k), for i, j in 0..3, computed exactly as dot does: 16 lanes
// accumulated in order with FMA (the last, partial vector zero-filled by a
// masked load), then lo+hi halves, lo+hi quarters and ((q0+q1)+q2)+q3.
// Nothing spills, unlike the compiled Go kernels.
TEXT ·abt4x4(SB), NOSPLIT, $0-40
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), R10
	MOVQ k+32(FP), BX
	LEAQ (BX*4), AX // a row's bytes
	LEAQ (SI)(AX*1), DI
	LEAQ (DI)(AX*1), R8
	LEAQ (R8)(AX*1), R9
	LEAQ (R10)(AX*1), R11
	LEAQ (R11)(AX*1), R12
	LEAQ (R12)(AX*1), R13
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ BX, CX
	ANDQ $~15, CX
	SHLQ $2, CX // the whole vectors' bytes
	XORQ DX, DX
	CMPQ DX, CX
	JGE tail

loop:
	STEP(FULL)
	ADDQ $64, DX
	CMPQ DX, CX
	JLT loop

tail:
	ANDQ $15, BX
	JZ reduce
	MOVQ BX, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1 // the first k%16 lanes
	STEP(PART)

reduce:
	MOVQ c+0(FP), DI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	HALVE(Z0, Y0, X0)
	HALVE(Z1, Y1, X1)
	HALVE(Z2, Y2, X2)
	HALVE(Z3, Y3, X3)
	HALVE(Z4, Y4, X4)
	HALVE(Z5, Y5, X5)
	HALVE(Z6, Y6, X6)
	HALVE(Z7, Y7, X7)
	HALVE(Z8, Y8, X8)
	HALVE(Z9, Y9, X9)
	HALVE(Z10, Y10, X10)
	HALVE(Z11, Y11, X11)
	HALVE(Z12, Y12, X12)
	HALVE(Z13, Y13, X13)
	HALVE(Z14, Y14, X14)
	HALVE(Z15, Y15, X15)
	ROW(X0, X1, X2, X3)
	ADDQ BX, DI
	ROW(X4, X5, X6, X7)
	ADDQ BX, DI
	ROW(X8, X9, X10, X11)
	ADDQ BX, DI
	ROW(X12, X13, X14, X15)
	VZEROUPPER
	RET
