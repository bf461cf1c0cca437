// Package probe evaluates frozen encoders on their extracted features: linear
// probes (all labels, label fractions, noisy labels, out-of-distribution test
// sets) and k-nearest-neighbour accuracy. It needs no GoMLX: features are
// extracted once per encoder by a features job and read from its file.
package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"unsafe"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/internal/mapfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// The features file (jobdir.Dir.Features) is one line of JSON (the
// sizes), padded with spaces so that the arrays start at a multiple of 4
// bytes, then the arrays as little-endian 32-bit values. A probe job reads
// it whole, and gob took a fresh process about a second for a 512-d
// encoder's 40 MB (more than the probe itself). Read by a probe job, the
// file is mapped and, on a little-endian CPU, its arrays are used where
// they lie, without a copy (files written before the padding are copied).

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

// Write saves features atomically to path.
func (f *Features) Write(path string) error {
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
	// Spaces after the JSON, so that the arrays start 4-byte aligned.
	for (len(head)+1)%4 != 0 {
		head = append(head, ' ')
	}
	buf := make([]byte, 0, len(head)+1+4*values)
	buf = append(append(buf, head...), '\n')
	arrays := []any{f.Train, f.TrainLabels, f.Test, f.TestLabels}
	for _, o := range h.OOD {
		arrays = append(arrays, f.OOD[o.Name])
		if o.OwnLabels {
			arrays = append(arrays, f.OODLabels[o.Name])
		}
	}
	for _, a := range arrays {
		if buf, err = binary.Append(buf, binary.LittleEndian, a); err != nil {
			return fmt.Errorf("write features: %w", err)
		}
	}
	return atomicfile.Write(path, buf)
}

// ReadFeatures loads a features file.
func ReadFeatures(path string) (*Features, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read features: %w", err)
	}
	f, err := decodeFeatures(b, false)
	if err != nil {
		return nil, fmt.Errorf("read features %s: %w", path, err)
	}
	return f, nil
}

// ReadStoredFeatures loads the features of a finished features job (id)
// from its store entry, checked against the entry's manifest as they are
// read (the whole file is read anyway): a file that does not match is the
// job's damage, a *job.DamagedInputError. The file is mapped for the life
// of the process (mapfile.Map) and the arrays alias it: for a probe process,
// which reads one.
func ReadStoredFeatures(entry jobdir.Dir, id string) (*Features, error) {
	path := entry.Features()
	b, err := mapfile.Map(path)
	if err == nil {
		err = entry.VerifyBytes(path, b)
	}
	if err != nil {
		return nil, &job.DamagedInputError{Job: id, Err: fmt.Errorf("the features of job %s: %w", id, err)}
	}
	f, err := decodeFeatures(b, true)
	if err != nil {
		return nil, &job.DamagedInputError{Job: id, Err: fmt.Errorf("read features %s: %w", path, err)}
	}
	return f, nil
}

// decodeFeatures decodes a features file. With alias, arrays that lie
// 4-byte aligned in b on a little-endian CPU are b's own bytes, not copies.
func decodeFeatures(b []byte, alias bool) (*Features, error) {
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
	r := reader{rest: rest, alias: alias && littleEndian}
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

// reader takes arrays off the front of rest; short records a file that
// ends early. With alias, an array that lies 4-byte aligned is rest's own
// bytes.
type reader struct {
	rest  []byte
	short bool
	alias bool
}

// littleEndian: this CPU stores 32-bit values as the file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// take decodes the next n little-endian 32-bit values into x (a []float32
// or []int32 of length n).
func (r *reader) take(n int, x any) {
	if r.short || n < 0 || 4*n > len(r.rest) {
		r.short, r.rest = true, nil
		return
	}
	if _, err := binary.Decode(r.rest[:4*n], binary.LittleEndian, x); err != nil {
		r.short = true
		return
	}
	r.rest = r.rest[4*n:]
}

func (r *reader) floats(n int) []float32 {
	if p := r.aliased(n); p != nil {
		return unsafe.Slice((*float32)(p), n)
	}
	x := make([]float32, max(n, 0))
	r.take(n, x)
	return x
}

func (r *reader) ints(n int) []int32 {
	if p := r.aliased(n); p != nil {
		return unsafe.Slice((*int32)(p), n)
	}
	x := make([]int32, max(n, 0))
	r.take(n, x)
	return x
}

// aliased takes the next n 32-bit values off rest where they lie, when the
// reader aliases and they are 4-byte aligned; nil otherwise.
func (r *reader) aliased(n int) unsafe.Pointer {
	if !r.alias || r.short || n <= 0 || 4*n > len(r.rest) {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(r.rest))
	if uintptr(p)%4 != 0 {
		return nil
	}
	r.rest = r.rest[4*n:]
	return p
}
