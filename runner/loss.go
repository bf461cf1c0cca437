package runner

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ntXent is SimCLR's loss: the 2B L2-normalized embeddings cat(a, b), cosine
// similarities / tau, self-similarity removed; each anchor has its other view
// as positive; cross-entropy averaged over the 2B anchors.
func ntXent(a, b *Node, tau float64) *Node {
	g := a.Graph()
	n := a.Shape().Dimensions[0]
	z := L2Normalize(Concatenate([]*Node{a, b}, 0), -1)
	matMulFLOPs(g, 2*n, a.Shape().Dimensions[1], 2*n, 3)
	sim := DivScalar(MatMul(z, Transpose(z, 0, 1)), tau)
	// Remove self-similarity with a large negative on the diagonal.
	sim = Sub(sim, selfMask(g, 2*n, sim.DType()))
	logp := LogSoftmax(sim, -1)
	// Positive of anchor i is i+n (mod 2n).
	pos := positiveMask(g, n, sim.DType())
	return Neg(DivScalar(ReduceAllSum(Mul(logp, pos)), float64(2*n)))
}

// selfMask is the [m, m] constant with 1e9 on the diagonal, 0 elsewhere:
// the value Diagonal(g, m)·1e9 had in the graph, made once when the graph is
// built (from Iota and Equal in the graph it took 0.6 ms of every step of a
// peer at batch 256 on one core).
func selfMask(g *Graph, m int, dt dtypes.DType) *Node {
	v := make([]float32, m*m)
	for i := range m {
		v[i*m+i] = 1e9
	}
	mask := Const(g, tensors.FromFlatDataAndDimensions(v, m, m))
	if dt != dtypes.Float32 {
		mask = ConvertDType(mask, dt)
	}
	return mask
}

// positiveMask is the [2n, 2n] matrix with ones at (i, i+n) and (i+n, i).
func positiveMask(g *Graph, n int, dt interface{}) *Node {
	rows := make([][]float32, 2*n)
	for i := range rows {
		rows[i] = make([]float32, 2*n)
		rows[i][(i+n)%(2*n)] = 1
	}
	return Const(g, rows)
}

// crossView is S[i,j] = cos(a[i], b[j]) / tau: rows view 1, columns view 2.
func crossView(a, b *Node, tau float64) *Node {
	an, bn := L2Normalize(a, -1), L2Normalize(b, -1)
	return DivScalar(MatMul(an, Transpose(bn, 0, 1)), tau)
}

// dogoKL is KL(P_target || P_self) of row-wise softmaxes over B x B cross-view
// similarities, with the target detached (no gradient flows into the peer).
// Reduction "element-mean" divides the sum by B*B (the official code's),
// "batch-mean" by B.
func dogoKL(selfS, targetS *Node, reduction string) *Node {
	b := selfS.Shape().Dimensions[0]
	logT := StopGradient(LogSoftmax(targetS, -1))
	pT := Exp(logT)
	logS := LogSoftmax(selfS, -1)
	sum := ReduceAllSum(Mul(pT, Sub(logT, logS)))
	if reduction == "batch-mean" {
		return DivScalar(sum, float64(b))
	}
	return DivScalar(sum, float64(b*b))
}

// simsiamLoss is SimSiam's symmetric negative cosine similarity with the
// projections detached: 1/2 [-mean <sg(z_x), p_y> - mean <sg(z_y), p_x>],
// on L2-normalized vectors.
func simsiamLoss(zx, zy, px, py *Node) *Node {
	cos := func(z, p *Node) *Node {
		return ReduceAllMean(ReduceSum(Mul(StopGradient(L2Normalize(z, -1)), L2Normalize(p, -1)), -1))
	}
	return MulScalar(Add(cos(zx, py), cos(zy, px)), -0.5)
}
