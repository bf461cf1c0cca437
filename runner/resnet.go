package runner

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// resnetSpec is a CIFAR-stem residual network: a 3x3 stride-1 stem, no
// max-pool, stages of residual blocks, global average pooling, no fc.
type resnetSpec struct {
	blocks     []int // blocks per stage
	bottleneck bool  // ResNet-50's 1x1-3x3-1x1 blocks (expansion 4)
	wide       int   // WRN: widening factor (0: a ResNet); pre-activation blocks
	stem       int   // stem channels
}

var resnets = map[string]resnetSpec{
	"resnet18": {blocks: []int{2, 2, 2, 2}, stem: 64},
	"resnet34": {blocks: []int{3, 4, 6, 3}, stem: 64},
	"resnet50": {blocks: []int{3, 4, 6, 3}, bottleneck: true, stem: 64},
}

// wrnSpec parses "wrn-D-K": depth D = 6n + 4, widening factor K.
func wrnSpec(name string) (resnetSpec, bool) {
	var d, k int
	if _, err := fmt.Sscanf(name, "wrn-%d-%d", &d, &k); err != nil || (d-4)%6 != 0 || k < 1 {
		return resnetSpec{}, false
	}
	n := (d - 4) / 6
	return resnetSpec{blocks: []int{n, n, n}, wide: k, stem: 16}, true
}

// resnetFeatures returns the feature dimension of a residual network.
func (r resnetSpec) features() int {
	if r.wide > 0 {
		return 64 * r.wide
	}
	if r.bottleneck {
		return 512 * 4
	}
	return 512
}

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
func resnetEncoder(scope *model.Scope, r resnetSpec, native bool, x *Node) *Node {
	var conv convFunc = func(scope *model.Scope, x *Node, cout, stride int) *Node {
		return conv3x3(scope, x, cout, stride, native)
	}
	h := onViews(x.Graph(), true, func() *Node { return conv(scope.In("stem"), x, r.stem, 1) })
	if r.wide == 0 {
		h = activation.Relu(batchNorm(scope.In("stem_bn"), h))
	}
	cin := r.stem
	for stage, n := range r.blocks {
		width := 64 << stage // ResNet: 64, 128, 256, 512
		if r.wide > 0 {
			width = (16 << stage) * r.wide // WRN: 16k, 32k, 64k
		}
		for b := 0; b < n; b++ {
			stride := 1
			if b == 0 && stage > 0 {
				stride = 2
			}
			s := scope.In("stage%d_block%d", stage, b)
			switch {
			case r.wide > 0:
				h = wideBlock(s, conv, h, cin, width, stride)
				cin = width
			case r.bottleneck:
				h = bottleneckBlock(s, conv, h, cin, width, stride)
				cin = width * 4
			default:
				h = basicBlock(s, conv, h, cin, width, stride)
				cin = width
			}
		}
	}
	if r.wide > 0 {
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
