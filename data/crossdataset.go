package data

import (
	"fmt"
	"math"
)

// synonyms maps class names that mean the same thing across data sets.
var synonyms = map[string]string{"automobile": "car"}

func canonicalClass(name string) string {
	if s, ok := synonyms[name]; ok {
		return s
	}
	return name
}

// ClassMap returns, for each class of source, the class of target with the
// same meaning (-1: none), and how many classes match.
func ClassMap(target, source Info) ([]int32, int) {
	byName := map[string]int32{}
	for i, n := range target.ClassNames {
		byName[canonicalClass(n)] = int32(i)
	}
	m := make([]int32, len(source.ClassNames))
	matched := 0
	for i, n := range source.ClassNames {
		m[i] = -1
		if t, ok := byName[canonicalClass(n)]; ok {
			m[i] = t
			matched++
		}
	}
	return m, matched
}

// CrossDataset turns a labelled split of another data set into an
// out-of-distribution test set for probes trained on target: images resized
// to target's size (area average when shrinking, bilinear when growing) with
// target's channels, labels mapped to target's classes, and the images of
// unmatched classes dropped.
func CrossDataset(target Info, source *Set) (*Set, error) {
	cmap, matched := ClassMap(target, source.Info)
	if matched < 2 {
		return nil, fmt.Errorf("%s and %s share %d classes: no cross-dataset test set", source.Info.Name, target.Name, matched)
	}
	if source.Info.Channels != target.Channels {
		return nil, fmt.Errorf("%s has %d channels, %s %d", source.Info.Name, source.Info.Channels, target.Name, target.Channels)
	}
	out := &Set{Info: target, Split: source.Info.Name + "-" + source.Split}
	for i := 0; i < source.N; i++ {
		l := source.Labels[i]
		if l < 0 || cmap[l] < 0 {
			continue
		}
		out.Images = append(out.Images, resize(source.Image(i), source.Info.Height, source.Info.Width, target.Height, target.Width, target.Channels)...)
		out.Labels = append(out.Labels, cmap[l])
		out.N++
	}
	return out, nil
}

// resize scales an HWC image: an area average when shrinking, bilinear when growing.
func resize(src []uint8, sh, sw, th, tw, c int) []uint8 {
	dst := make([]uint8, th*tw*c)
	fy, fx := float64(sh)/float64(th), float64(sw)/float64(tw)
	for y := 0; y < th; y++ {
		for x := 0; x < tw; x++ {
			for k := 0; k < c; k++ {
				var v float64
				if fy >= 1 && fx >= 1 {
					y0, y1 := int(float64(y)*fy), int(math.Ceil(float64(y+1)*fy))
					x0, x1 := int(float64(x)*fx), int(math.Ceil(float64(x+1)*fx))
					n := 0.0
					for yy := y0; yy < min(y1, sh); yy++ {
						for xx := x0; xx < min(x1, sw); xx++ {
							v += float64(src[(yy*sw+xx)*c+k])
							n++
						}
					}
					v /= n
				} else {
					sy := math.Max(0, (float64(y)+0.5)*fy-0.5)
					sx := math.Max(0, (float64(x)+0.5)*fx-0.5)
					y0, x0 := int(sy), int(sx)
					y1, x1 := min(y0+1, sh-1), min(x0+1, sw-1)
					dy, dx := sy-float64(y0), sx-float64(x0)
					p := func(yy, xx int) float64 { return float64(src[(yy*sw+xx)*c+k]) }
					v = (1-dy)*((1-dx)*p(y0, x0)+dx*p(y0, x1)) + dy*((1-dx)*p(y1, x0)+dx*p(y1, x1))
				}
				dst[(y*tw+x)*c+k] = uint8(math.Round(v))
			}
		}
	}
	return dst
}
