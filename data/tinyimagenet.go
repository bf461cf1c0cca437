package data

import (
	"bufio"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// loadTinyImageNet reads the Tiny-ImageNet folder layout:
//
//	wnids.txt                         the 200 class IDs, one a line (label order)
//	words.txt                         optional: wnid <tab> names
//	train/<wnid>/images/*.JPEG        500 images a class
//	val/images/*.JPEG, val/val_annotations.txt (file <tab> wnid <tab> box)
//
// The "test" split is the labelled validation set (the official test set has
// no labels).
func loadTinyImageNet(info Info, dir, split string) (*Set, error) {
	wn, err := os.ReadFile(filepath.Join(dir, "wnids.txt"))
	if err != nil {
		return nil, fmt.Errorf("missing file wnids.txt")
	}
	var wnids []string
	for _, l := range strings.Split(strings.TrimSpace(string(wn)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			wnids = append(wnids, l)
		}
	}
	if len(wnids) != info.Classes && info.Classes != 0 {
		return nil, fmt.Errorf("wnids.txt lists %d classes, want %d", len(wnids), info.Classes)
	}
	label := make(map[string]int32, len(wnids))
	for i, w := range wnids {
		label[w] = int32(i)
	}
	info.ClassNames = classNames(dir, wnids)
	type item struct {
		path  string
		label int32
	}
	var items []item
	switch split {
	case "train":
		for _, w := range wnids {
			files, _ := filepath.Glob(filepath.Join(dir, "train", w, "images", "*.JPEG"))
			if len(files) == 0 {
				return nil, fmt.Errorf("train/%s/images has no .JPEG files", w)
			}
			sort.Strings(files)
			for _, f := range files {
				items = append(items, item{f, label[w]})
			}
		}
	case "val", "test":
		f, err := os.Open(filepath.Join(dir, "val", "val_annotations.txt"))
		if err != nil {
			return nil, fmt.Errorf("missing file val/val_annotations.txt")
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			fields := strings.Split(sc.Text(), "\t")
			if len(fields) < 2 {
				continue
			}
			l, ok := label[fields[1]]
			if !ok {
				return nil, fmt.Errorf("val/val_annotations.txt:%d: class %q is not in wnids.txt", line, fields[1])
			}
			items = append(items, item{filepath.Join(dir, "val", "images", fields[0]), l})
		}
	default:
		return nil, fmt.Errorf("no split %q (splits: train, val; test means val)", split)
	}
	s := &Set{Info: info, Split: split, N: len(items), Images: make([]uint8, 0, len(items)*info.Pixels()), Labels: make([]int32, len(items))}
	for i, it := range items {
		px, err := decodeRGB(it.path, info.Height, info.Width)
		if err != nil {
			return nil, err
		}
		s.Images = append(s.Images, px...)
		s.Labels[i] = it.label
	}
	return s, nil
}

func classNames(dir string, wnids []string) []string {
	names := make([]string, len(wnids))
	copy(names, wnids)
	b, err := os.ReadFile(filepath.Join(dir, "words.txt"))
	if err != nil {
		return names
	}
	words := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			words[k] = strings.TrimSpace(v)
		}
	}
	for i, w := range wnids {
		if n, ok := words[w]; ok {
			names[i] = n
		}
	}
	return names
}

// decodeRGB reads a JPEG of exactly h x w pixels as HWC RGB bytes (grey
// images are replicated into three channels).
func decodeRGB(path string, h, w int) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("missing image %s", path)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: damaged JPEG: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("%s: image is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	out := make([]uint8, 0, h*w*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	return out, nil
}
