package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
)

// writeIDXSet writes an MNIST-layout data set of n images per split.
func writeIDXSet(t *testing.T, dir string, n int, compress bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"train", "t10k"} {
		img := make([]uint8, n*28*28)
		lab := make([]uint8, n)
		for i := range lab {
			lab[i] = uint8(i % 10)
			img[i*784] = uint8(i)
		}
		write := func(name string, dims []int, payload []uint8) {
			var buf bytes.Buffer
			if err := WriteIDX(&buf, dims, payload); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			if compress {
				b, name = gz(b), name+".gz"
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(prefix+"-images-idx3-ubyte", []int{n, 28, 28}, img)
		write(prefix+"-labels-idx1-ubyte", []int{n}, lab)
	}
}

// gz is b as a one-member gzip file.
func gz(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func TestLoadIDX(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		root := t.TempDir()
		writeIDXSet(t, filepath.Join(root, "fashion-mnist"), 20, compressed)
		s, err := Load("fashion-mnist", "train", root)
		if err != nil {
			t.Fatalf("gz=%v: %v", compressed, err)
		}
		if s.N != 20 || len(s.Images) != 20*784 || s.Labels[13] != 3 || s.Image(7)[0] != 7 {
			t.Errorf("gz=%v: loaded %d images, label[13]=%d", compressed, s.N, s.Labels[13])
		}
	}
}

func TestDamagedIDX(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"truncated images", func(dir string) {
			p := filepath.Join(dir, "train-images-idx3-ubyte")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-100], 0o644)
		}, "size mismatch"},
		{"bad magic", func(dir string) {
			p := filepath.Join(dir, "train-labels-idx1-ubyte")
			b, _ := os.ReadFile(p)
			b[3] = 0x99
			os.WriteFile(p, b, 0o644)
		}, "bad magic number"},
		{"short header", func(dir string) {
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), []byte{0, 0}, 0o644)
		}, "truncated"},
		{"missing labels", func(dir string) {
			os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte"))
		}, "missing file train-labels-idx1-ubyte"},
		{"label out of range", func(dir string) {
			p := filepath.Join(dir, "train-labels-idx1-ubyte")
			b, _ := os.ReadFile(p)
			b[len(b)-1] = 42
			os.WriteFile(p, b, 0o644)
		}, "is not a class"},
		{"count mismatch", func(dir string) {
			var buf bytes.Buffer
			WriteIDX(&buf, []int{19}, make([]uint8, 19))
			os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), buf.Bytes(), 0o644)
		}, "has 19 labels for 20 images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "fashion-mnist")
			writeIDXSet(t, dir, 20, false)
			tc.damage(dir)
			_, err := Load("fashion-mnist", "train", root)
			var me *MissingError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a MissingError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "apt-get install -y dataset-fashion-mnist") {
				t.Errorf("error %q: want %q and how to get the data", err, tc.want)
			}
		})
	}
}

func TestTruncatedGzip(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "mnist")
	writeIDXSet(t, dir, 50, true)
	p := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
	if _, err := Load("mnist", "train", root); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated gzip: error %v", err)
	}
}

func TestMissingDataSetNamesWhereAndHow(t *testing.T) {
	_, err := Load("cifar10", "train", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "looked in") || !strings.Contains(err.Error(), "cifar-10-binary.tar.gz") {
		t.Fatalf("error %v", err)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar10")
	os.MkdirAll(dir, 0o755)
	rec := func(label uint8, r, g, b uint8) []byte {
		out := []byte{label}
		for _, c := range []uint8{r, g, b} {
			out = append(out, bytes.Repeat([]byte{c}, 1024)...)
		}
		return out
	}
	for i, f := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		var b []byte
		b = append(b, rec(uint8(i), 10, 20, 30)...)
		b = append(b, rec(9, 1, 2, 3)...)
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	s, err := Load("cifar10", "train", root)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 10 || s.Labels[2] != 1 || s.Labels[3] != 9 {
		t.Fatalf("N=%d labels=%v", s.N, s.Labels)
	}
	if px := s.Image(0)[:3]; px[0] != 10 || px[1] != 20 || px[2] != 30 {
		t.Errorf("first pixel %v, want HWC [10 20 30]", px)
	}
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), make([]byte, 3000), 0o644)
	if _, err := Load("cifar10", "test", root); err == nil || !strings.Contains(err.Error(), "not a multiple") {
		t.Errorf("truncated CIFAR file: %v", err)
	}
}

func TestLoadSTL10(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "stl10")
	os.MkdirAll(dir, 0o755)
	const px = 96 * 96 * 3
	x := make([]byte, 2*px)
	x[0] = 200            // image 0, channel 0, column 0, row 0
	x[px+9216+96*5+7] = 9 // image 1, channel 1, column 5, row 7
	os.WriteFile(filepath.Join(dir, "train_X.bin"), x, 0o644)
	os.WriteFile(filepath.Join(dir, "train_y.bin"), []byte{1, 10}, 0o644)
	os.WriteFile(filepath.Join(dir, "unlabeled_X.bin"), x, 0o644)
	s, err := Load("stl10", "train", root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Labels[0] != 0 || s.Labels[1] != 9 || s.Image(0)[0] != 200 || s.Image(1)[(7*96+5)*3+1] != 9 {
		t.Errorf("labels %v, pixels not transposed from column-major", s.Labels)
	}
	u, err := Load("stl10", "unlabeled", root)
	if err != nil || u.N != 2 || u.Labels[0] != -1 {
		t.Errorf("unlabeled split: %v %+v", err, u)
	}
}

// The real data set, where the Debian package is installed.
func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		require.Missing(t, "apt-get install dataset-fashion-mnist to run this test")
	}
	train, err := Load("fashion-mnist", "train", "")
	if err != nil {
		t.Fatal(err)
	}
	test, err := Load("fashion-mnist", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 {
		t.Fatalf("train %d, test %d images", train.N, test.N)
	}
	for _, s := range []*Set{train, test} {
		counts := make([]int, 10)
		for _, l := range s.Labels {
			counts[l]++
		}
		for c, n := range counts {
			if n != s.N/10 { // Fashion-MNIST is balanced: 6000 / 1000 per class.
				t.Errorf("%s class %d: %d images", s.Split, c, n)
			}
		}
	}
}

func labels(n, classes int) []int32 {
	l := make([]int32, n)
	for i := range l {
		l[i] = int32(i % classes)
	}
	return l
}

func TestSymmetricNoiseExactRate(t *testing.T) {
	clean := labels(10000, 10)
	for _, rate := range []float64{0.2, 0.5, 0.8} {
		noisy, realized, err := Noisy(clean, 10, rate, "symmetric", "fashion-mnist", 1)
		if err != nil {
			t.Fatal(err)
		}
		flipped := 0
		for i := range clean {
			if noisy[i] != clean[i] {
				flipped++
			}
			if noisy[i] < 0 || noisy[i] >= 10 {
				t.Fatalf("label %d out of range", noisy[i])
			}
		}
		if flipped != int(rate*10000) || math.Abs(realized-rate) > 1e-12 {
			t.Errorf("rate %g: %d flipped, realized %g", rate, flipped, realized)
		}
		again, _, _ := Noisy(clean, 10, rate, "symmetric", "fashion-mnist", 1)
		other, _, _ := Noisy(clean, 10, rate, "symmetric", "fashion-mnist", 2)
		same, diff := true, false
		for i := range again {
			same = same && again[i] == noisy[i]
			diff = diff || other[i] != noisy[i]
		}
		if !same || !diff {
			t.Errorf("rate %g: deterministic per seed %v, seeds differ %v", rate, same, diff)
		}
	}
}

func TestSymmetricNoiseIsUniformOverOtherClasses(t *testing.T) {
	clean := make([]int32, 90000) // all class 0
	noisy, _, _ := Noisy(clean, 10, 0.9, "symmetric", "mnist", 3)
	counts := make([]int, 10)
	for _, l := range noisy {
		counts[l]++
	}
	for c := 1; c < 10; c++ {
		if math.Abs(float64(counts[c])-9000) > 400 { // ~4.4 sigma
			t.Errorf("class %d received %d flips, want about 9000", c, counts[c])
		}
	}
}

func TestAsymmetricNoiseFollowsClassMap(t *testing.T) {
	clean := labels(10000, 10)
	noisy, realized, err := Noisy(clean, 10, 0.4, "asymmetric", "cifar10", 1)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := AsymmetricMap("cifar10")
	flipped := 0
	for i := range clean {
		if noisy[i] == clean[i] {
			continue
		}
		flipped++
		if m[clean[i]] != noisy[i] {
			t.Fatalf("class %d flipped to %d, map says %d", clean[i], noisy[i], m[clean[i]])
		}
	}
	// 5 of 10 classes have a target: 5000 eligible, 40% of them flip.
	if flipped != 2000 || math.Abs(realized-0.2) > 1e-12 {
		t.Errorf("%d flipped, realized %g", flipped, realized)
	}
	if _, _, err := Noisy(clean, 10, 0.4, "asymmetric", "stl10", 1); err == nil {
		t.Error("asymmetric noise for a data set without a map must fail")
	}
}

func TestFractionsBalancedDeterministicNested(t *testing.T) {
	l := labels(60000, 10)
	one := Fraction(l, 10, 0.01, 5)
	ten := Fraction(l, 10, 0.1, 5)
	if len(one) != 600 || len(ten) != 6000 {
		t.Fatalf("sizes %d, %d", len(one), len(ten))
	}
	per := make([]int, 10)
	for _, i := range one {
		per[l[i]]++
	}
	for c, n := range per {
		if n != 60 {
			t.Errorf("class %d has %d of the 1%% subset", c, n)
		}
	}
	in := map[int]bool{}
	for _, i := range ten {
		in[i] = true
	}
	for _, i := range one {
		if !in[i] {
			t.Fatalf("index %d of the 1%% subset is not in the 10%% subset", i)
		}
	}
	again := Fraction(l, 10, 0.01, 5)
	for i := range one {
		if again[i] != one[i] {
			t.Fatal("not deterministic")
		}
	}
	if other := Fraction(l, 10, 0.01, 6); other[0] == one[0] && other[1] == one[1] && other[2] == one[2] {
		t.Error("another seed gave the same subset")
	}
}

func TestCorruptions(t *testing.T) {
	info := Known()["fashion-mnist"]
	s := &Set{Info: info, N: 4, Images: make([]uint8, 4*784), Labels: []int32{0, 1, 2, 3}}
	for i := range s.Images {
		s.Images[i] = uint8(i * 7 % 256)
	}
	for _, c := range corruptionsForTest {
		var prev float64 = -1
		for sev := 1; sev <= 5; sev++ {
			out, err := Corrupt(s, c, sev, 1)
			if err != nil {
				t.Fatal(err)
			}
			d := 0.0
			for i := range out.Images {
				d += math.Abs(float64(out.Images[i]) - float64(s.Images[i]))
			}
			if d == 0 {
				t.Errorf("%s-%d changed nothing", c, sev)
			}
			if c != "pixelate" && d < prev*0.9 {
				t.Errorf("%s: severity %d changed less (%g) than severity %d (%g)", c, sev, d, sev-1, prev)
			}
			prev = d
		}
	}
	if _, err := Corrupt(s, "fog", 1, 1); err == nil {
		t.Error("unknown corruption accepted")
	}
}

var corruptionsForTest = []string{"gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast", "brightness", "pixelate"}

func TestCrossDatasetCIFAR10FromSTL10(t *testing.T) {
	cifar, stl := Known()["cifar10"], Known()["stl10"]
	cmap, matched := ClassMap(cifar, stl)
	if matched != 9 {
		t.Fatalf("%d matched classes, want 9 (all but monkey)", matched)
	}
	// STL-10: 0 airplane 1 bird 2 car ... 7 monkey; CIFAR-10: 1 automobile, 2 bird.
	if cmap[2] != 1 || cmap[1] != 2 || cmap[7] != -1 {
		t.Errorf("class map %v", cmap)
	}
	src := &Set{Info: stl, Split: "test", N: 3, Labels: []int32{2, 7, 1}, Images: make([]uint8, 3*96*96*3)}
	for i := range src.Images[:96*96*3] {
		src.Images[i] = 90 // the car image is flat grey 90
	}
	out, err := CrossDataset(cifar, src)
	if err != nil {
		t.Fatal(err)
	}
	if out.N != 2 || out.Labels[0] != 1 || out.Labels[1] != 2 {
		t.Fatalf("N=%d labels=%v: monkey dropped, car->automobile, bird->bird", out.N, out.Labels)
	}
	if len(out.Image(0)) != 32*32*3 || out.Image(0)[500] != 90 {
		t.Errorf("resized image wrong: %d values, pixel %d", len(out.Image(0)), out.Image(0)[500])
	}
	if _, err := CrossDataset(Known()["fashion-mnist"], &Set{Info: Known()["mnist"]}); err == nil {
		t.Error("MNIST and Fashion-MNIST share no class; want an error")
	}
}

func TestResizeByHand(t *testing.T) {
	// 2x2 -> 1x1 area average: (10+20+30+40)/4 = 25.
	if got := resize([]uint8{10, 20, 30, 40}, 2, 2, 1, 1, 1); got[0] != 25 {
		t.Errorf("area average %d, want 25", got[0])
	}
	// 1x2 -> 1x4 bilinear: 0, 255 -> 0, 64, 191, 255.
	got := resize([]uint8{0, 255}, 1, 2, 1, 4, 1)
	want := []uint8{0, 64, 191, 255}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bilinear %v, want %v", got, want)
		}
	}
}

func TestCheckBeforeAnyJob(t *testing.T) {
	root := t.TempDir()
	// A named data folder is where the data comes from: a data set missing
	// there is an error naming that folder, even when the system has it.
	err := (Source{Dir: root}).Check("fashion-mnist")
	if err == nil || !strings.Contains(err.Error(), "(looked in: "+filepath.Join(root, "fashion-mnist")+")") {
		t.Errorf("a data set missing from the data folder: %v", err)
	}
	if _, err := Load("fashion-mnist", "train", root); err == nil {
		t.Error("Load read a data set from outside the named data folder")
	}
	writeIDXSet(t, filepath.Join(root, "mnist"), 20, true)
	if err := (Source{Dir: root}).Check("mnist"); err != nil {
		t.Fatalf("a good data set failed the check: %v", err)
	}
	p := filepath.Join(root, "mnist", "t10k-labels-idx1-ubyte.gz")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-4], 0o644)
	err = (Source{Dir: root}).Check("mnist")
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "t10k-labels") {
		t.Fatalf("a damaged test split: %v", err)
	}
	// CIFAR-10: a truncated batch is caught by its size.
	dir := filepath.Join(root, "cifar10")
	os.MkdirAll(dir, 0o755)
	for _, f := range Known()["cifar10"].Files {
		os.WriteFile(filepath.Join(dir, f), make([]byte, 2*3073), 0o644)
	}
	if err := (Source{Dir: root}).Check("cifar10"); err != nil {
		t.Fatalf("good CIFAR-10: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "data_batch_3.bin"), make([]byte, 3073+10), 0o644)
	if err := (Source{Dir: root}).Check("cifar10"); err == nil || !strings.Contains(err.Error(), "data_batch_3.bin") || !strings.Contains(err.Error(), "cifar-10-binary.tar.gz") {
		t.Fatalf("truncated CIFAR-10 batch: %v", err)
	}
}

func TestCIFAR100ClassNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar100")
	os.MkdirAll(dir, 0o755)
	rec := append([]byte{3, 42}, make([]byte, 3072)...) // coarse 3, fine 42
	os.WriteFile(filepath.Join(dir, "train.bin"), rec, 0o644)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("name%d", i)
	}
	os.WriteFile(filepath.Join(dir, "fine_label_names.txt"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
	s, err := Load("cifar100", "train", root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Labels[0] != 42 || s.Info.ClassNames[42] != "name42" {
		t.Errorf("label %d, name %q: want the fine label and its name", s.Labels[0], s.Info.ClassNames[42])
	}
}

// Only a data set that is not there reads as fs.ErrNotExist (tests skip on
// it); a damaged one does not.
func TestMissingIsNotExist(t *testing.T) {
	root := t.TempDir()
	if _, err := Load("mnist", "train", root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent data set: %v", err)
	}
	writeIDXSet(t, filepath.Join(root, "mnist"), 20, true)
	p := filepath.Join(root, "mnist", "train-images-idx3-ubyte.gz")
	if err := os.WriteFile(p, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("mnist", "train", root); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("damaged data set: %v", err)
	}
}

// The .gz trailer's size only sizes the buffer: a file of several gzip
// members (whose last trailer counts the last member alone) reads whole,
// and a forged trailer is a damaged file, not a huge allocation.
func TestGzipTrailerIsAHint(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "mnist")
	writeIDXSet(t, dir, 50, false)
	want, err := Load("mnist", "train", root)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "train-images-idx3-ubyte")
	raw, _ := os.ReadFile(p)
	os.Remove(p)
	// Two members: the trailer says len(raw)-100 bytes.
	os.WriteFile(p+".gz", append(gz(raw[:100]), gz(raw[100:])...), 0o644)
	got, err := Load("mnist", "train", root)
	if err != nil || !bytes.Equal(got.Images, want.Images) {
		t.Fatalf("two members: %v, images equal %v", err, err == nil && bytes.Equal(got.Images, want.Images))
	}
	// A trailer that claims 4 GiB.
	forged := gz(raw)
	copy(forged[len(forged)-4:], []byte{0xff, 0xff, 0xff, 0xff})
	os.WriteFile(p+".gz", forged, 0o644)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Load("mnist", "train", root)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "damaged gzip stream") {
		t.Errorf("forged trailer: error %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("forged trailer: %d MB allocated", n>>20)
	}
}

// A cache folder keeps decompressed copies of the .gz files, named by their
// trailers; a load uses a copy only when its bytes have the trailer's CRC-32
// and size, so a damaged or torn copy is replaced, never read, and a data
// set that cannot be copied (several gzip members, a cache that cannot be
// written) loads as before.
func TestGzCache(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "fashion-mnist")
	writeIDXSet(t, dir, 50, true)
	want, err := Load("fashion-mnist", "train", root)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	src := Source{Dir: root, Cache: cache}
	load := func(what string) {
		t.Helper()
		got, err := src.Load("fashion-mnist", "train")
		if err != nil || !bytes.Equal(got.Images, want.Images) || !slices.Equal(got.Labels, want.Labels) {
			t.Fatalf("%s: %v, same images %v", what, err, err == nil && bytes.Equal(got.Images, want.Images))
		}
	}
	load("first load")
	copies, _ := filepath.Glob(filepath.Join(cache, "train-images-idx3-ubyte.*"))
	if len(copies) != 1 {
		t.Fatalf("copies of the training images: %v", copies)
	}
	img := copies[0]
	raw, _ := os.ReadFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	plain, _ := os.ReadFile(img)

	// The copy is what is read: with it, a .gz whose stream is damaged (its
	// trailer intact) still loads; the plain load fails.
	bad := slices.Clone(raw)
	for i := 20; i < len(bad)-8; i++ {
		bad[i] ^= 0x55
	}
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), bad, 0o644)
	load("from the copy")
	if _, err := Load("fashion-mnist", "train", root); err == nil {
		t.Fatal("the damaged .gz loaded without the cache")
	}
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), raw, 0o644)

	for _, damage := range []struct {
		name string
		f    func(b []byte) []byte
	}{
		{"a changed byte", func(b []byte) []byte { b = slices.Clone(b); b[len(b)/2] ^= 1; return b }},
		{"torn", func(b []byte) []byte { return b[:len(b)-100] }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		os.WriteFile(img, damage.f(plain), 0o644)
		load(damage.name)
		if b, _ := os.ReadFile(img); !bytes.Equal(b, plain) {
			t.Errorf("%s: the copy was not replaced", damage.name)
		}
	}

	// A job killed while writing a copy leaves a temporary file; a later
	// load removes it once it is an hour old, not before.
	stale, fresh := filepath.Join(cache, ".train-images-idx3-ubyte.b0rked1"), filepath.Join(cache, ".train-images-idx3-ubyte.b0rked2")
	os.WriteFile(stale, []byte("torn"), 0o644)
	os.WriteFile(fresh, []byte("being written"), 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	load("after a killed write")
	if _, err := os.Stat(stale); err == nil {
		t.Error("a temporary file two hours old was left")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file being written was removed")
	}

	// A read-only cache (the launch's check) reads a copy that is there and
	// writes none: with the copy, a .gz with a damaged stream checks out;
	// in an empty cache, the check decompresses and leaves nothing.
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), bad, 0o644)
	ro := Source{Dir: root, Cache: cache, ReadOnlyCache: true}
	if err := ro.Check("fashion-mnist"); err != nil {
		t.Errorf("read-only check with a copy: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), raw, 0o644)
	ro.Cache = filepath.Join(t.TempDir(), "empty")
	if err := ro.Check("fashion-mnist"); err != nil {
		t.Errorf("read-only check, no copy: %v", err)
	}
	if _, err := os.Stat(ro.Cache); err == nil {
		t.Error("a read-only check wrote to its cache")
	}

	// A cache that cannot be written: the load decompresses.
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	src.Cache = blocked
	load("unwritable cache")

	// Several gzip members: the trailer's CRC is the last member's, so no
	// copy is kept.
	src.Cache = filepath.Join(t.TempDir(), "cache2")
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), append(gz(plain[:100]), gz(plain[100:])...), 0o644)
	load("two members")
	if copies, _ := filepath.Glob(filepath.Join(src.Cache, "train-images-idx3-ubyte.*")); len(copies) != 0 {
		t.Errorf("copies of a two-member file: %v", copies)
	}
}
