// Package job is the vocabulary every part of dogo-sweep speaks: what a job
// is (its kind, its canonical configuration, its place in the plan), the
// settings jobs share, the states a job goes through, and the records a job
// reports to its controller. It imports nothing of this project's, so that
// reading results or metrics never drags in the grid parser or the
// controller.
package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Kind is what a job does.
type Kind string

// The kinds of job. A pretraining job trains one encoder (solo) or two (a DoGo
// pair); a features job runs one frozen encoder once over the data it will be
// probed on; the probe kinds train a linear classifier on those features.
const (
	KindPretrain Kind = "pretrain"
	KindFeatures Kind = "features"
	KindLinear   Kind = "linear"   // all labels, clean
	KindFraction Kind = "fraction" // a class-balanced fraction of the labels
	KindNoise    Kind = "noise"    // noisy labels
	KindKNN      Kind = "knn"      // k-nearest-neighbour accuracy
)

// IsProbe reports whether jobs of kind k evaluate an encoder's features.
func (k Kind) IsProbe() bool { return k != KindPretrain && k != KindFeatures }

// Methods name how an encoder came to be.
const (
	MethodDoGo   = "dogo"
	MethodSolo   = "solo"
	MethodRandom = "random" // randomly initialised, untrained
	MethodPixels = "pixels" // no encoder: raw pixels
)

// Roles name an encoder's place: the small or large peer of a DoGo pair, a
// solo encoder, or a reference (random-init or raw pixels).
const (
	RoleSmall     = "small"
	RoleLarge     = "large"
	RoleSolo      = "solo"
	RoleReference = "reference"
)

// Spec is a job's canonical configuration: everything that changes its
// result, and nothing else. The job ID is a hash of it.
type Spec struct {
	Kind      Kind   `json:"kind"`
	Dataset   string `json:"dataset"`
	Method    string `json:"method"`
	Objective string `json:"objective,omitempty"`
	Seed      int    `json:"seed"`

	// Pretraining: the encoders (one solo, two for a DoGo pair, small first).
	Archs    []string  `json:"archs,omitempty"`
	Pretrain *Pretrain `json:"pretrain,omitempty"`
	// Revision is the revision of the code that computes the job's output
	// (RevisionOf).
	Revision string `json:"revision,omitempty"`

	// Data identifies the files of the data sets the job reads, by name
	// (pretraining and feature extraction; probes read features).
	Data map[string]string `json:"data,omitempty"`

	// Features and probes: which encoder.
	Parent   string `json:"parent,omitempty"` // the pretraining job
	Peer     int    `json:"peer"`             // index into the parent's Archs
	Arch     string `json:"arch,omitempty"`
	Role     string `json:"role,omitempty"` // RoleSmall, RoleLarge, RoleSolo, RoleReference
	PeerArch string `json:"peer_arch,omitempty"`

	// Features: the out-of-distribution sets to extract, and the train subset.
	OOD         []string `json:"ood,omitempty"`
	TrainSubset int      `json:"train_subset,omitempty"`

	// Probes.
	Features  string  `json:"features,omitempty"` // the features job
	NoiseRate float64 `json:"noise_rate,omitempty"`
	NoiseKind string  `json:"noise_kind,omitempty"`
	Fraction  float64 `json:"fraction,omitempty"`
	Eval      *Eval   `json:"eval,omitempty"`
}

// Encoder identifies an evaluated encoder across the jobs that share it.
func (s Spec) Encoder() string {
	if s.Method == MethodPixels {
		return "pixels"
	}
	name := s.Method + ":" + s.Arch
	if s.Method == MethodDoGo {
		name += "(" + s.Role + ", with " + s.PeerArch + ")"
	}
	return name
}

// ArchLabel is the architecture a job is about: the pair "small+large" of a
// pretraining job, the encoder's architecture otherwise.
func (s Spec) ArchLabel() string {
	if s.Kind == KindPretrain {
		return strings.Join(s.Archs, "+")
	}
	return s.Arch
}

// LabelsText describes the labels a probe trains on ("all", "10%", "20%
// symmetric noise"), "-" for other jobs.
func (s Spec) LabelsText() string {
	switch s.Kind {
	case KindLinear, KindKNN:
		return "all"
	case KindFraction:
		return fmt.Sprintf("%g%%", s.Fraction*100)
	case KindNoise:
		l := fmt.Sprintf("%g%% %s noise", s.NoiseRate*100, s.NoiseKind)
		if s.Fraction < 1 {
			l += fmt.Sprintf(", %g%%", s.Fraction*100)
		}
		return l
	}
	return "-"
}

// Job is one node of the plan: a job's identity, its configuration, what it
// depends on and what it asks for.
type Job struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Spec Spec     `json:"spec"`
	Deps []string `json:"deps,omitempty"`
	// CPUs and GPUs this job asks for.
	CPUs        int     `json:"cpus"`
	GPUs        int     `json:"gpus,omitempty"`
	GPUFraction float64 `json:"gpu_fraction,omitempty"`
	MemoryGB    float64 `json:"memory_gb,omitempty"`
}

// PermanentError marks a failure that a retry cannot fix (a bad
// configuration, missing data).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// DamagedInputError is a job's failure to read the stored output of a job
// it depends on (Job), because that output does not match its manifest: not
// the job's fault. The controller moves the damaged entry aside and runs
// that job again, then this one.
type DamagedInputError struct {
	Job string
	Err error
}

func (e *DamagedInputError) Error() string { return e.Err.Error() }
func (e *DamagedInputError) Unwrap() error { return e.Err }

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// SpecID is a job's ID: a hash of its spec, which holds every setting that
// changes its result (its data files' identity, the revision of the code
// that computes it, and its parent's ID), so that it is stable across runs,
// key order and formatting of the grid file, and equal in every sweep that
// plans the job.
func SpecID(s Spec) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic("job: a spec that does not marshal: " + err.Error())
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// DiskFull reports whether err is a write that found the disk, or the
// user's quota, full (ENOSPC, EDQUOT), or says so in its text (a child
// job's error arrives as text).
func DiskFull(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error())
}

// FirstLine is the first line of a message (an error's, for one-line logs
// and summaries).
func FirstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
