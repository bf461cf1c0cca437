package runner

import (
	"fmt"
	"math"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The step's FLOP count, against counts worked out by hand from the layer
// shapes (and, for ResNet-18, the 555.42M multiply-adds per 32x32 image that
// thop reports for the CIFAR ResNet-18). B = 4 images, N = 8 views per peer.
func TestStepFLOPs(t *testing.T) {
	const B, N = 4, 8
	mm := func(m, k, n int) float64 { return 2 * float64(m) * float64(k) * float64(n) }
	// Views of 28x28 grey images: two resampling products per view.
	greyViews := mm(N*28, 28, 28) + mm(N*28, 28, 28)
	// Colour 32x32: resampling, luma (three times), hue rotation.
	colourViews := 2*mm(N*32, 32, 32*3) + 3*mm(N*32*32, 3, 1) + mm(N*32*32, 3, 3)
	// SimCLR head 512 -> 128 from d features, and NT-Xent's 2B x 2B
	// similarities, all trained (forward + two gradients).
	simclr := func(d int) float64 { return 3 * (mm(N, d, 512) + mm(N, 512, 128) + mm(2*B, 128, 2*B)) }
	// DoGo's cross-view B x B similarities: its own (trained) and its peer's.
	kd := 3*mm(B, 128, B) + mm(B, 128, B)
	// First layers take no gradient to their input (the views): 2 passes.
	mlpS := 2*mm(N, 784, 256) + 3*mm(N, 256, 128)
	mlpM := 2*mm(N, 784, 512) + 3*mm(N, 512, 256)
	cnnSGrey := 2*mm(N*14*14, 9*1, 16) + 3*mm(N*7*7, 9*16, 32) + 3*mm(N*7*7, 9*32, 64)
	cnnSColour := 2*mm(N*16*16, 9*3, 16) + 3*mm(N*8*8, 9*16, 32) + 3*mm(N*8*8, 9*32, 64)
	const resnet18MACs = 555_417_600 // per 32x32 image
	resnet18 := 3*2*float64(N)*resnet18MACs - mm(N*32*32, 9*3, 64)
	for _, tc := range []struct {
		name    string
		method  string
		archs   []string
		dataset string
		want    float64
	}{
		{"solo mlp-m", job.MethodSolo, []string{"mlp-m"}, "fashion-mnist", greyViews + mlpM + simclr(256)},
		{"dogo mlp-s+cnn-s", job.MethodDoGo, []string{"mlp-s", "cnn-s"}, "fashion-mnist",
			greyViews + mlpS + simclr(128) + kd + greyViews + cnnSGrey + simclr(64) + kd},
		{"solo cnn-s colour", job.MethodSolo, []string{"cnn-s"}, "cifar10", colourViews + cnnSColour + simclr(64)},
		{"solo resnet18", job.MethodSolo, []string{"resnet18"}, "cifar10", colourViews + resnet18 + simclr(512)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.archs[0] == "resnet18" {
				t.Skip("a ResNet-18 step")
			}
			spec := pretrainSpec(tc.method, tc.archs, 1, B, 1)
			spec.Dataset = tc.dataset
			tr, err := newTrainer(testBackend(t), spec, data.Known()[tc.dataset])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.step(tr.randomBatch(1), 1e-3); err != nil {
				t.Fatal(err)
			}
			if math.Abs(tr.stepFLOPs-tc.want) > 1e-9*tc.want {
				t.Errorf("step FLOPs = %.0f, want %.0f (%+.4f%%)", tr.stepFLOPs, tc.want, 100*(tr.stepFLOPs/tc.want-1))
			}
		})
	}
}

// BenchmarkMatMul is the backend's rate on a lone float32 matrix product,
// the ceiling a step's GFLOP/s (BenchmarkStep) is compared with: shapes of
// the MLP's first layer (forward and its weight gradient), of cnn-l's last
// im2col product, and a square one.
func BenchmarkMatMul(b *testing.B) {
	backend := testBackend(b)
	for _, s := range []struct{ m, k, n int }{
		{512, 784, 512}, {784, 512, 512}, {512 * 7 * 7, 288, 128}, {1024, 1024, 1024}, {512 * 49, 576, 128},
	} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n), func(b *testing.B) {
			exec, err := NewExec(backend, func(x, y *Node) *Node { return MatMul(x, y) })
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			x := tensors.FromFlatDataAndDimensions(make([]float32, s.m*s.k), s.m, s.k)
			y := tensors.FromFlatDataAndDimensions(make([]float32, s.k*s.n), s.k, s.n)
			call := func() {
				out, err := exec.Call(x, y)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			call() // compile
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call()
			}
			b.ReportMetric(2*float64(s.m)*float64(s.k)*float64(s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
