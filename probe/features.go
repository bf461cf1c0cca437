// Package probe evaluates frozen encoders on their extracted features: linear
// probes (all labels, label fractions, noisy labels, out-of-distribution test
// sets) and k-nearest-neighbour accuracy. It needs no GoMLX: features are
// extracted once per encoder by a features job and read from its file.
package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
)

// FeaturesFile is the name of a features job's output in its folder: one
// line of JSON (the sizes), then the arrays as little-endian 32-bit values.
// A probe job reads it whole, and gob took a fresh process about a second
// for a 512-d encoder's 40 MB (more than the probe itself); this takes
// tens of milliseconds.
const FeaturesFile = "features.bin"

// gobFeaturesFile is what features jobs wrote before FeaturesFile; store
// entries made then are still read.
const gobFeaturesFile = "features.gob"

// Features are an encoder's outputs (before any head) on the splits its
// probes need. Rows are samples, Dim values each.
type Features struct {
	Dim         int
	Classes     int
	Train       []float32
	TrainLabels []int32
	Test        []float32
	TestLabels  []int32
	// OOD holds the features of each out-of-distribution test set; their
	// labels are OODLabels[name], or TestLabels for corruptions of the test set.
	OOD       map[string][]float32
	OODLabels map[string][]int32
}

// oodLabels returns the labels of an OOD set.
func (f *Features) oodLabels(name string) []int32 {
	if l, ok := f.OODLabels[name]; ok {
		return l
	}
	return f.TestLabels
}

// header is FeaturesFile's first line: the arrays that follow it, in order
// (train, its labels, test, its labels, then each OOD set by name: its
// features, and its labels when it has its own), by length.
type header struct {
	Dim, Classes int
	Train, Test  int // rows
	OOD          []oodHeader
}

type oodHeader struct {
	Name      string
	Rows      int
	OwnLabels bool
}

// Write saves features atomically.
func (f *Features) Write(dir string) error {
	h := header{Dim: f.Dim, Classes: f.Classes, Train: len(f.TrainLabels), Test: len(f.TestLabels)}
	values := len(f.Train) + len(f.TrainLabels) + len(f.Test) + len(f.TestLabels)
	for _, name := range slices.Sorted(maps.Keys(f.OOD)) {
		_, own := f.OODLabels[name]
		h.OOD = append(h.OOD, oodHeader{Name: name, Rows: len(f.OOD[name]) / max(f.Dim, 1), OwnLabels: own})
		values += len(f.OOD[name]) + len(f.OODLabels[name])
	}
	head, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("write features: %w", err)
	}
	buf := make([]byte, 0, len(head)+1+4*values)
	buf = append(append(buf, head...), '\n')
	buf = appendFloats(buf, f.Train)
	buf = appendInts(buf, f.TrainLabels)
	buf = appendFloats(buf, f.Test)
	buf = appendInts(buf, f.TestLabels)
	for _, o := range h.OOD {
		buf = appendFloats(buf, f.OOD[o.Name])
		if o.OwnLabels {
			buf = appendInts(buf, f.OODLabels[o.Name])
		}
	}
	return atomicfile.Write(filepath.Join(dir, FeaturesFile), buf)
}

func appendFloats(b []byte, x []float32) []byte {
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func appendInts(b []byte, x []int32) []byte {
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// ReadFeatures loads a features job's output from its folder.
func ReadFeatures(dir string) (*Features, error) {
	path := filepath.Join(dir, FeaturesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if f, gerr := readGobFeatures(filepath.Join(dir, gobFeaturesFile)); !errors.Is(gerr, fs.ErrNotExist) {
			return f, gerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read features: %w", err)
	}
	f, err := decodeFeatures(b)
	if err != nil {
		return nil, fmt.Errorf("read features %s: %w", path, err)
	}
	return f, nil
}

func decodeFeatures(b []byte) (*Features, error) {
	line, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, errors.New("no header line")
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.Dim <= 0 || h.Train < 0 || h.Test < 0 {
		return nil, fmt.Errorf("header %s: sizes out of range", line)
	}
	r := reader{rest: rest}
	f := &Features{Dim: h.Dim, Classes: h.Classes}
	f.Train, f.TrainLabels = r.floats(h.Train*h.Dim), r.ints(h.Train)
	f.Test, f.TestLabels = r.floats(h.Test*h.Dim), r.ints(h.Test)
	for _, o := range h.OOD {
		if f.OOD == nil {
			f.OOD, f.OODLabels = map[string][]float32{}, map[string][]int32{}
		}
		f.OOD[o.Name] = r.floats(o.Rows * h.Dim)
		if o.OwnLabels {
			f.OODLabels[o.Name] = r.ints(o.Rows)
		}
	}
	if r.short {
		return nil, errors.New("truncated: the file is shorter than its header says")
	}
	if len(r.rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the arrays its header names", len(r.rest))
	}
	return f, nil
}

// reader takes arrays off the front of rest; short records a file that ends early.
type reader struct {
	rest  []byte
	short bool
}

func (r *reader) take(n int) []byte {
	if n < 0 || 4*n > len(r.rest) {
		r.short, r.rest = true, nil
		return nil
	}
	b := r.rest[:4*n]
	r.rest = r.rest[4*n:]
	return b
}

func (r *reader) floats(n int) []float32 {
	b := r.take(n)
	if b == nil {
		return nil
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

func (r *reader) ints(n int) []int32 {
	b := r.take(n)
	if b == nil {
		return nil
	}
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

// readGobFeatures reads the gob file of an earlier release's features job.
func readGobFeatures(path string) (*Features, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read features: %w", err)
	}
	defer fh.Close()
	var f Features
	if err := gob.NewDecoder(fh).Decode(&f); err != nil {
		return nil, fmt.Errorf("read features %s: %w", fh.Name(), err)
	}
	if f.Dim == 0 || len(f.Train) != len(f.TrainLabels)*f.Dim || len(f.Test) != len(f.TestLabels)*f.Dim {
		return nil, fmt.Errorf("read features %s: sizes do not match", fh.Name())
	}
	return &f, nil
}
