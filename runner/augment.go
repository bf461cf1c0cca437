package runner

import (
	"math"
	"math/rand/v2"

	"github.com/dogo-sweep/sweep/data"
)

// augmenter draws SimCLR views of uint8 HWC images into normalized float32
// batches: random resized crop (scale 0.08..1 for colour, 0.3..1 for grey),
// horizontal flip p=.5, and for colour images colour jitter (p=.8) and
// grayscale (p=.2); for grey images Gaussian noise. Seeded: the same seed and
// step give the same views.
type augmenter struct {
	info     data.Info
	minScale float64
	jitter   float64 // colour-jitter strength (0.8 SimCLR, 0.4 SimSiam)
	noise    float64
}

func newAugmenter(info data.Info, objective string) *augmenter {
	a := &augmenter{info: info, minScale: 0.08, jitter: 0.8}
	if objective == "simsiam" {
		a.jitter = 0.4
	}
	if info.Channels == 1 {
		a.minScale, a.noise = 0.3, 0.1
	}
	return a
}

// view writes one augmented view of img into dst (H*W*C floats, normalized).
func (a *augmenter) view(rng *rand.Rand, img []uint8, dst []float32) {
	h, w, c := a.info.Height, a.info.Width, a.info.Channels
	// Random resized crop: area scale and log-uniform aspect ratio.
	var cx, cy, cw, ch float64
	for try := 0; ; try++ {
		area := float64(h*w) * (a.minScale + rng.Float64()*(1-a.minScale))
		ratio := math.Exp(math.Log(3.0/4) + rng.Float64()*(math.Log(4.0/3)-math.Log(3.0/4)))
		cw, ch = math.Sqrt(area*ratio), math.Sqrt(area/ratio)
		if (cw <= float64(w) && ch <= float64(h)) || try == 10 {
			cw, ch = math.Min(cw, float64(w)), math.Min(ch, float64(h))
			break
		}
	}
	cx = rng.Float64() * (float64(w) - cw)
	cy = rng.Float64() * (float64(h) - ch)
	flip := rng.Float64() < 0.5
	var bright, contrast, sat float64 = 1, 1, 1
	gray := false
	if c == 3 {
		if rng.Float64() < 0.8 {
			s := a.jitter
			bright = 1 + (rng.Float64()*2-1)*s
			contrast = 1 + (rng.Float64()*2-1)*s
			sat = 1 + (rng.Float64()*2-1)*s
		}
		gray = rng.Float64() < 0.2
	}
	for y := 0; y < h; y++ {
		sy := cy + (float64(y)+0.5)*ch/float64(h) - 0.5
		y0 := int(math.Floor(sy))
		fy := sy - float64(y0)
		for x := 0; x < w; x++ {
			xx := x
			if flip {
				xx = w - 1 - x
			}
			sx := cx + (float64(xx)+0.5)*cw/float64(w) - 0.5
			x0 := int(math.Floor(sx))
			fx := sx - float64(x0)
			var px [3]float64
			for k := 0; k < c; k++ {
				p00 := at(img, h, w, c, y0, x0, k)
				p01 := at(img, h, w, c, y0, x0+1, k)
				p10 := at(img, h, w, c, y0+1, x0, k)
				p11 := at(img, h, w, c, y0+1, x0+1, k)
				px[k] = ((1-fy)*((1-fx)*p00+fx*p01) + fy*((1-fx)*p10+fx*p11)) / 255
			}
			if c == 3 {
				lum := 0.299*px[0] + 0.587*px[1] + 0.114*px[2]
				for k := 0; k < 3; k++ {
					v := px[k] * bright
					v = lum*bright + (v-lum*bright)*sat
					v = 0.5 + (v-0.5)*contrast
					if gray {
						v = lum * bright
					}
					px[k] = math.Min(1, math.Max(0, v))
				}
			}
			for k := 0; k < c; k++ {
				v := (px[k] - float64(a.info.Mean[k])) / float64(a.info.Std[k])
				if a.noise > 0 {
					v += rng.NormFloat64() * a.noise / float64(a.info.Std[k])
				}
				dst[(y*w+x)*c+k] = float32(v)
			}
		}
	}
}

func at(img []uint8, h, w, c, y, x, k int) float64 {
	y = min(max(y, 0), h-1)
	x = min(max(x, 0), w-1)
	return float64(img[(y*w+x)*c+k])
}

// normalize writes img, normalized without augmentation, into dst.
func normalize(info data.Info, img []uint8, dst []float32) {
	c := info.Channels
	for i, p := range img {
		k := i % c
		dst[i] = (float32(p)/255 - info.Mean[k]) / info.Std[k]
	}
}
