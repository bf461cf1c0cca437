package runner

import (
	"github.com/dogo-sweep/dogo-sweep/job"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// conv1x1 is a 1x1 convolution (a Dense over channels), with stride.
func conv1x1(scope *model.Scope, x *Node, cout, stride int) *Node {
	if stride > 1 {
		x = Slice(x, AxisRange(), AxisRange().Stride(stride), AxisRange().Stride(stride), AxisRange())
	}
	d := x.Shape().Dimensions
	y := dense(scope, Reshape(x, d[0]*d[1]*d[2], d[3]), false, cout)
	return Reshape(y, d[0], d[1], d[2], cout)
}

// convFunc is a 3x3 convolution with stride (conv3x3 on the chosen path).
type convFunc func(scope *model.Scope, x *Node, cout, stride int) *Node

// resnetEncoder maps images [B, H, W, C] to features [B, d].
func resnetEncoder(scope *model.Scope, r job.ResNet, native bool, x *Node) *Node {
	var conv convFunc = func(scope *model.Scope, x *Node, cout, stride int) *Node {
		return conv3x3(scope, x, cout, stride, native)
	}
	h := onViews(x.Graph(), true, func() *Node { return conv(scope.In("stem"), x, r.Stem, 1) })
	if r.Wide == 0 {
		h = activation.Relu(batchNorm(scope.In("stem_bn"), h))
	}
	cin := r.Stem
	for stage, n := range r.Blocks {
		width := 64 << stage // ResNet: 64, 128, 256, 512
		if r.Wide > 0 {
			width = (16 << stage) * r.Wide // WRN: 16k, 32k, 64k
		}
		for b := 0; b < n; b++ {
			stride := 1
			if b == 0 && stage > 0 {
				stride = 2
			}
			s := scope.In("stage%d_block%d", stage, b)
			switch {
			case r.Wide > 0:
				h = wideBlock(s, conv, h, cin, width, stride)
				cin = width
			case r.Bottleneck:
				h = bottleneckBlock(s, conv, h, cin, width, stride)
				cin = width * 4
			default:
				h = basicBlock(s, conv, h, cin, width, stride)
				cin = width
			}
		}
	}
	if r.Wide > 0 {
		h = activation.Relu(batchNorm(scope.In("final_bn"), h))
	}
	return avgPool(h)
}

func shortcut(scope *model.Scope, x *Node, cin, cout, stride int) *Node {
	if cin == cout && stride == 1 {
		return x
	}
	return batchNorm(scope.In("short_bn"), conv1x1(scope.In("short"), x, cout, stride))
}

func basicBlock(scope *model.Scope, conv convFunc, x *Node, cin, cout, stride int) *Node {
	h := activation.Relu(batchNorm(scope.In("bn1"), conv(scope.In("conv1"), x, cout, stride)))
	h = batchNorm(scope.In("bn2"), conv(scope.In("conv2"), h, cout, 1))
	return activation.Relu(Add(h, shortcut(scope, x, cin, cout, stride)))
}

func bottleneckBlock(scope *model.Scope, conv convFunc, x *Node, cin, width, stride int) *Node {
	h := activation.Relu(batchNorm(scope.In("bn1"), conv1x1(scope.In("conv1"), x, width, 1)))
	h = activation.Relu(batchNorm(scope.In("bn2"), conv(scope.In("conv2"), h, width, stride)))
	h = batchNorm(scope.In("bn3"), conv1x1(scope.In("conv3"), h, width*4, 1))
	return activation.Relu(Add(h, shortcut(scope, x, cin, width*4, stride)))
}

// wideBlock is WRN's pre-activation block: BN-ReLU-conv twice.
func wideBlock(scope *model.Scope, conv convFunc, x *Node, cin, cout, stride int) *Node {
	pre := activation.Relu(batchNorm(scope.In("bn1"), x))
	h := conv(scope.In("conv1"), pre, cout, stride)
	h = conv(scope.In("conv2"), activation.Relu(batchNorm(scope.In("bn2"), h)), cout, 1)
	short := x
	if cin != cout || stride != 1 {
		short = conv1x1(scope.In("short"), pre, cout, stride)
	}
	return Add(h, short)
}
