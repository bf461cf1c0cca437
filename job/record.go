package job

import (
	"strings"
	"time"
)

// Record is one line of the channel from a job to the controller: the child
// process writes one JSON object per line on its standard output (and the same
// lines to records.jsonl in its folder).
//
//	{"type":"progress","step":120,"epoch":2,"peer":0,"name":"loss","value":3.1,"images_per_s":910}
//	{"type":"metric","split":"test","peer":0,"name":"accuracy","value":0.83,"epoch":20}
//	{"type":"info","name":"realized_noise_rate","value":0.2}
//	{"type":"heartbeat"}   (every 30 s, so that a quiet job is not taken for a hung one)
//	{"type":"done"}
//	{"type":"warning","message":"checkpoint ... cannot be read: moved to ..."}
//	{"type":"error","message":"...","permanent":true}
//	{"type":"error","message":"... no space left on device","fault":"disk_full"}
//	{"type":"error","message":"...","fault":"damaged_input","damaged":"5a2d9729e8ae"}
//
// Every record carries the attempt that wrote it, so that the records of
// all attempts can share one file and the results of each be rebuilt from it.
// The protocol has one writer (RecordWriter) and one reader (ReadRecords).
type Record struct {
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Attempt int       `json:"attempt,omitempty"`
	Step    int64     `json:"step,omitempty"`
	Epoch   int       `json:"epoch,omitempty"`
	Epochs  int       `json:"epochs,omitempty"`
	// Steps is the job's total number of steps (progress records).
	Steps int64   `json:"steps,omitempty"`
	Peer  int     `json:"peer"`
	Split string  `json:"split,omitempty"`
	Name  string  `json:"name,omitempty"`
	Value float64 `json:"value"`
	// ImagesPerSec is the training throughput (progress records).
	ImagesPerSec float64 `json:"images_per_s,omitempty"`
	// Backend and Devices the job ran on (info records).
	Backend string `json:"backend,omitempty"`
	Message string `json:"message,omitempty"`
	// Permanent marks an error that a retry cannot fix (bad configuration, missing data).
	Permanent bool `json:"permanent,omitempty"`
	// Fault marks an error that is the machine's, not the job's
	// (FaultDiskFull), or an input's (FaultDamagedInput).
	Fault string `json:"fault,omitempty"`
	// Damaged names the job whose stored output the job found damaged
	// (FaultDamagedInput).
	Damaged string `json:"damaged,omitempty"`
}

// FaultDiskFull is the Fault of an error record when a write found the disk
// (or the user's quota) full.
const FaultDiskFull = "disk_full"

// FaultDamagedInput is the Fault of an error record when a job found the
// stored output it reads (a checkpoint, a features file) damaged: the
// controller moves that entry aside and runs its job again.
const FaultDamagedInput = "damaged_input"

// Record types.
const (
	RecProgress = "progress"
	RecMetric   = "metric"
	RecInfo     = "info"
	RecDone     = "done"
	RecBeat     = "heartbeat"
	RecError    = "error"
	RecWarning  = "warning" // something the job recovered from (an unreadable checkpoint moved aside)
)

// Metric splits and names a probe reports.
const (
	SplitTest    = "test"
	SplitVal     = "val"
	SplitTrain   = "train"
	SplitMonitor = "monitor"

	MetricAccBest  = "accuracy_at_best_val" // test accuracy at the best-validation epoch
	MetricAccFinal = "accuracy_final"       // test accuracy at the final epoch
	// MetricAccSelected is the test accuracy a probe reports: at the
	// best-validation epoch, or at the final one when the validation split is
	// too small to choose an epoch by (probe.MinValPerClass).
	MetricAccSelected = "accuracy_selected"
	MetricKNN         = "knn_accuracy"
)

// oodPrefix starts the split of a metric measured on an out-of-distribution set.
const oodPrefix = "ood:"

// OODSplit is the metric split of an out-of-distribution set.
func OODSplit(set string) string { return oodPrefix + set }

// OODSet returns the set of an out-of-distribution split.
func OODSet(split string) (string, bool) { return strings.CutPrefix(split, oodPrefix) }

// RunInfo is where an attempt ran, as its info records say.
type RunInfo struct {
	Backend, Devices, DataDir, Host, Build string
	// RealizedNoise is the noise rate the labels got (noisy-label probes).
	RealizedNoise *float64
}

// Add takes what an info record says.
func (in *RunInfo) Add(r Record) {
	if r.Type != RecInfo {
		return
	}
	switch r.Name {
	case "backend":
		in.Backend = r.Backend
	case "devices":
		in.Devices = r.Message
	case "data_dir":
		in.DataDir = r.Message
	case "host":
		in.Host = r.Message
	case "build":
		in.Build = r.Message
	case "realized_noise_rate":
		v := r.Value
		in.RealizedNoise = &v
	}
}
