// Package probe evaluates frozen encoders on their extracted features: linear
// probes (all labels, label fractions, noisy labels, out-of-distribution test
// sets) and k-nearest-neighbour accuracy. It needs no GoMLX: features are
// extracted once per encoder by a features job and read from its file.
package probe

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
)

// FeaturesFile is the name of a features job's output in its folder.
const FeaturesFile = "features.gob"

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

// Write saves features atomically.
func (f *Features) Write(dir string) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(f); err != nil {
		return fmt.Errorf("write features: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, FeaturesFile), buf.Bytes())
}

// ReadFeatures loads a features file.
func ReadFeatures(dir string) (*Features, error) {
	fh, err := os.Open(filepath.Join(dir, FeaturesFile))
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
