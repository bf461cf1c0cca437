// Package runner runs one sweep job: it is the only package that imports
// GoMLX. It holds the encoders, the self-supervised losses, DoGo's
// distillation term, pretraining with checkpoints, and feature extraction.
package runner

import (
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// archSpec is how an encoder is built: its layout from the registry, and
// how its convolutions are computed.
type archSpec struct {
	job.Arch
	// nativeConv: 3x3 convolutions use the backend's convolution op (XLA)
	// instead of im2col (the Go backend); both read the same variables.
	nativeConv bool
}

// nativeConv reports whether a backend's own convolution is the fast one:
// on XLA it is; on the Go backend im2col is 20-60x faster.
func nativeConv(b compute.Backend) bool { return b.Name() == "xla" }

// ErrNotInBuild is returned for architectures this build cannot train.
type ErrNotInBuild struct{ Arch string }

func (e ErrNotInBuild) Error() string {
	return fmt.Sprintf("architecture %s is not implemented in this build (mlp-s/m/l, cnn-s/m/l, resnet18/34/50, wrn-D-K)", e.Arch)
}

func lookupArch(name string) (archSpec, error) {
	a, ok := job.LookupArch(name)
	if !ok {
		return archSpec{}, ErrNotInBuild{name}
	}
	return archSpec{Arch: a}, nil
}

// encoder maps images [B, H, W, C] (normalized) to features [B, d].
func encoder(scope *model.Scope, a archSpec, x *Node) *Node {
	if a.ResNet != nil {
		return resnetEncoder(scope, *a.ResNet, a.nativeConv, x)
	}
	if len(a.MLP) > 0 {
		b := x.Shape().Dimensions[0]
		h := Reshape(x, b, -1)
		for i, w := range a.MLP {
			h = onViews(x.Graph(), i == 0, func() *Node { return activation.Relu(dense(scope.In("dense_%d", i), h, true, w)) })
		}
		return h
	}
	// On the Go backend each half of the batch (each view, in training) is
	// its own subgraph: the backend runs independent subgraphs on different
	// cores, where most ops of one pass (gathers, scatters, transposes,
	// activations) run on one (solo cnn-l at batch 256 on 2 cores: 134 ms
	// in one pass, 104 in two). Both halves read the same variables.
	if b := x.Shape().Dimensions[0]; !a.nativeConv && b >= 2 {
		first := cnn(scope.In, a, rows(x, 0, b/2))
		second := cnn(scope.Shared, a, rows(x, b/2, b))
		return Concatenate([]*Node{first, second}, 0)
	}
	return cnn(scope.In, a, x)
}

// rows is x[from:to] along axis 0, copied as one block by a GatherSlices:
// the Go backend's Slice copies value by value (1.5% of a solo cnn-s-g2
// step for the two halves of the views).
func rows(x *Node, from, to int) *Node {
	dims := x.Shape().Dimensions
	inner := x.Shape().Size() / dims[0]
	start := Const(x.Graph(), []int32{int32(from)})
	out := GatherSlices(Reshape(x, dims[0], inner), []int{0}, start, []int{to - from}, true)
	return Reshape(out, append([]int{to - from}, dims[1:]...)...)
}

// cnn is a CNN encoder's layers; layer gives each layer's scope (In, or
// Shared for a second pass through the same variables).
func cnn(layer func(string, ...any) *model.Scope, a archSpec, x *Node) *Node {
	// No BatchNorm in the CPU CNNs: at quickstart budgets it made SimCLR's
	// features worse than a random encoder's (measured when the CNNs were
	// added: linear probe 71.6% with BN against 72.2% for random init, 73.2%
	// without BN). The head keeps the method's BN.
	h := x
	for i, c := range a.Conv {
		h = onViews(x.Graph(), i == 0, func() *Node {
			return activation.Relu(conv3x3(layer("conv_%d", i), h, c, a.Strides[i], a.nativeConv))
		})
	}
	if a.PoolGrid > 1 {
		return gridPool(h, a.PoolGrid)
	}
	return avgPool(h)
}

// gridPool averages [B, H, W, C] over each cell of an n x n grid, as
// PyTorch's AdaptiveAvgPool2d(n) does (cell i spans floor(i*H/n) to
// ceil((i+1)*H/n), so cells overlap when n does not divide H), and
// flattens it to [B, n*n*C], cells in row-major order.
//
// It is one batched product with the cells' averaging matrix A [n*n, H*W]:
// A·h per image. Slicing the cells cost more on the Go backend (copies
// forward; padded copies summed backward), and autodiff's gradient of the
// product would transpose h; the gradient here, Aᵀ·dy per image, needs no
// transpose. It averages in float32 also under mixed precision.
func gridPool(h *Node, n int) *Node {
	if dt := h.DType(); dt != dtypes.Float32 {
		return ConvertDType(gridPool(ConvertDType(h, dtypes.Float32), n), dt)
	}
	g := h.Graph()
	dims := h.Shape().Dimensions
	b, H, W, c := dims[0], dims[1], dims[2], dims[3]
	avg := make([]float32, n*n*H*W)
	for i := 0; i < n; i++ {
		y0, y1 := i*H/n, ((i+1)*H+n-1)/n
		for j := 0; j < n; j++ {
			x0, x1 := j*W/n, ((j+1)*W+n-1)/n
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					avg[(i*n+j)*H*W+y*W+x] = float32(1 / float64((y1-y0)*(x1-x0)))
				}
			}
		}
	}
	m := Reshape(Const(g, avg), n*n, H*W)
	a, aT := BroadcastPrefix(m, b), BroadcastPrefix(Transpose(m, 0, 1), b) // [B, n*n, H*W], [B, H*W, n*n]
	pooled := customGradient([]*Node{Reshape(h, b, H*W, c)},
		func(x []*Node) *Node { return DotGeneral(a, []int{2}, []int{0}, x[0], []int{1}, []int{0}) },
		func(_ []*Node, dy *Node) []*Node {
			return []*Node{DotGeneral(aT, []int{2}, []int{0}, dy, []int{1}, []int{0})}
		})
	return Reshape(pooled, b, n*n*c)
}

// avgPool is global average pooling [B, H, W, C] -> [B, C], summed in
// float32 also under mixed precision.
//
// On the Go backend its gradient copies each image's C values of dy/(H*W)
// to its H*W positions with one Gather (rows of C values): autodiff's
// BroadcastInDim fills them value by value (4% of a solo cnn-l step at
// batch 256 on one core). The same values: dy times the mean's 1/(H*W), as
// autodiff computes them, then copies.
func avgPool(h *Node) *Node {
	if dt := h.DType(); dt != dtypes.Float32 {
		return ConvertDType(avgPool(ConvertDType(h, dtypes.Float32)), dt)
	}
	g := h.Graph()
	if nativeConv(g.Backend()) {
		return ReduceMean(h, 1, 2)
	}
	dims := h.Shape().Dimensions
	b, hw := dims[0], dims[1]*dims[2]
	return customGradient([]*Node{h},
		func(x []*Node) *Node { return ReduceMean(x[0], 1, 2) },
		func(_ []*Node, dy *Node) []*Node {
			scaled := MulScalar(dy, 1/float64(hw)) // [B, C]
			image := indexConst(g, []int{b, hw}, func(i []int) []int { return []int{i[0]} })
			spread := GatherSlices(scaled, []int{0}, image, []int{1}, true) // [B, H*W, 1, C]
			return []*Node{Reshape(spread, dims...)}
		})
}

// conv3x3 is a 3x3 convolution padded by 1 on each side (PyTorch's
// padding=1), with bias. Its kernel is the variable "dense/weights" of shape
// [9*cin, cout] (rows: tap dy, tap dx, input channel), whichever way it is
// computed, so checkpoints move between backends.
//
// native: the backend's convolution op. Otherwise im2col: one Gather of
// every output pixel's 3x3 window (rows of 3*cin contiguous values), then
// one product with the kernel (weightProduct); the Gather's gradient is a
// ScatterSum. On the Go backend this is 20-60x faster than its built-in
// convolution, and 1.5x faster than nine strided Slices concatenated (the
// Go backend's Slice copies value by value; Gather copies rows).
func conv3x3(scope *model.Scope, x *Node, cout, stride int, native bool) *Node {
	dims := x.Shape().Dimensions
	b, h, w, cin := dims[0], dims[1], dims[2], dims[3]
	ho, wo := (h+stride-1)/stride, (w+stride-1)/stride
	if native {
		kernel, bias := denseVars(scope, x, 9*cin, cout, true)
		layerFLOPs(x.Graph(), b*ho*wo, 9*cin, cout)
		y := Convolve(x, Reshape(kernel, 3, 3, cin, cout)).Strides(stride).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		return Add(y, Reshape(bias, 1, 1, 1, cout))
	}
	g := x.Graph()
	xp := padHW(x)
	// Each output pixel's 3x3 window of the padded input, from its top-left
	// corner (b, y*stride, x*stride): [B, ho, wo, 1, 3, 3, cin].
	start := indexConst(g, []int{b, ho, wo}, func(i []int) []int { return []int{i[0], i[1] * stride, i[2] * stride} })
	patches := Reshape(GatherSlices(xp, []int{0, 1, 2}, start, []int{1, 3, 3}, true), b*ho*wo, 9*cin)
	kernel, bias := denseVars(scope, x, 9*cin, cout, true)
	layerFLOPs(g, b*ho*wo, 9*cin, cout)
	out := Add(weightProduct(patches, kernel), Reshape(bias, 1, cout))
	return Reshape(out, b, ho, wo, cout)
}

// indexConst is the constant int32 tensor [dims..., k] whose entry at index
// i is at(i), k values: the start indices of a GatherSlices, made once when
// the graph is built (built from Iota in the graph, they were computed at
// every step).
func indexConst(g *Graph, dims []int, at func(i []int) []int) *Node {
	n := 1
	for _, d := range dims {
		n *= d
	}
	var flat []int32
	i := make([]int, len(dims))
	k := 0
	for range n {
		idx := at(i)
		k = len(idx)
		for _, v := range idx {
			flat = append(flat, int32(v))
		}
		for a := len(i) - 1; a >= 0; a-- { // next index, row-major
			if i[a]++; i[a] < dims[a] {
				break
			}
			i[a] = 0
		}
	}
	return Const(g, tensors.FromFlatDataAndDimensions(flat, append(dims[:len(dims):len(dims)], k)...))
}

// padHW pads x [B, H, W, C] with a border of zeros on H and W. Its
// gradient takes the inner rows of the padded gradient with one GatherSlices
// (B*H rows of W*C contiguous values, copied whole) in place of autodiff's
// Slice, which the Go backend copies value by value (6-8% of a cnn-s-g2
// step).
func padHW(x *Node) *Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	b, h := dims[0], dims[1]
	return customGradient([]*Node{x},
		func(in []*Node) *Node {
			// Zero columns, then zero rows, each a Concatenate: the Go
			// backend's Pad copies value by value, Concatenate in blocks
			// (a [64, 14, 14, 32] input: 0.80 ms padded, 0.25 ms this way).
			w, c := dims[2], dims[3]
			col := Zeros(g, shapes.Make(x.DType(), b, h, 1, c))
			y := Concatenate([]*Node{col, in[0], col}, 2)
			row := Zeros(g, shapes.Make(x.DType(), b, 1, w+2, c))
			return Concatenate([]*Node{row, y, row}, 1)
		},
		func(_ []*Node, dy *Node) []*Node {
			start := indexConst(g, []int{b, h}, func(i []int) []int { return []int{i[0], i[1] + 1, 1} })
			inner := GatherSlices(dy, []int{0, 1, 2}, start, []int{1, 1, dims[2]}, true) // [B, H, 1, 1, W, C]
			return []*Node{Reshape(inner, dims...)}
		})
}

// weightProduct is x [m, k] · w [k, n] (im2col patches and a kernel, or a
// dense layer's input and weights), differentiated for the Go backend.
// Autodiff would take w's gradient as a product that contracts the m rows of
// x and of the product's gradient dy, a layout the backend's matrix product
// accepts only after transposing both (m*k and m*n values); the backend's
// fused dense layer transposed x into memory it allocated afresh at every
// step (38% of a solo cnn-l step at batch 256 when the convolutions used it;
// its head's two layers 3.75 ms of one when only they did). Here one
// transpose into the backend's pooled buffers: xᵀ·dy, or (dyᵀ·x)ᵀ when
// transposing dy and the [n, k] result moves fewer values (m*n + n*k < m*k:
// the convolutions with more kernel rows than channels). Both give the
// fused layer's bits (TestDenseSameBitsAsFused). x's gradient is dy·wᵀ,
// which the backend takes as it is.
func weightProduct(x, w *Node) *Node {
	m := x.Shape().Dimensions[0]
	k, n := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	return customGradient([]*Node{x, w},
		func(in []*Node) *Node { return MatMul(in[0], in[1]) },
		func(in []*Node, dy *Node) []*Node {
			x, w := in[0], in[1]
			dx := DotGeneral(dy, []int{1}, nil, w, []int{1}, nil)
			if m*k <= m*n+n*k {
				return []*Node{dx, MatMul(Transpose(x, 0, 1), dy)}
			}
			return []*Node{dx, Transpose(MatMul(Transpose(dy, 0, 1), x), 0, 1)}
		})
}

// customGradient is f(x) with the gradients grad gives for the gradient dy
// of f's result, in place of autodiff's: one per input, in order. f and
// grad get the same stand-ins for x (identities: grad must read those, not
// x, or the backend copies x to keep it for grad).
//
// How: autodiff visits nodes from the last built to the first, so the
// identity on the result, built last, sees dy before the identities on the
// inputs, built first, are asked for theirs. Autodiff's own gradients
// through f are still built but unused, and the backend never computes them.
func customGradient(x []*Node, f func(x []*Node) *Node, grad func(x []*Node, dy *Node) []*Node) *Node {
	var dx []*Node
	in := make([]*Node, len(x))
	for i := range x {
		in[i] = IdentityWithCustomGradient(x[i], func(_, _ *Node) *Node {
			if dx == nil {
				exceptions.Panicf("customGradient: input %d's gradient was asked before the result's", i)
			}
			return dx[i]
		})
	}
	return IdentityWithCustomGradient(f(in), func(_, dy *Node) *Node {
		dx = grad(in, dy)
		return dy
	})
}

// dense is a linear layer over the last axis of x [..., in]. Its variables
// ("dense/weights" [in, out], "dense/biases" [out], as GoMLX's layers.Dense
// names them) are float32 whatever x's dtype: in bf16 mixed precision they
// are cast at use, and their gradients and updates stay float32.
func dense(scope *model.Scope, x *Node, bias bool, out int) *Node {
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	layerFLOPs(x.Graph(), x.Shape().Size()/in, in, out)
	if x.DType() == dtypes.Float32 && nativeConv(x.Graph().Backend()) {
		return layers.Dense(scope, x, bias, out)
	}
	w, b := denseVars(scope, x, in, out, bias)
	flat := x
	if len(dims) != 2 { // (a Reshape to the same shape still copies on the Go backend)
		flat = Reshape(x, -1, in)
	}
	var y *Node
	if x.DType() == dtypes.Float32 {
		y = weightProduct(flat, w)
	} else {
		y = MatMul(flat, w)
	}
	if len(dims) != 2 {
		y = Reshape(y, append(dims[:len(dims)-1:len(dims)-1], out)...)
	}
	if b != nil {
		bshape := make([]int, len(dims))
		for i := range bshape {
			bshape[i] = 1
		}
		bshape[len(dims)-1] = out
		y = Add(y, Reshape(b, bshape...))
	}
	return y
}

// denseVars returns dense's float32 variables (bias nil unless asked) as
// nodes of x's graph and dtype.
func denseVars(scope *model.Scope, x *Node, in, out int, bias bool) (w, b *Node) {
	scope = scope.In("dense")
	g, dtype := x.Graph(), x.DType()
	w = ConvertDType(scope.VariableWithShape("weights", shapes.Make(dtypes.Float32, in, out)).NodeValue(g), dtype)
	if bias {
		b = ConvertDType(scope.VariableWithShape("biases", shapes.Make(dtypes.Float32, out)).NodeValue(g), dtype)
	}
	return w, b
}

// projector is the SimCLR head of the method:
// Linear(d, 512, no bias) -> BatchNorm -> ReLU -> Linear(512, 128).
func projector(scope *model.Scope, f *Node) *Node {
	h := dense(scope.In("proj_0"), f, false, 512)
	h = activation.Relu(batchNorm(scope.In("proj_bn"), h))
	return dense(scope.In("proj_1"), h, true, 128)
}

// bnMomentum is the weight of the old value in BatchNorm's moving averages
// (PyTorch's momentum 0.1).
const bnMomentum = 0.9

// batchNorm normalizes the last axis as PyTorch's BatchNorm does: while
// training with the batch's statistics, differentiated through (GoMLX's own
// BatchNorm stops their gradient, and SimCLR then barely learns), updating
// moving averages that feature extraction uses. Graph-level, since the Go
// backend has no fused BatchNorm op.
func batchNorm(scope *model.Scope, x *Node) *Node {
	if dt := x.DType(); dt != dtypes.Float32 { // statistics in float32 (mixed precision)
		return ConvertDType(batchNorm(scope, ConvertDType(x, dtypes.Float32)), dt)
	}
	g := x.Graph()
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	vshape := shapes.Make(x.DType(), c)
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", vshape).NodeValue(g)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vshape).NodeValue(g)
	meanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vshape).SetTrainable(false)
	varVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vshape).SetTrainable(false)
	axes := make([]int, len(dims)-1)
	for i := range axes {
		axes[i] = i
	}
	bshape := make([]int, len(dims)) // [1, ..., 1, c]: broadcast over all but the last axis
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[len(dims)-1] = c
	var mean, variance *Node
	if scope.IsTraining(g) {
		mean = ReduceAndKeep(x, ReduceMean, axes...)
		variance = ReduceAndKeep(Square(Sub(x, mean)), ReduceMean, axes...)
		meanVar.SetNodeValue(Add(MulScalar(meanVar.NodeValue(g), bnMomentum), MulScalar(Reshape(StopGradient(mean), c), 1-bnMomentum)))
		varVar.SetNodeValue(Add(MulScalar(varVar.NodeValue(g), bnMomentum), MulScalar(Reshape(StopGradient(variance), c), 1-bnMomentum)))
	} else {
		mean, variance = Reshape(meanVar.NodeValue(g), bshape...), Reshape(varVar.NodeValue(g), bshape...)
	}
	normalized := Div(Sub(x, mean), Sqrt(AddScalar(variance, 1e-5)))
	return Add(Mul(normalized, Reshape(scale, bshape...)), Reshape(offset, bshape...))
}

// simsiamProjector is SimSiam's projector of the method:
// [Linear(d, 2048) -> BN -> ReLU] x 2 -> Linear(2048, 2048) -> BN.
func simsiamProjector(scope *model.Scope, f *Node) *Node {
	h := f
	for i := 0; i < 2; i++ {
		h = dense(scope.In("proj_%d", i), h, true, 2048)
		h = activation.Relu(batchNorm(scope.In("proj_bn_%d", i), h))
	}
	h = dense(scope.In("proj_2"), h, true, 2048)
	return batchNorm(scope.In("proj_bn_2"), h)
}

// simsiamPredictor is SimSiam's predictor of the method:
// Linear(2048, 512, no bias) -> BN -> ReLU -> Linear(512, 2048).
func simsiamPredictor(scope *model.Scope, z *Node) *Node {
	h := dense(scope.In("pred_0"), z, false, 512)
	h = activation.Relu(batchNorm(scope.In("pred_bn"), h))
	return dense(scope.In("pred_1"), h, true, 2048)
}
