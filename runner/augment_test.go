package runner

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// refView is an independent float64 reference of one augmented view
// (without noise): bilinear sampling with clamped reads, pixel by pixel, then
// the jitter in the documented order, hue through explicit YIQ coordinates;
// on grey images brightness and contrast where greyJitter.
func refView(info data.Info, img []uint8, p []float32, greyJitter bool) []float64 {
	h, w, c := info.Height, info.Width, info.Channels
	at := func(y, x, k int) float64 {
		y, x = min(max(y, 0), h-1), min(max(x, 0), w-1)
		return float64(img[(y*w+x)*c+k]) / 255
	}
	clip := func(v float64) float64 { return math.Min(1, math.Max(0, v)) }
	px := make([][]float64, h*w)
	for y := 0; y < h; y++ {
		sy := float64(p[pCropY]) + (float64(y)+0.5)*float64(p[pCropH])/float64(h) - 0.5
		y0 := int(math.Floor(sy))
		fy := sy - float64(y0)
		for x := 0; x < w; x++ {
			xx := x
			if p[pFlip] == 1 {
				xx = w - 1 - x
			}
			sx := float64(p[pCropX]) + (float64(xx)+0.5)*float64(p[pCropW])/float64(w) - 0.5
			x0 := int(math.Floor(sx))
			fx := sx - float64(x0)
			v := make([]float64, c)
			for k := range v {
				v[k] = (1-fy)*((1-fx)*at(y0, x0, k)+fx*at(y0, x0+1, k)) + fy*((1-fx)*at(y0+1, x0, k)+fx*at(y0+1, x0+1, k))
			}
			px[y*w+x] = v
		}
	}
	if c == 1 && greyJitter {
		var m float64
		for _, v := range px {
			v[0] = clip(v[0] * float64(p[pBright]))
			m += v[0] / float64(len(px))
		}
		for _, v := range px {
			v[0] = clip(m + (v[0]-m)*float64(p[pContrast]))
		}
	}
	if c == 3 {
		luma := func(v []float64) float64 { return 0.299*v[0] + 0.587*v[1] + 0.114*v[2] }
		for _, v := range px {
			for k := range v {
				v[k] = clip(v[k] * float64(p[pBright]))
			}
		}
		var m float64
		for _, v := range px {
			m += luma(v) / float64(len(px))
		}
		for _, v := range px {
			for k := range v {
				v[k] = clip(m + (v[k]-m)*float64(p[pContrast]))
			}
		}
		for _, v := range px {
			l := luma(v)
			for k := range v {
				v[k] = clip(l + (v[k]-l)*float64(p[pSat]))
			}
		}
		toYIQ := [3][3]float64{{0.299, 0.587, 0.114}, {0.596, -0.274, -0.322}, {0.211, -0.523, 0.312}}
		t := 2 * math.Pi * float64(p[pHue])
		for _, v := range px {
			var yiq [3]float64
			for i := range yiq {
				yiq[i] = toYIQ[i][0]*v[0] + toYIQ[i][1]*v[1] + toYIQ[i][2]*v[2]
			}
			yiq[1], yiq[2] = math.Cos(t)*yiq[1]-math.Sin(t)*yiq[2], math.Sin(t)*yiq[1]+math.Cos(t)*yiq[2]
			rgb := solve3(toYIQ, yiq)
			for k := range v {
				v[k] = clip(rgb[k])
			}
		}
		if p[pGray] == 1 {
			for _, v := range px {
				l := luma(v)
				v[0], v[1], v[2] = l, l, l
			}
		}
	}
	out := make([]float64, 0, h*w*c)
	for _, v := range px {
		for k := range v {
			out = append(out, (v[k]-float64(info.Mean[k]))/float64(info.Std[k]))
		}
	}
	return out
}

// solve3 solves m x = b by Gaussian elimination with partial pivoting.
func solve3(m [3][3]float64, b [3]float64) [3]float64 {
	for col := 0; col < 3; col++ {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[piv][col]) {
				piv = r
			}
		}
		m[col], m[piv] = m[piv], m[col]
		b[col], b[piv] = b[piv], b[col]
		for r := col + 1; r < 3; r++ {
			f := m[r][col] / m[col][col]
			for k := col; k < 3; k++ {
				m[r][k] -= f * m[col][k]
			}
			b[r] -= f * b[col]
		}
	}
	var x [3]float64
	for r := 2; r >= 0; r-- {
		x[r] = b[r]
		for k := r + 1; k < 3; k++ {
			x[r] -= m[r][k] * x[k]
		}
		x[r] /= m[r][r]
	}
	return x
}

// augmentNoise is the noise input of n views (drawNoise's bytes, or one
// unused byte without noise), and what augmentViews gets of it in the graph.
func augmentNoise(a *augmenter, n int, seed uint64) (func(*Node) *Node, *tensors.Tensor) {
	if a.noise == 0 {
		return func(*Node) *Node { return nil }, tensors.FromFlatDataAndDimensions([]uint8{0}, 1)
	}
	info := a.info
	bytes := make([]uint8, 4*n*info.Pixels())
	drawNoise(bytes, seed, 0, 0)
	return func(r *Node) *Node { return r }, tensors.FromFlatDataAndDimensions(bytes, 4, n, info.Height, info.Width, info.Channels)
}

// runAugment applies augmentViews in a graph to n images with the given
// parameters and returns the views, flat.
func runAugment(t *testing.T, b compute.Backend, a *augmenter, images []uint8, params []float32, n int) []float32 {
	t.Helper()
	info := a.info
	noise, noiseArg := augmentNoise(a, n, 42)
	exec, err := NewExec(b, func(img, p, r *Node) *Node {
		return a.augmentViews(img, p, noise(r))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Call(
		tensors.FromFlatDataAndDimensions(images, n, info.Height, info.Width, info.Channels),
		tensors.FromFlatDataAndDimensions(params, n, viewParams), noiseArg)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Shape(); !got.Equal(shapes.Make(dtypes.Float32, n, info.Height, info.Width, info.Channels)) {
		t.Fatalf("views shape %s", got)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// The device augmentation matches the float64 reference on colour and grey
// images, for drawn parameters and for hand-picked edge cases (crop at the
// border, flip, grayscale, strong hue), on a non-square image so that rows
// and columns cannot be swapped unnoticed.
func TestAugmentViewsMatchReference(t *testing.T) {
	b := testBackend(t)
	for _, tc := range []struct {
		name      string
		info      data.Info
		objective string
		views     *job.Views
	}{
		{"colour simclr", data.Info{Height: 5, Width: 7, Channels: 3, Mean: []float32{.49, .48, .45}, Std: []float32{.25, .24, .26}}, "simclr", nil},
		{"colour simsiam", data.Info{Height: 6, Width: 4, Channels: 3, Mean: []float32{.5, .5, .5}, Std: []float32{.5, .5, .5}}, "simsiam", nil},
		{"grey", data.Info{Height: 6, Width: 9, Channels: 1, Mean: []float32{.29}, Std: []float32{.35}}, "simclr", nil},
		{"grey with jitter", data.Info{Height: 6, Width: 9, Channels: 1, Mean: []float32{.29}, Std: []float32{.35}}, "simclr", &job.Views{Jitter: ptr(0.5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAugmenter(tc.info, tc.objective, tc.views)
			a.noise = 0 // noise is random in the graph: checked apart
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 24
			pix := tc.info.Pixels()
			images := make([]uint8, n*pix)
			for i := range images {
				images[i] = uint8(rng.IntN(256))
			}
			params := make([]float32, n*viewParams)
			for i := 0; i < n; i++ {
				a.draw(rng, params[i*viewParams:(i+1)*viewParams])
			}
			h, w := float32(tc.info.Height), float32(tc.info.Width)
			edge := [][viewParams]float32{
				{0, 0, h, w, 0, 1, 1, 1, 0, 0},                       // identity
				{0, 0, h, w, 1, 1, 1, 1, 0, 0},                       // flip only
				{h / 2, w / 2, h / 2, w / 2, 1, 1.5, .4, 1.7, .2, 0}, // bottom-right corner, strong jitter
				{.3, .1, 1.2, 1.5, 0, .3, 1.8, .2, -.2, 1},           // tiny crop (upsampled), grayscale
			}
			for i, e := range edge {
				copy(params[i*viewParams:], e[:])
			}
			got := runAugment(t, b, a, images, params, n)
			var worst float64
			for i := 0; i < n; i++ {
				want := refView(tc.info, images[i*pix:(i+1)*pix], params[i*viewParams:(i+1)*viewParams], tc.views != nil)
				for j, v := range want {
					worst = math.Max(worst, math.Abs(v-float64(got[i*pix+j])))
				}
			}
			if worst > 2e-5 {
				t.Fatalf("largest difference from the float64 reference %g", worst)
			}
			// The identity view is the normalized image.
			norm := make([]float32, pix)
			normalize(tc.info, images[:pix], norm)
			for j := range norm {
				if math.Abs(float64(norm[j]-got[j])) > 2e-5 {
					t.Fatalf("identity view differs from the image at %d: %g vs %g", j, got[j], norm[j])
				}
			}
		})
	}
}

// Grey images get near-Gaussian noise of std 0.1 (pixel units), zero mean,
// different in each view; a grid's views set another std, or none.
func TestAugmentNoise(t *testing.T) {
	b := testBackend(t)
	info := data.Known()["fashion-mnist"]
	for _, tc := range []struct {
		views *job.Views
		std   float64
	}{{nil, 0.1}, {&job.Views{Noise: ptr(0.25)}, 0.25}, {&job.Views{Noise: ptr(0.0)}, 0}} {
		a := newAugmenter(info, "simclr", tc.views)
		const n = 64
		images := make([]uint8, n*784)
		params := make([]float32, n*viewParams)
		for i := 0; i < n; i++ {
			copy(params[i*viewParams:], []float32{0, 0, 28, 28, 0, 1, 1, 1, 0, 0})
		}
		got := runAugment(t, b, a, images, params, n)
		var sum, sq float64
		for _, v := range got {
			z := (float64(v) - (0-float64(info.Mean[0]))/float64(info.Std[0])) * float64(info.Std[0])
			sum += z
			sq += z * z
		}
		mean := sum / float64(len(got))
		std := math.Sqrt(math.Max(0, sq/float64(len(got))-mean*mean))
		// 50,176 samples: the standard error of the mean is 0.00045 at std 0.1.
		if math.Abs(mean) > 0.03*tc.std+1e-6 || math.Abs(std-tc.std) > 0.03*tc.std+1e-6 {
			t.Fatalf("noise mean %.4f std %.4f, want 0 and %g", mean, std, tc.std)
		}
		if tc.std > 0 && got[0] == got[784] {
			t.Fatal("two views got the same noise")
		}
	}
}

func TestInvert3(t *testing.T) {
	m := [3][3]float64{{2, 1, 0}, {1, 3, 1}, {0, 1, 4}}
	inv := invert3(m)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			var s float64
			for k := 0; k < 3; k++ {
				s += m[i][k] * inv[k][j]
			}
			if want := map[bool]float64{true: 1, false: 0}[i == j]; math.Abs(s-want) > 1e-12 {
				t.Fatalf("(m inv)[%d][%d] = %g", i, j, s)
			}
		}
	}
}

// BenchmarkAugment reports the cost of making one peer's views of a batch of
// 256 images (512 views) in the graph, on the Go backend.
func BenchmarkAugment(b *testing.B) {
	backend := testBackend(b)
	for _, name := range []string{"fashion-mnist", "cifar10"} {
		b.Run(name, func(b *testing.B) {
			info := data.Known()[name]
			a := newAugmenter(info, "simclr", nil)
			const n = 512
			rng := rand.New(rand.NewPCG(1, 1))
			images := make([]uint8, n*info.Pixels())
			for i := range images {
				images[i] = uint8(rng.IntN(256))
			}
			params := make([]float32, n*viewParams)
			for i := 0; i < n; i++ {
				a.draw(rng, params[i*viewParams:(i+1)*viewParams])
			}
			noise, noiseArg := augmentNoise(a, n, 1)
			exec, err := NewExec(backend, func(img, p, r *Node) *Node {
				return ReduceAllSum(a.augmentViews(img, p, noise(r)))
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			args := []any{tensors.FromFlatDataAndDimensions(images, n, info.Height, info.Width, info.Channels),
				tensors.FromFlatDataAndDimensions(params, n, viewParams), noiseArg}
			if _, err := exec.Call(args...); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := exec.Call(args...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/512views")
		})
	}
}

// The drawn view parameters follow the method: crop area 8-100% of the image
// (30-100% for grey) with aspect ratio 3/4..4/3 where it fits, flip half the
// time, colour jitter 80% of the time within the objective's strengths, and
// grayscale 20% of the time.
func TestDrawFollowsTheMethod(t *testing.T) {
	for _, tc := range []struct {
		info               data.Info
		objective          string
		views              *job.Views
		minScale, jitter   float64
		hue, jitterP, gray float64
	}{
		{data.Known()["cifar10"], "simclr", nil, 0.08, 0.8, 0.2, 0.8, 0.2},
		{data.Known()["cifar10"], "simsiam", nil, 0.08, 0.4, 0.1, 0.8, 0.2},
		{data.Known()["fashion-mnist"], "simclr", nil, 0.3, 0, 0, 0, 0},
		// A grid's views: the crop scale and the jitter's strength change, on
		// grey images the jitter is brightness and contrast.
		{data.Known()["cifar10"], "simclr", &job.Views{MinScale: ptr(0.2), Jitter: ptr(0.3)}, 0.2, 0.3, 0.2, 0.8, 0.2},
		{data.Known()["fashion-mnist"], "simclr", &job.Views{MinScale: ptr(0.5), Jitter: ptr(0.4), Noise: ptr(0.0)}, 0.5, 0.4, 0, 0.8, 0},
	} {
		a := newAugmenter(tc.info, tc.objective, tc.views)
		rng := rand.New(rand.NewPCG(3, 4))
		h, w := float64(tc.info.Height), float64(tc.info.Width)
		const n = 20000
		var flips, jittered, grays float64
		smallest := 1.0
		p := make([]float32, viewParams)
		for i := 0; i < n; i++ {
			a.draw(rng, p)
			ch, cw := float64(p[pCropH]), float64(p[pCropW])
			area := ch * cw / (h * w)
			if area < tc.minScale-1e-4 || area > 1+1e-4 {
				t.Fatalf("%s %s: crop area %.3f", tc.info.Name, tc.objective, area)
			}
			smallest = math.Min(smallest, area)
			if ch < h && cw < w { // not clipped by the image: the ratio holds
				if r := cw / ch; r < 0.75-1e-4 || r > 4.0/3+1e-4 {
					t.Fatalf("crop ratio %.3f", r)
				}
			}
			if p[pCropY] < 0 || float64(p[pCropY])+ch > h+1e-4 || p[pCropX] < 0 || float64(p[pCropX])+cw > w+1e-4 {
				t.Fatalf("crop %v outside the %gx%g image", p[:4], h, w)
			}
			flips += float64(p[pFlip])
			grays += float64(p[pGray])
			if p[pBright] != 1 || p[pContrast] != 1 || p[pSat] != 1 || p[pHue] != 0 {
				jittered++
				for _, f := range []float32{p[pBright], p[pContrast], p[pSat]} {
					if math.Abs(float64(f)-1) > tc.jitter+1e-6 {
						t.Fatalf("jitter factor %g beyond strength %g", f, tc.jitter)
					}
				}
				if math.Abs(float64(p[pHue])) > tc.hue+1e-6 {
					t.Fatalf("hue %g beyond %g", p[pHue], tc.hue)
				}
			}
		}
		if smallest > tc.minScale+0.01 { // areas are uniform above the bound
			t.Errorf("%s %s: smallest crop area %.3f, want near %g", tc.info.Name, tc.objective, smallest, tc.minScale)
		}
		if tc.info.Channels == 1 && tc.jitter > 0 && p[pSat] != 1 {
			t.Errorf("saturation %g on a grey image", p[pSat])
		}
		// Binomial standard errors at n = 20,000 are at most 0.0035.
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"flip", flips / n, 0.5}, {"jitter", jittered / n, tc.jitterP}, {"grayscale", grays / n, tc.gray}} {
			if math.Abs(c.got-c.want) > 0.015 {
				t.Errorf("%s %s: %s rate %.3f, want %.2f", tc.info.Name, tc.objective, c.name, c.got, c.want)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// The grey images' resampling without the channel axis gives the same bits
// as the general one (whose operand the Go backend transposes first), on the
// quickstart's image size and on a non-square one.
func TestGreyResampleSameBits(t *testing.T) {
	b := testBackend(t)
	for _, tc := range []struct{ n, h, w int }{{16, 28, 28}, {5, 6, 9}} {
		rng := rand.New(rand.NewPCG(uint64(tc.h), uint64(tc.w)))
		fill := func(dims ...int) *tensors.Tensor { return randomTensor(rng.Float64, dims...) }
		rx, ry, x := fill(tc.n, tc.w, tc.w), fill(tc.n, tc.h, tc.h), fill(tc.n, tc.h, tc.w, 1)
		res, err := ExecOnceN(b, func(rx, ry, x *Node) []*Node {
			return []*Node{resampleViews(rx, ry, x), resampleEinsum(rx, ry, x)}
		}, rx, ry, x)
		if err != nil {
			t.Fatal(err)
		}
		grey, general := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
		if len(grey) != tc.n*tc.h*tc.w || len(grey) != len(general) {
			t.Fatalf("%v: sizes %d and %d", tc, len(grey), len(general))
		}
		for i := range grey {
			if math.Float32bits(grey[i]) != math.Float32bits(general[i]) {
				t.Fatalf("%v: value %d: %g (grey) vs %g (general)", tc, i, grey[i], general[i])
			}
		}
	}
}

// randomTensor is a float32 tensor of the given dimensions filled from draw.
func randomTensor(draw func() float64, dims ...int) *tensors.Tensor {
	size := 1
	for _, d := range dims {
		size *= d
	}
	v := make([]float32, size)
	for i := range v {
		v[i] = float32(draw())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}
