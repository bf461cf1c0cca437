package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Corrupt returns a corrupted copy of a set's images, in the manner of
// CIFAR-10-C (Hendrycks and Dietterich, 2019), at severity 1-5, seeded.
func Corrupt(s *Set, corruption string, severity int, seed uint64) (*Set, error) {
	if severity < 1 || severity > 5 {
		return nil, fmt.Errorf("severity %d is not 1-5", severity)
	}
	out := *s
	out.Split = fmt.Sprintf("%s-%s-%d", s.Split, corruption, severity)
	out.Images = make([]uint8, len(s.Images))
	rng := rand.New(rand.NewPCG(seed, uint64(severity)))
	h, w, c := s.Info.Height, s.Info.Width, s.Info.Channels
	p := s.Info.Pixels()
	sev := severity - 1
	for i := 0; i < s.N; i++ {
		src := s.Images[i*p : (i+1)*p]
		dst := out.Images[i*p : (i+1)*p]
		switch corruption {
		case "gaussian_noise":
			sd := []float64{0.08, 0.12, 0.18, 0.26, 0.38}[sev]
			for j, v := range src {
				dst[j] = clip8(float64(v)/255 + rng.NormFloat64()*sd)
			}
		case "shot_noise":
			lam := []float64{60, 25, 12, 5, 3}[sev]
			for j, v := range src {
				dst[j] = clip8(poisson(rng, float64(v)/255*lam) / lam)
			}
		case "impulse_noise":
			amt := []float64{0.03, 0.06, 0.09, 0.17, 0.27}[sev]
			for j, v := range src {
				dst[j] = v
				if r := rng.Float64(); r < amt/2 {
					dst[j] = 0
				} else if r < amt {
					dst[j] = 255
				}
			}
		case "contrast":
			f := []float64{0.4, 0.3, 0.2, 0.1, 0.05}[sev]
			mean := 0.0
			for _, v := range src {
				mean += float64(v)
			}
			mean /= float64(len(src)) * 255
			for j, v := range src {
				dst[j] = clip8((float64(v)/255-mean)*f + mean)
			}
		case "brightness":
			d := []float64{0.1, 0.2, 0.3, 0.4, 0.5}[sev]
			for j, v := range src {
				dst[j] = clip8(float64(v)/255 + d)
			}
		case "gaussian_blur":
			sigma := []float64{0.4, 0.6, 0.7, 0.8, 1.0}[sev] * float64(h) / 32
			blur(src, dst, h, w, c, sigma)
		case "pixelate":
			// Box-downsample to a fraction of the size, then upsample (nearest).
			f := []float64{0.95, 0.9, 0.85, 0.75, 0.65}[sev]
			sh, sw := max(1, int(math.Round(float64(h)*f))), max(1, int(math.Round(float64(w)*f)))
			small := make([]float64, sh*sw*c)
			cnt := make([]float64, sh*sw)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					ty, tx := y*sh/h, x*sw/w
					cnt[ty*sw+tx]++
					for k := 0; k < c; k++ {
						small[(ty*sw+tx)*c+k] += float64(src[(y*w+x)*c+k])
					}
				}
			}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					ty, tx := y*sh/h, x*sw/w
					for k := 0; k < c; k++ {
						dst[(y*w+x)*c+k] = uint8(math.Round(small[(ty*sw+tx)*c+k] / cnt[ty*sw+tx]))
					}
				}
			}
		default:
			return nil, fmt.Errorf("unknown corruption %q", corruption)
		}
	}
	return &out, nil
}

func clip8(v float64) uint8 {
	return uint8(math.Round(math.Min(1, math.Max(0, v)) * 255))
}

func poisson(rng *rand.Rand, lam float64) float64 {
	if lam > 30 {
		return math.Max(0, lam+rng.NormFloat64()*math.Sqrt(lam))
	}
	l, k, p := math.Exp(-lam), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func blur(src, dst []uint8, h, w, c int, sigma float64) {
	r := int(math.Ceil(2 * sigma))
	kern := make([]float64, 2*r+1)
	sum := 0.0
	for i := range kern {
		d := float64(i - r)
		kern[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += kern[i]
	}
	for i := range kern {
		kern[i] /= sum
	}
	tmp := make([]float64, len(src))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for k := 0; k < c; k++ {
				v := 0.0
				for i, kv := range kern {
					xx := min(max(x+i-r, 0), w-1)
					v += kv * float64(src[(y*w+xx)*c+k])
				}
				tmp[(y*w+x)*c+k] = v
			}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for k := 0; k < c; k++ {
				v := 0.0
				for i, kv := range kern {
					yy := min(max(y+i-r, 0), h-1)
					v += kv * tmp[(yy*w+x)*c+k]
				}
				dst[(y*w+x)*c+k] = uint8(math.Round(math.Min(255, math.Max(0, v))))
			}
		}
	}
}
