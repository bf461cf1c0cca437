package job

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Arch is an encoder architecture a grid may name: the one registry that
// validation, help texts and the runner (which builds the encoder from its
// layout) all read.
type Arch struct {
	Name string
	// Device is "cpu" for encoders that train in reasonable time on the
	// pure-Go backend and "gpu" for those meant for XLA on a GPU (they run
	// on the Go backend too, slowly).
	Device string
	// MLP lists the widths of an MLP's hidden layers (the last is the
	// feature size); it takes 28x28 grey images only.
	MLP []int
	// Conv lists the output channels of a CNN's 3x3 convolutions, and
	// Strides their strides; the features are their global average pool,
	// or with PoolGrid n their average over each cell of an n x n grid
	// (PyTorch's AdaptiveAvgPool2d(n)), n*n times as many.
	Conv, Strides []int
	PoolGrid      int
	// ResNet is set for residual networks (CIFAR stem).
	ResNet *ResNet
}

// ResNet is the layout of a CIFAR-stem residual network: a 3x3 stride-1
// stem, no max-pool, stages of residual blocks, global average pooling.
type ResNet struct {
	Blocks     []int // blocks per stage
	Bottleneck bool  // ResNet-50's 1x1-3x3-1x1 blocks (expansion 4)
	Wide       int   // WRN: widening factor (0: a ResNet); pre-activation blocks
	Stem       int   // stem channels
}

// GreyOnly reports whether the encoder takes 28x28 grey images only.
func (a Arch) GreyOnly() bool { return len(a.MLP) > 0 }

// Features is the size of the encoder's output.
func (a Arch) Features() int {
	switch {
	case len(a.MLP) > 0:
		return a.MLP[len(a.MLP)-1]
	case len(a.Conv) > 0:
		return a.Conv[len(a.Conv)-1] * max(a.PoolGrid, 1) * max(a.PoolGrid, 1)
	case a.ResNet.Wide > 0:
		return 64 * a.ResNet.Wide
	case a.ResNet.Bottleneck:
		return 512 * 4
	}
	return 512
}

// Summary says what the encoder is, for help texts.
func (a Arch) Summary() string {
	switch {
	case len(a.MLP) > 0:
		return fmt.Sprintf("MLP 784-%s (features: %d)", joinInts(a.MLP, "-"), a.Features())
	case len(a.Conv) > 0:
		pool := "global average pool"
		if a.PoolGrid > 1 {
			pool = fmt.Sprintf("average pool over a %dx%d grid", a.PoolGrid, a.PoolGrid)
		}
		return fmt.Sprintf("CNN, %d 3x3 conv layers %s channels, strides %s, %s (features: %d)",
			len(a.Conv), joinInts(a.Conv, "/"), joinInts(a.Strides, "/"), pool, a.Features())
	case a.ResNet.Wide > 0:
		return fmt.Sprintf("Wide ResNet, CIFAR stem (features: %d)", a.Features())
	}
	return fmt.Sprintf("CIFAR-stem ResNet, blocks %s (features: %d)", joinInts(a.ResNet.Blocks, "/"), a.Features())
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

var archs = []Arch{
	{Name: "mlp-s", Device: "cpu", MLP: []int{256, 128}},
	{Name: "mlp-m", Device: "cpu", MLP: []int{512, 256}},
	{Name: "mlp-l", Device: "cpu", MLP: []int{1024, 1024, 512}},
	{Name: "cnn-s", Device: "cpu", Conv: []int{16, 32, 64}, Strides: []int{2, 2, 1}},
	{Name: "cnn-m", Device: "cpu", Conv: []int{32, 64, 64}, Strides: []int{2, 2, 1}},
	{Name: "cnn-l", Device: "cpu", Conv: []int{32, 64, 128}, Strides: []int{2, 2, 1}},
	// The same CNNs with their last feature map averaged over a 2x2 grid
	// rather than globally: some of the layout a 28x28 image's pixels keep.
	{Name: "cnn-s-g2", Device: "cpu", Conv: []int{16, 32, 64}, Strides: []int{2, 2, 1}, PoolGrid: 2},
	{Name: "cnn-m-g2", Device: "cpu", Conv: []int{32, 64, 64}, Strides: []int{2, 2, 1}, PoolGrid: 2},
	{Name: "cnn-l-g2", Device: "cpu", Conv: []int{32, 64, 128}, Strides: []int{2, 2, 1}, PoolGrid: 2},
	{Name: "resnet18", Device: "gpu", ResNet: &ResNet{Blocks: []int{2, 2, 2, 2}, Stem: 64}},
	{Name: "resnet34", Device: "gpu", ResNet: &ResNet{Blocks: []int{3, 4, 6, 3}, Stem: 64}},
	{Name: "resnet50", Device: "gpu", ResNet: &ResNet{Blocks: []int{3, 4, 6, 3}, Bottleneck: true, Stem: 64}},
}

// wrnExamples are the Wide ResNets the method's code uses; any wrn-D-K with
// D = 6n+4 is accepted.
var wrnExamples = []string{"wrn-10-2", "wrn-16-2", "wrn-16-4", "wrn-16-8", "wrn-28-2"}

// LookupArch returns the architecture of a name: one of ArchNames, or any
// Wide ResNet "wrn-D-K" with depth D = 6n+4 and widening factor K >= 1.
func LookupArch(name string) (Arch, bool) {
	for _, a := range archs {
		if a.Name == name {
			return a, true
		}
	}
	var d, k int
	if n, err := fmt.Sscanf(name, "wrn-%d-%d", &d, &k); err != nil || n != 2 || fmt.Sprintf("wrn-%d-%d", d, k) != name || d < 10 || (d-4)%6 != 0 || k < 1 {
		return Arch{}, false
	}
	n := (d - 4) / 6
	return Arch{Name: name, Device: "gpu", ResNet: &ResNet{Blocks: []int{n, n, n}, Wide: k, Stem: 16}}, true
}

// ArchNames lists the architectures by name, sorted (Wide ResNets by example).
func ArchNames() []string {
	var out []string
	for _, a := range archs {
		out = append(out, a.Name)
	}
	out = append(out, wrnExamples...)
	sort.Strings(out)
	return out
}
