package runner

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Views are made in two parts. The host draws each view's few random
// parameters (crop box, flip, jitter factors: viewParams floats per view),
// seeded per image, which is cheap and keeps a resumed run's views identical;
// the step graph then applies them to the raw uint8 images on the device
// (augmentViews): crop and resize as two batched matrix products, flip,
// colour jitter, grayscale, and near-Gaussian noise made from random bytes
// the host draws too (drawNoise).
//
// The method's views: RandomResizedCrop(scale 0.08..1, ratio 3/4..4/3),
// horizontal flip p=.5, ColorJitter(.8,.8,.8,.2) with p=.8 (halved for
// SimSiam), grayscale p=.2; grey images get crop (scale .3..1), flip and
// near-Gaussian noise (std .1 of the pixel range) instead of colour changes.
// A grid may change the crop scale, the noise and the jitter's strength
// (job.Views); jitter on grey images is brightness and contrast.
// Unlike torchvision, the jitter's four parts apply in a fixed order
// (brightness, contrast, saturation, hue), and hue is a rotation of the
// chroma plane in YIQ space, a linear stand-in for the HSV hue shift.

// The parameters of one view, in this order.
const (
	pCropY    = iota // top edge of the crop, in pixels
	pCropX           // left edge
	pCropH           // height of the crop
	pCropW           // width
	pFlip            // 1: mirror horizontally
	pBright          // brightness factor
	pContrast        // contrast factor
	pSat             // saturation factor
	pHue             // hue rotation, in turns (within ±.2)
	pGray            // 1: grayscale
	viewParams
)

// augmenter draws the random parameters of a peer's views.
type augmenter struct {
	info     data.Info
	minScale float64
	jitter   float64 // brightness, contrast (and saturation) strength (.8 SimCLR, .4 SimSiam; 0 grey)
	hue      float64 // hue strength (.2 SimCLR, .1 SimSiam)
	noise    float64 // std of the noise added to each view, in [0,1] pixel units (.1 grey, else 0)
}

// newAugmenter returns the method's views for the data set and objective,
// with what views (nil: nothing) overrides.
func newAugmenter(info data.Info, objective string, views *job.Views) *augmenter {
	a := &augmenter{info: info, minScale: 0.08, jitter: 0.8, hue: 0.2}
	if objective == "simsiam" {
		a.jitter, a.hue = 0.4, 0.1
	}
	if info.Channels == 1 {
		a.minScale, a.noise, a.jitter, a.hue = 0.3, 0.1, 0, 0
	}
	if views != nil {
		if views.MinScale != nil {
			a.minScale = *views.MinScale
		}
		if views.Noise != nil {
			a.noise = *views.Noise
		}
		if views.Jitter != nil {
			a.jitter = *views.Jitter
		}
	}
	return a
}

// draw writes the parameters of one view into p (viewParams floats).
func (a *augmenter) draw(rng *rand.Rand, p []float32) {
	h, w := float64(a.info.Height), float64(a.info.Width)
	var cw, ch float64
	for try := 0; ; try++ {
		area := h * w * (a.minScale + rng.Float64()*(1-a.minScale))
		ratio := math.Exp(math.Log(3.0/4) + rng.Float64()*(math.Log(4.0/3)-math.Log(3.0/4)))
		cw, ch = math.Sqrt(area*ratio), math.Sqrt(area/ratio)
		if (cw <= w && ch <= h) || try == 10 {
			cw, ch = math.Min(cw, w), math.Min(ch, h)
			break
		}
	}
	p[pCropX] = float32(rng.Float64() * (w - cw))
	p[pCropY] = float32(rng.Float64() * (h - ch))
	p[pCropW], p[pCropH] = float32(cw), float32(ch)
	p[pFlip] = 0
	if rng.Float64() < 0.5 {
		p[pFlip] = 1
	}
	p[pBright], p[pContrast], p[pSat], p[pHue], p[pGray] = 1, 1, 1, 0, 0
	if a.info.Channels == 1 && a.jitter > 0 { // brightness and contrast only
		if rng.Float64() < 0.8 {
			p[pBright] = float32(1 + (rng.Float64()*2-1)*a.jitter)
			p[pContrast] = float32(1 + (rng.Float64()*2-1)*a.jitter)
		}
	}
	if a.info.Channels == 3 {
		if rng.Float64() < 0.8 {
			s := a.jitter
			p[pBright] = float32(1 + (rng.Float64()*2-1)*s)
			p[pContrast] = float32(1 + (rng.Float64()*2-1)*s)
			p[pSat] = float32(1 + (rng.Float64()*2-1)*s)
			p[pHue] = float32((rng.Float64()*2 - 1) * a.hue)
		}
		if rng.Float64() < 0.2 {
			p[pGray] = 1
		}
	}
}

// lumaWeights are the grayscale weights of R, G, B (ITU-R 601, as torchvision).
var lumaWeights = [3]float64{0.299, 0.587, 0.114}

// hueBasis returns matrices A, C, S such that A + cos(t) C + sin(t) S maps an
// RGB pixel to the pixel whose YIQ chroma (I, Q) is rotated by t.
func hueBasis() (a, c, s [3][3]float64) {
	toYIQ := [3][3]float64{lumaWeights, {0.596, -0.274, -0.322}, {0.211, -0.523, 0.312}}
	fromYIQ := invert3(toYIQ)
	// A keeps Y; C keeps I and Q; S maps (I, Q) to (-Q, I).
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			a[i][j] = fromYIQ[i][0] * toYIQ[0][j]
			c[i][j] = fromYIQ[i][1]*toYIQ[1][j] + fromYIQ[i][2]*toYIQ[2][j]
			s[i][j] = -fromYIQ[i][1]*toYIQ[2][j] + fromYIQ[i][2]*toYIQ[1][j]
		}
	}
	return a, c, s
}

func invert3(m [3][3]float64) [3][3]float64 {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var inv [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			// Cofactor of (j, i), transposed.
			r0, r1 := (j+1)%3, (j+2)%3
			c0, c1 := (i+1)%3, (i+2)%3
			inv[i][j] = (m[r0][c0]*m[r1][c1] - m[r0][c1]*m[r1][c0]) / det
		}
	}
	return inv
}

// augmentViews is the graph part of augmentation: images [N, H, W, C] uint8,
// params [N, viewParams] (one row per view), noise [4, N, H, W, C] uint8
// random bytes (drawNoise; nil when a.noise is 0). It returns the
// normalized views [N, H, W, C] float32.
func (a *augmenter) augmentViews(images, params, noise *Node) *Node {
	g := images.Graph()
	dims := images.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	f32 := dtypes.Float32
	col := func(i int) *Node { return Slice(params, AxisRange(), AxisElem(i)) } // [N, 1]

	// Bilinear resampling as matrices: out = Ry . img . Rx^T per image, where
	// R[o, i] = max(0, 1 - |s(o) - i|) for the source coordinate s(o) of
	// output pixel o, clamped to the image (edge pixels repeat).
	resample := func(start, length *Node, size int, flip *Node) *Node {
		o := Iota(g, shapes.Make(f32, 1, size), 1) // [1, size]
		if flip != nil {                           // o -> size-1-o where flipped
			o = Add(o, Mul(flip, AddScalar(MulScalar(o, -2), float64(size-1))))
		}
		s := Add(start, MulScalar(Mul(AddScalar(o, 0.5), length), 1/float64(size)))
		s = ClipScalar(AddScalar(s, -0.5), 0, float64(size-1))          // [N, size]
		i := Iota(g, shapes.Make(f32, 1, 1, size), 2)                   // [1, 1, size]
		return MaxScalar(OneMinus(Abs(Sub(InsertAxes(s, -1), i))), 0.0) // [N, out, in]
	}
	ry := resample(col(pCropY), col(pCropH), h, nil)
	rx := resample(col(pCropX), col(pCropW), w, col(pFlip))
	x := DivScalar(ConvertDType(images, f32), 255)
	x = resampleViews(rx, ry, x)
	matMulFLOPs(g, n*w, w, h*c, 1)
	matMulFLOPs(g, n*h, h, w*c, 1)

	perImage := func(i int) *Node { return Reshape(col(i), n, 1, 1, 1) } // [N, 1, 1, 1]
	if c == 3 {
		luma := Const(g, []float32{float32(lumaWeights[0]), float32(lumaWeights[1]), float32(lumaWeights[2])})
		gray := func(x *Node) *Node { // [N, H, W, 1]
			matMulFLOPs(g, n*h*w, 3, 1, 1)
			return InsertAxes(Einsum("nhwc,c->nhw", x, luma), -1)
		}
		clip := func(x *Node) *Node { return ClipScalar(x, 0, 1) }
		x = clip(Mul(x, perImage(pBright)))
		m := ReduceAndKeep(gray(x), ReduceMean, 1, 2)
		x = clip(Add(m, Mul(Sub(x, m), perImage(pContrast))))
		y := gray(x)
		x = clip(Add(y, Mul(Sub(x, y), perImage(pSat))))
		// Hue: per image the 3x3 matrix A + cos(t) C + sin(t) S.
		ha, hc, hs := hueBasis()
		mat := func(m [3][3]float64) *Node {
			var flat []float32
			for _, row := range m {
				for _, v := range row {
					flat = append(flat, float32(v))
				}
			}
			return Reshape(Const(g, flat), 1, 3, 3)
		}
		t := Reshape(MulScalar(col(pHue), 2*math.Pi), n, 1, 1)
		rot := Add(mat(ha), Add(Mul(Cos(t), mat(hc)), Mul(Sin(t), mat(hs)))) // [N, 3, 3]
		x = clip(Einsum("nhwc,ndc->nhwd", x, rot))
		matMulFLOPs(g, n*h*w, 3, 3, 1)
		gf := perImage(pGray)
		x = Add(Mul(gf, gray(x)), Mul(OneMinus(gf), x))
	}

	if c == 1 && a.jitter > 0 { // grey: brightness, then contrast around the image's mean
		x = ClipScalar(Mul(x, perImage(pBright)), 0, 1)
		m := ReduceAndKeep(x, ReduceMean, 1, 2)
		x = ClipScalar(Add(m, Mul(Sub(x, m), perImage(pContrast))), 0, 1)
	}

	mean := make([]float32, c)
	inv := make([]float32, c)
	for k := 0; k < c; k++ {
		mean[k], inv[k] = a.info.Mean[k], 1/a.info.Std[k]
	}
	chans := func(v []float32) *Node { return Reshape(Const(g, v), 1, 1, 1, c) }
	if a.noise > 0 {
		// Near-Gaussian noise as the sum of 4 uniforms (Irwin-Hall: mean 2,
		// variance 1/3, bounded at 3.5 std). Each uniform is a random byte b
		// taken as (b + 1/2)/256, of variance 1/12 to within 2e-5. The Go
		// backend's RandomNormal computes its logarithm and cosine in scalar
		// code (the noise cost as much as an MLP's whole step), and its
		// RandomUniform draws 4 random bytes per float, a byte at a time,
		// then makes floats of them in 4 passes (9% of a cnn-s-g2 step).
		sum := ReduceSum(ConvertDType(noise, f32), 0) // [N, H, W, C], 0..1020
		// z = ((sum + 2)/256 - 2) sqrt(3), added as z * a.noise.
		scale := math.Sqrt(3) * a.noise
		x = Add(x, AddScalar(MulScalar(sum, scale/256), scale*(2.0/256-2)))
	}
	return Mul(Sub(x, chans(mean)), chans(inv))
}

// resampleViews is ry · image · rxᵀ for each image x [N, H, W, C], with
// rx [N, W, W] and ry [N, H, H]. Columns first, then rows: each product's
// natural output order is the next one's input order.
func resampleViews(rx, ry, x *Node) *Node {
	dims := x.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	if c != 1 {
		return resampleEinsum(rx, ry, x)
	}
	// Grey: without the channel axis each product contracts both operands'
	// last axis, which the backend takes as they are. With it (c after the
	// contracted axis) the backend first transposes [N, H, W, 1] to
	// [N, H, 1, W], the same values in the same order, copied one by one:
	// 5% of a solo cnn-s-g2 step. The products get the same operands either
	// way, so the views are the same bits (TestGreyResampleSameBits).
	x = Reshape(x, n, h, w)
	x = DotGeneral(rx, []int{2}, []int{0}, x, []int{2}, []int{0}) // [N, x, i]
	x = DotGeneral(ry, []int{2}, []int{0}, x, []int{2}, []int{0}) // [N, y, x]
	return Reshape(x, n, h, w, c)
}

// resampleEinsum is resampleViews for any number of channels.
func resampleEinsum(rx, ry, x *Node) *Node {
	x = Einsum("nxj,nijc->nxic", rx, x)
	return Einsum("nyi,nxic->nyxc", ry, x)
}

// drawNoise fills dst with the random bytes of a step's noise for one peer,
// seeded by (seed, peer, step) alone, so that a resumed run's views are
// those of an uninterrupted one.
func drawNoise(dst []uint8, seed uint64, peer int, gstep uint64) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(peer))
	binary.LittleEndian.PutUint64(key[16:], gstep)
	copy(key[24:], "dogonois")
	_, _ = rand.NewChaCha8(key).Read(dst) // never fails
}

// normalize writes img, normalized without augmentation, into dst.
func normalize(info data.Info, img []uint8, dst []float32) {
	c := info.Channels
	for i, p := range img {
		k := i % c
		dst[i] = (float32(p)/255 - info.Mean[k]) / info.Std[k]
	}
}
