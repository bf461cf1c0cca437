package runner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"
)

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// The backend's convolution (used on XLA) and im2col (used on the Go
// backend) compute the same function from the same variables: outputs and
// gradients (to the input and to the kernel) agree, at stride 1 and 2, on
// even and odd image sizes, with more kernel rows (9*cin) than output
// channels and fewer (the two ways weightProduct takes the kernel's
// gradient).
func TestNativeConvMatchesIm2col(t *testing.T) {
	b := testBackend(t)
	if nativeConv(b) {
		t.Fatal("the Go backend must use im2col: its own convolution is 20-60x slower")
	}
	for _, tc := range []struct{ h, w, cin, cout, stride int }{
		{6, 5, 3, 4, 1}, {6, 5, 3, 4, 2}, {7, 7, 2, 3, 2}, {4, 4, 1, 2, 1},
		{6, 5, 1, 12, 1}, {7, 7, 1, 9, 2}, {5, 6, 2, 24, 2},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d_to_%d_stride%d", tc.h, tc.w, tc.cin, tc.cout, tc.stride), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.h), uint64(tc.stride)))
			xs := make([]float32, 2*tc.h*tc.w*tc.cin)
			for i := range xs {
				xs[i] = float32(rng.NormFloat64())
			}
			store := model.NewStore()
			outs := make([][]float32, 2)
			for i, native := range []bool{false, true} {
				res, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
					y := conv3x3(scope.In("conv"), x, tc.cout, tc.stride, native)
					// A loss that weighs every output differently.
					w := AddScalar(MulScalar(IotaFull(x.Graph(), y.Shape()), 0.01), 0.5)
					loss := ReduceAllSum(Mul(Sin(y), w))
					kernel := store.GetVariable("/conv/dense/weights").NodeValue(x.Graph())
					grads := Gradient(loss, x, kernel)
					return []*Node{y, grads[0], grads[1]}
				}, tensors.FromFlatDataAndDimensions(xs, 2, tc.h, tc.w, tc.cin))
				if err != nil {
					t.Fatal(err)
				}
				var flat []float32
				for _, r := range res {
					flat = append(flat, tensors.MustCopyFlatData[float32](r)...)
				}
				outs[i] = flat
			}
			if len(outs[0]) != len(outs[1]) {
				t.Fatalf("sizes %d vs %d", len(outs[0]), len(outs[1]))
			}
			if d := maxAbsDiff(outs[0], outs[1]); d > 1e-4 {
				t.Fatalf("native and im2col differ by %g", d)
			}
		})
	}
}

// bf16 mixed precision: the step computes in bfloat16 but keeps float32
// weights, optimizer state and losses; its losses track the float32 step's
// within bfloat16's precision, and it trains.
func TestBF16MixedPrecision(t *testing.T) {
	b := testBackend(t)
	info := data.Known()["fashion-mnist"]
	run := func(precision string, archs []string) ([][]float64, *trainer) {
		spec := pretrainSpec(job.MethodDoGo, archs, 1, 16, 100)
		spec.Pretrain.Precision = precision
		tr, err := newTrainer(b, spec, info)
		if err != nil {
			t.Fatal(err)
		}
		batch := tr.randomBatch(4)
		var losses [][]float64
		for step := 0; step < 4; step++ {
			l, err := tr.step(batch, 1e-3)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, l)
		}
		return losses, tr
	}
	archs := []string{"mlp-s", "cnn-s"}
	f32, _ := run("float32", archs)
	bf16, tr := run("bf16", archs)
	t.Logf("float32 losses %.4f -> %.4f, bf16 %.4f -> %.4f", f32[0][0], f32[3][0], bf16[0][0], bf16[3][0])
	for i := range f32[0] {
		if d := math.Abs(f32[0][i] - bf16[0][i]); d > 0.02*math.Max(1, math.Abs(f32[0][i])) {
			t.Errorf("first step output %d: float32 %.5f, bf16 %.5f", i, f32[0][i], bf16[0][i])
		}
	}
	if !(bf16[3][1] < bf16[0][1]) {
		t.Errorf("bf16 SSL loss did not fall: %.4f -> %.4f", bf16[0][1], bf16[3][1])
	}
	n := 0
	for v := range tr.store.IterVariables() {
		if val, err := v.Value(); err == nil && val.DType().IsFloat() && val.DType() != dtypes.Float32 {
			t.Errorf("variable %s is %s, want float32 master weights", v.Path(), val.DType())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no variables")
	}
}

// The registry that validation and help texts read is what the runner
// builds: every CPU encoder's output has the registry's feature size.
func TestEncodersMatchTheRegistry(t *testing.T) {
	b := testBackend(t)
	for _, name := range job.ArchNames() {
		a, err := lookupArch(name)
		if err != nil {
			t.Fatal(err)
		}
		if a.Device != "cpu" {
			continue
		}
		x := tensors.FromFlatDataAndDimensions(make([]float32, 2*28*28), 2, 28, 28, 1)
		out, err := model.CallOnce(b, model.NewStore(), func(scope *model.Scope, x *Node) *Node { return encoder(scope, a, x) }, x)
		if err != nil {
			t.Fatal(err)
		}
		if d := out.Shape().Dimensions; d[1] != a.Features() {
			t.Errorf("%s: encoder gives %d features, the registry says %d (%s)", name, d[1], a.Features(), a.Summary())
		}
	}
}

// gridPool matches PyTorch's AdaptiveAvgPool2d(2) on a 7x7 map, computed
// here in float64: cells [0,4) and [3,7) of each axis (they overlap at 3).
func TestGridPool(t *testing.T) {
	b := testBackend(t)
	const H, W, C = 7, 7, 2
	xs := make([]float32, H*W*C)
	for i := range xs {
		xs[i] = float32(i%13) - 4
	}
	out, err := model.CallOnce(b, model.NewStore(), func(_ *model.Scope, x *Node) *Node { return gridPool(x, 2) },
		tensors.FromFlatDataAndDimensions(xs, 1, H, W, C))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	var want []float64
	for _, r := range [][2]int{{0, 4}, {3, 7}} {
		for _, q := range [][2]int{{0, 4}, {3, 7}} {
			for c := 0; c < C; c++ {
				sum := 0.0
				for y := r[0]; y < r[1]; y++ {
					for x := q[0]; x < q[1]; x++ {
						sum += float64(xs[(y*W+x)*C+c])
					}
				}
				want = append(want, sum/16)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Errorf("value %d: %g, want %g", i, got[i], want[i])
		}
	}
}

// gridPool's gradient (its own, not autodiff's): for a loss that weighs
// each pooled value by w, a pixel's gradient is the sum of w/16 over the
// cells it lies in (one, two, or four at the overlaps), in float64 here.
func TestGridPoolGradient(t *testing.T) {
	b := testBackend(t)
	const B, H, W, C = 2, 7, 7, 3
	xs := make([]float32, B*H*W*C)
	for i := range xs {
		xs[i] = float32(i%11) - 5
	}
	weight := func(bi, cell, c int) float64 { return float64(bi*100+cell*10+c) / 7 }
	out, err := model.CallOnce(b, model.NewStore(), func(_ *model.Scope, x *Node) *Node {
		pooled := gridPool(x, 2) // [B, 4*C]
		w := make([]float32, B*4*C)
		for bi := 0; bi < B; bi++ {
			for i := 0; i < 4*C; i++ {
				w[bi*4*C+i] = float32(weight(bi, i/C, i%C))
			}
		}
		loss := ReduceAllSum(Mul(pooled, Reshape(Const(x.Graph(), w), B, 4*C)))
		return Gradient(loss, x)[0]
	}, tensors.FromFlatDataAndDimensions(xs, B, H, W, C))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	spans := [][2]int{{0, 4}, {3, 7}}
	for bi := 0; bi < B; bi++ {
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				for c := 0; c < C; c++ {
					want := 0.0
					for i, r := range spans {
						for j, q := range spans {
							if y >= r[0] && y < r[1] && x >= q[0] && x < q[1] {
								want += weight(bi, i*2+j, c) / 16
							}
						}
					}
					if g := got[((bi*H+y)*W+x)*C+c]; math.Abs(float64(g)-want) > 1e-5 {
						t.Errorf("gradient at image %d (%d, %d) channel %d: %g, want %g", bi, y, x, c, g, want)
					}
				}
			}
		}
	}
}

// avgPool's own gradient (a Gather of dy/(H*W)) has autodiff's bits: the
// same product by 1/(H*W), then copies. Both gradients of a loss that weighs
// each pooled value differently, on odd and even maps.
func TestAvgPoolGradientSameBits(t *testing.T) {
	b := testBackend(t)
	for _, dims := range [][4]int{{4, 7, 7, 5}, {3, 2, 6, 16}} {
		rng := rand.New(rand.NewPCG(uint64(dims[1]), uint64(dims[3])))
		x, w := randomTensor(rng.NormFloat64, dims[:]...), randomTensor(rng.NormFloat64, dims[0], dims[3])
		xs, ws := tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](w)
		res, err := ExecOnceN(b, func(x, w *Node) []*Node {
			own := Gradient(ReduceAllSum(Mul(avgPool(x), w)), x)[0]
			autodiff := Gradient(ReduceAllSum(Mul(ReduceMean(x, 1, 2), w)), x)[0]
			return []*Node{own, autodiff}
		}, x, w)
		if err != nil {
			t.Fatal(err)
		}
		own, autodiff := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
		if len(own) != len(xs) || len(autodiff) != len(xs) {
			t.Fatalf("%v: gradient sizes %d and %d, want %d", dims, len(own), len(autodiff), len(xs))
		}
		for i := range own {
			if math.Float32bits(own[i]) != math.Float32bits(autodiff[i]) {
				t.Fatalf("%v: value %d: %g (avgPool) vs %g (autodiff)", dims, i, own[i], autodiff[i])
			}
		}
		// And the values themselves: w[b, c]/(H*W) at every pixel of image b,
		// channel c (float64, to float32's precision).
		for i, g := range own {
			bi, c := i/(dims[1]*dims[2]*dims[3]), i%dims[3]
			if want := float64(ws[bi*dims[3]+c]) / float64(dims[1]*dims[2]); math.Abs(float64(g)-want) > 1e-7*math.Abs(want) {
				t.Fatalf("%v: gradient %d: %g, want %g", dims, i, g, want)
			}
		}
	}
}

// weightProduct with its own gradient computes the bits of the Go backend's
// fused dense layer (layers.Dense, which the CPU heads and MLPs used): the
// output and the gradients to x, the weights and the bias, on the shapes of
// the quickstart's head (batch 64: 128 rows), the batch-256 heads and the
// MLP's first layer.
func TestDenseSameBitsAsFused(t *testing.T) {
	b := testBackend(t)
	for _, tc := range []struct{ m, in, out int }{{128, 256, 512}, {128, 512, 128}, {512, 512, 128}, {512, 784, 512}} {
		rng := rand.New(rand.NewPCG(uint64(tc.in), uint64(tc.out)))
		fill := func(dims ...int) *tensors.Tensor { return randomTensor(rng.NormFloat64, dims...) }
		res, err := ExecOnceN(b, func(x, w, bias, dy *Node) []*Node {
			own := Add(weightProduct(x, w), Reshape(bias, 1, tc.out))
			fused := nn.Dense(x, w, bias, compute.DenseLayoutInputOutputs)
			out := []*Node{own, fused}
			out = append(out, Gradient(ReduceAllSum(Mul(own, dy)), x, w, bias)...)
			return append(out, Gradient(ReduceAllSum(Mul(fused, dy)), x, w, bias)...)
		}, fill(tc.m, tc.in), fill(tc.in, tc.out), fill(tc.out), fill(tc.m, tc.out))
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"output", "dx", "dw", "dbias"} {
			own, fused := res[0], res[1]
			if i > 0 {
				own, fused = res[1+i], res[4+i]
			}
			a, f := tensors.MustCopyFlatData[float32](own), tensors.MustCopyFlatData[float32](fused)
			if len(a) != len(f) || len(a) == 0 {
				t.Fatalf("%v %s: sizes %d and %d", tc, name, len(a), len(f))
			}
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(f[j]) {
					t.Fatalf("%v %s: value %d: %g (weightProduct) vs %g (fused)", tc, name, j, a[j], f[j])
				}
			}
		}
	}
}
