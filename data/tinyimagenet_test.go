package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeJPEG(t *testing.T, path string, w, h int, c color.RGBA) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
}

// A Tiny-ImageNet folder with 2 classes (the registry's 200 are relaxed for the test).
func tinyImageNet(t *testing.T) (string, Info) {
	root := t.TempDir()
	dir := filepath.Join(root, "tiny-imagenet")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte("n01\nn02\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "words.txt"), []byte("n01\tgoldfish\nn02\tsalamander\n"), 0o644)
	for i, w := range []string{"n01", "n02"} {
		for k := 0; k < 2; k++ {
			writeJPEG(t, filepath.Join(dir, "train", w, "images", w+"_"+string(rune('0'+k))+".JPEG"), 64, 64, color.RGBA{uint8(200 * i), 50, 50, 255})
		}
	}
	writeJPEG(t, filepath.Join(dir, "val", "images", "val_0.JPEG"), 64, 64, color.RGBA{0, 50, 50, 255})
	writeJPEG(t, filepath.Join(dir, "val", "images", "val_1.JPEG"), 64, 64, color.RGBA{200, 50, 50, 255})
	os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte("val_0.JPEG\tn01\t0\t0\t10\t10\nval_1.JPEG\tn02\t0\t0\t10\t10\n"), 0o644)
	info := Known()["tiny-imagenet"]
	info.Classes = 2
	return dir, info
}

func TestLoadTinyImageNet(t *testing.T) {
	dir, info := tinyImageNet(t)
	tr, err := loadTinyImageNet(info, dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 4 || tr.Labels[0] != 0 || tr.Labels[3] != 1 || tr.Info.ClassNames[1] != "salamander" {
		t.Fatalf("train: N=%d labels=%v names=%v", tr.N, tr.Labels, tr.Info.ClassNames)
	}
	if r := tr.Image(3)[0]; r < 190 || r > 210 {
		t.Errorf("red channel of a class-2 image = %d, want about 200", r)
	}
	te, err := loadTinyImageNet(info, dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if te.N != 2 || te.Labels[1] != 1 {
		t.Fatalf("val: %d images, labels %v", te.N, te.Labels)
	}
}

func TestDamagedTinyImageNet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		split  string
		want   string
	}{
		{"no wnids", func(dir string) { os.Remove(filepath.Join(dir, "wnids.txt")) }, "train", "missing file wnids.txt"},
		{"corrupt jpeg", func(dir string) {
			os.WriteFile(filepath.Join(dir, "train", "n02", "images", "n02_1.JPEG"), []byte("\xff\xd8not a jpeg"), 0o644)
		}, "train", "damaged JPEG"},
		{"unknown class in annotations", func(dir string) {
			os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte("val_0.JPEG\tn99\t0\t0\t1\t1\n"), 0o644)
		}, "val", `val_annotations.txt:1: class "n99"`},
		{"wrong size", func(dir string) {
			writeJPEG(t, filepath.Join(dir, "val", "images", "val_0.JPEG"), 32, 32, color.RGBA{})
		}, "val", "is 32x32, want 64x64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, info := tinyImageNet(t)
			tc.damage(dir)
			_, err := loadTinyImageNet(info, dir, tc.split)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
