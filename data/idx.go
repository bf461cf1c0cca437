package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/internal/mapfile"
	"github.com/klauspost/compress/gzip"
)

// Set is a loaded split: images as uint8 in HWC order, and labels.
type Set struct {
	Info   Info
	Split  string
	N      int
	Images []uint8 // N * Height * Width * Channels
	Labels []int32
}

// Image returns the pixels of image i.
func (s *Set) Image(i int) []uint8 {
	p := s.Info.Pixels()
	return s.Images[i*p : (i+1)*p]
}

// MissingError is a data set that is absent or damaged, with how to get it.
type MissingError struct {
	Dataset string
	Looked  []string
	Problem string
	Install string
	// Err is fs.ErrNotExist when no folder of the data set exists.
	Err error
}

func (e *MissingError) Unwrap() error { return e.Err }

func (e *MissingError) Error() string {
	return fmt.Sprintf("data set %s: %s (looked in: %s); to get it: %s", e.Dataset, e.Problem, strings.Join(e.Looked, ", "), e.Install)
}

// SearchPath returns the folders where a data set is looked for: dir/NAME
// alone when a data folder is given (--data-dir, or $SWEEP_DATA_DIR), else
// the system folders where packages install data.
func SearchPath(name, dir string) []string {
	if dir != "" {
		return []string{filepath.Join(dir, name)}
	}
	return []string{filepath.Join("/usr/share/datasets", name), filepath.Join("/usr/local/share/datasets", name)}
}

// Folder returns the folder a data set is read from: the first folder of
// SearchPath that exists.
func Folder(name, dir string) (string, error) {
	info, ok := Known()[name]
	if !ok {
		return "", fmt.Errorf("unknown data set %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	looked := SearchPath(name, dir)
	for _, d := range looked {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
	}
	return "", &MissingError{Dataset: name, Looked: looked, Problem: "no folder with its files found", Install: info.Install, Err: fs.ErrNotExist}
}

// Load reads a split of a data set from the first folder of SearchPath that
// has its files.
func Load(name, split, dir string) (*Set, error) { return Source{Dir: dir}.Load(name, split) }

// Source is where a job reads data sets from.
type Source struct {
	// Dir is the only folder data sets are read from ("": the system folders).
	Dir string
	// Cache is a folder for decompressed copies of the data sets' .gz files
	// ("": decompress at every load; see readMaybeGz).
	Cache string
	// ReadOnlyCache reads copies from Cache but writes none (a check made
	// before anything is written).
	ReadOnlyCache bool
}

// Load reads a split of a data set from the first folder of SearchPath that
// has its files.
func (src Source) Load(name, split string) (*Set, error) {
	dir := src.Dir
	info := Known()[name]
	d, err := Folder(name, dir)
	if err != nil {
		return nil, err
	}
	var s *Set
	switch name {
	case "fashion-mnist", "mnist":
		s, err = loadIDX(info, d, split, src)
	case "cifar10", "cifar100":
		s, err = loadCIFAR(info, d, split)
	case "stl10":
		s, err = loadSTL10(info, d, split)
	case "tiny-imagenet":
		s, err = loadTinyImageNet(info, d, split)
	default:
		err = fmt.Errorf("loader for %s is not in this build", name)
	}
	if err != nil {
		return nil, &MissingError{Dataset: name, Looked: []string{d}, Problem: err.Error(), Install: info.Install}
	}
	return s, nil
}

// readMaybeGz reads base or base.gz from dir.
//
// A .gz file is decompressed into a buffer sized by its trailer (the
// uncompressed size, mod 2^32; a hint only, the stream decides): growing the
// buffer as it fills took a fresh process twice as long for Fashion-MNIST's
// 47 MB of training images, in the page faults and copies of each doubling
// (910 ms against 470 ms, five runs each; klauspost's decoder then takes 415
// ms).
//
// With a cache folder, the decompressed bytes are kept there and later
// loads map them (mapfile.Map) instead: Fashion-MNIST's two splits took a
// fresh process 490-600 ms to decompress, 31-34 ms to map and check, and
// every pretraining and features job loads them. A copy is named by the
// .gz file's trailer (its CRC-32 and size) and used only when its bytes
// have that CRC-32 and size: a changed data set names another copy, and a
// damaged or torn copy is never read, only replaced.
func readMaybeGz(dir, base string, src Source) ([]byte, string, error) {
	cache := src.Cache
	p := filepath.Join(dir, base)
	if b, err := os.ReadFile(p); err == nil {
		return b, p, nil
	}
	p += ".gz"
	if cache != "" {
		if !src.ReadOnlyCache {
			removeStaleTemps(cache, base)
		}
		if b, ok := cachedGz(p, base, cache); ok {
			return b, p, nil
		}
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("missing file %s (or %s)", base, base+".gz")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, p, fmt.Errorf("%s: not a gzip file: %w", p, err)
	}
	size := 0
	if len(raw) >= 4 { // no more than DEFLATE can expand to: a damaged trailer costs nothing
		size = min(int(binary.LittleEndian.Uint32(raw[len(raw)-4:])), 1032*len(raw))
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(zr); err != nil {
		return nil, p, fmt.Errorf("%s: damaged gzip stream (truncated?): %w", p, err)
	}
	if cache != "" && !src.ReadOnlyCache && len(raw) >= 8 {
		crc, n := binary.LittleEndian.Uint32(raw[len(raw)-8:]), binary.LittleEndian.Uint32(raw[len(raw)-4:])
		// A file of several gzip members has the last one's CRC in its
		// trailer: no copy is kept that a later load could not check.
		if crc32.ChecksumIEEE(buf.Bytes()) == crc && uint32(buf.Len()) == n {
			if err := os.MkdirAll(cache, 0o755); err == nil {
				_ = atomicfile.Write(cacheName(cache, base, crc, n), buf.Bytes()) // a copy is a saving, not a need
			}
		}
	}
	return buf.Bytes(), p, nil
}

func cacheName(cache, base string, crc, size uint32) string {
	return filepath.Join(cache, fmt.Sprintf("%s.%08x.%d", base, crc, size))
}

// removeStaleTemps removes the temporary files of copies of base that jobs
// killed while writing them left in the cache (".base..." from
// atomicfile), once they are an hour old: a copy being written now is
// younger. Every load looks (a listing of a small folder).
func removeStaleTemps(cache, base string) {
	temps, _ := filepath.Glob(filepath.Join(cache, "."+base+".*"))
	for _, p := range temps {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
}

// cachedGz maps the decompressed copy of the .gz file p from the cache,
// when one is there whose CRC-32 and size are those of p's trailer.
func cachedGz(p, base, cache string) ([]byte, bool) {
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < 8 {
		return nil, false
	}
	var tr [8]byte
	if _, err := f.ReadAt(tr[:], st.Size()-8); err != nil {
		return nil, false
	}
	crc, n := binary.LittleEndian.Uint32(tr[:4]), binary.LittleEndian.Uint32(tr[4:])
	b, err := mapfile.Map(cacheName(cache, base, crc, n))
	if err != nil || uint32(len(b)) != n || crc32.ChecksumIEEE(b) != crc {
		return nil, false
	}
	return b, true
}

func loadIDX(info Info, dir, split string, src Source) (*Set, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("no split %q (splits: train, test)", split)
	}
	img, ip, err := readMaybeGz(dir, prefix+"-images-idx3-ubyte", src)
	if err != nil {
		return nil, err
	}
	lab, lp, err := readMaybeGz(dir, prefix+"-labels-idx1-ubyte", src)
	if err != nil {
		return nil, err
	}
	dims, pix, err := parseIDX(img, 0x0803, 3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ip, err)
	}
	if dims[1] != info.Height || dims[2] != info.Width {
		return nil, fmt.Errorf("%s: images are %dx%d, want %dx%d", ip, dims[1], dims[2], info.Height, info.Width)
	}
	ldims, labels, err := parseIDX(lab, 0x0801, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lp, err)
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("%s has %d labels for %d images in %s", lp, ldims[0], dims[0], ip)
	}
	s := &Set{Info: info, Split: split, N: dims[0], Images: pix, Labels: make([]int32, dims[0])}
	for i, l := range labels {
		if int(l) >= info.Classes {
			return nil, fmt.Errorf("%s: label %d of image %d is not a class (0..%d)", lp, l, i, info.Classes-1)
		}
		s.Labels[i] = int32(l)
	}
	return s, nil
}

// parseIDX checks an IDX file's magic number and size and returns its dimensions and data.
func parseIDX(b []byte, magic uint32, ndim int) ([]int, []uint8, error) {
	h := 4 + 4*ndim
	if len(b) < h {
		return nil, nil, fmt.Errorf("truncated: %d bytes, shorter than the header", len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != magic {
		return nil, nil, fmt.Errorf("bad magic number 0x%08x, want 0x%08x (not an IDX file of this kind)", m, magic)
	}
	dims := make([]int, ndim)
	n := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
		n *= dims[i]
	}
	if len(b)-h != n {
		return nil, nil, fmt.Errorf("size mismatch: header says %d bytes of data, file has %d (truncated or damaged)", n, len(b)-h)
	}
	return dims, b[h:], nil
}

// WriteIDX writes images (ndim 3) or labels (ndim 1) as an IDX file; tests use it.
func WriteIDX(w io.Writer, dims []int, payload []uint8) error {
	var buf bytes.Buffer
	magic := uint32(0x0800 | len(dims))
	_ = binary.Write(&buf, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(payload)
	_, err := w.Write(buf.Bytes())
	return err
}

func loadCIFAR(info Info, dir, split string) (*Set, error) {
	var files []string
	labelBytes := 1
	if info.Classes == 100 {
		labelBytes = 2 // coarse, fine
		files = []string{map[string]string{"train": "train.bin", "test": "test.bin"}[split]}
	} else if split == "train" {
		files = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	} else {
		files = []string{"test_batch.bin"}
	}
	if files[0] == "" || (split != "train" && split != "test") {
		return nil, fmt.Errorf("no split %q (splits: train, test)", split)
	}
	rec := labelBytes + 3072
	if info.Classes == 100 {
		// The official archive ships the class names beside the data.
		if b, err := os.ReadFile(filepath.Join(dir, "fine_label_names.txt")); err == nil {
			names := strings.Fields(string(b))
			if len(names) == 100 {
				info.ClassNames = names
			}
		}
	}
	s := &Set{Info: info, Split: split}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("missing file %s", f)
		}
		if len(b) == 0 || len(b)%rec != 0 {
			return nil, fmt.Errorf("%s: size %d is not a multiple of the %d-byte record (truncated or damaged)", f, len(b), rec)
		}
		for off := 0; off < len(b); off += rec {
			l := b[off+labelBytes-1]
			if int(l) >= info.Classes {
				return nil, fmt.Errorf("%s: label %d at byte %d is not a class", f, l, off)
			}
			s.Labels = append(s.Labels, int32(l))
			px := b[off+labelBytes : off+rec]
			// CHW planes to HWC.
			for i := 0; i < 1024; i++ {
				s.Images = append(s.Images, px[i], px[1024+i], px[2048+i])
			}
		}
	}
	s.N = len(s.Labels)
	return s, nil
}

func loadSTL10(info Info, dir, split string) (*Set, error) {
	xs, err := os.ReadFile(filepath.Join(dir, split+"_X.bin"))
	if err != nil {
		return nil, fmt.Errorf("missing file %s_X.bin", split)
	}
	const px = 96 * 96 * 3
	if len(xs) == 0 || len(xs)%px != 0 {
		return nil, fmt.Errorf("%s_X.bin: size %d is not a multiple of %d (truncated or damaged)", split, len(xs), px)
	}
	n := len(xs) / px
	s := &Set{Info: info, Split: split, N: n, Images: make([]uint8, len(xs)), Labels: make([]int32, n)}
	// Column-major CHW (as MATLAB wrote it) to HWC.
	for i := 0; i < n; i++ {
		src := xs[i*px : (i+1)*px]
		dst := s.Images[i*px : (i+1)*px]
		for c := 0; c < 3; c++ {
			for x := 0; x < 96; x++ {
				for y := 0; y < 96; y++ {
					dst[(y*96+x)*3+c] = src[c*9216+x*96+y]
				}
			}
		}
	}
	if split == "unlabeled" {
		for i := range s.Labels {
			s.Labels[i] = -1
		}
		return s, nil
	}
	ys, err := os.ReadFile(filepath.Join(dir, split+"_y.bin"))
	if err != nil {
		return nil, fmt.Errorf("missing file %s_y.bin", split)
	}
	if len(ys) != n {
		return nil, errors.New(split + "_y.bin: label count does not match the images")
	}
	for i, y := range ys {
		if y < 1 || int(y) > info.Classes {
			return nil, fmt.Errorf("%s_y.bin: label %d is not 1..10", split, y)
		}
		s.Labels[i] = int32(y) - 1
	}
	return s, nil
}
