// Package jobdir owns the layout of a job's folder, the one place where the
// names of its files are spelled. Every part that touches a job folder (the
// job process, the executors, the store, results, status, gc) asks a Dir
// for its paths:
//
//	task.json       what the controller asks of this attempt (Task); the executor writes it
//	spec.json       the job's spec, whose hash is the job's ID
//	log             the job process's standard error, every attempt
//	records.jsonl   every record the job process wrote, every attempt (job.RecordWriter)
//	attempts.jsonl  the controller's verdict on each attempt (Verdict)
//	checkpoints/    pretraining checkpoints (GoMLX's files, each with its checksum)
//	features.bin    a features job's output
//	results/parts/  the job's result rows, one pair of Parquet files per attempt
//	done.json       the manifest: every file with its size and SHA-256, and
//	                the build that made it; written last, when the job is committed
//	quarantined.txt why a damaged entry was moved aside (in quarantine only)
//
// The bottom layer: it imports only the job vocabulary.
package jobdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a job's folder: a store entry, or the work folder of a claim.
type Dir string

// Path is the folder itself.
func (d Dir) Path() string { return string(d) }

func (d Dir) join(name string) string { return filepath.Join(string(d), name) }

// Task is the file the executor writes before it starts the job process.
func (d Dir) Task() string { return d.join("task.json") }

// Spec is the job's spec (JSON).
func (d Dir) Spec() string { return d.join("spec.json") }

// Log is the job process's standard error.
func (d Dir) Log() string { return d.join("log") }

// Records is the job's records, one JSON object per line.
func (d Dir) Records() string { return d.join("records.jsonl") }

// Attempts is the controller's verdicts on the job's attempts.
func (d Dir) Attempts() string { return d.join("attempts.jsonl") }

// Checkpoints is the folder of a pretraining job's checkpoints.
func (d Dir) Checkpoints() string { return d.join("checkpoints") }

// Features is a features job's output.
func (d Dir) Features() string { return d.join("features.bin") }

// Results is the folder of the job's result parts (results.JobParts).
func (d Dir) Results() string { return d.join("results") }

// Result parts: a results folder (a job's results/, or a run folder's)
// holds compacted tables and one pair of part files per job attempt.
const (
	partsDir     = "parts"
	JobsTable    = "jobs.parquet"
	MetricsTable = "metrics.parquet"
	// DecisionsTable is a sequential sweep's decisions (a run's results).
	DecisionsTable = "decisions.parquet"
	jobsPart       = "jobs-"
	metricsPart    = "metrics-"
)

// PartsDir is the folder of a results folder's part files.
func PartsDir(results string) string { return filepath.Join(results, partsDir) }

// PartFiles are the jobs and metrics part files of one attempt of a job in
// a results folder.
func PartFiles(results, id string, attempt int) (jobs, metrics string) {
	base := fmt.Sprintf("%s-%d.parquet", id, attempt)
	return filepath.Join(PartsDir(results), jobsPart+base), filepath.Join(PartsDir(results), metricsPart+base)
}

// JobsParts lists the jobs part files of a results folder, in name order.
func JobsParts(results string) ([]string, error) {
	parts, err := filepath.Glob(filepath.Join(PartsDir(results), jobsPart+"*.parquet"))
	sort.Strings(parts)
	return parts, err
}

// MetricsPartOf is the metrics part beside a jobs part.
func MetricsPartOf(jobsPartFile string) string {
	return filepath.Join(filepath.Dir(jobsPartFile), metricsPart+strings.TrimPrefix(filepath.Base(jobsPartFile), jobsPart))
}

// Manifest is the done marker: written last, it lists every file.
func (d Dir) Manifest() string { return d.join(manifestName) }

const manifestName = "done.json"

// QuarantineNote says why a damaged entry was moved aside (in its folder in
// the store's quarantine).
func (d Dir) QuarantineNote() string { return d.join("quarantined.txt") }

// Rel returns a path inside the folder relative to it, with slashes.
func (d Dir) Rel(path string) (string, error) {
	r, err := filepath.Rel(string(d), path)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", fmt.Errorf("%s is not inside %s", path, d)
	}
	return filepath.ToSlash(r), nil
}

// Abs returns the path of a file named relative to the folder.
func (d Dir) Abs(rel string) string { return filepath.Join(string(d), filepath.FromSlash(rel)) }

// appendOnly are the files that grow while a job runs (copied, never
// linked, when a folder is adopted).
func (d Dir) appendOnly(rel string) bool {
	return rel == "log" || rel == "records.jsonl" || rel == "attempts.jsonl"
}

// rebuilt are the files a new attempt writes anew (not carried into an
// adopted folder): the task, the result parts and the manifest.
func rebuilt(rel string) bool {
	return rel == "task.json" || rel == manifestName || rel == "results" || strings.HasPrefix(rel, "results/")
}

// Checkpoint files are GoMLX's: checkpoint-n<count>-<time>.json (which makes
// it exist) and .bin (the values); this project adds .sha256 (checksum).
const (
	checkpointPrefix = "checkpoint-"
	// CheckpointJSON and CheckpointBin are GoMLX's suffixes
	// (checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix).
	CheckpointJSON = ".json"
	CheckpointBin  = ".bin"
	checkpointSum  = ".sha256"
	// UnreadableCheckpoints is where checkpoints that cannot be read are moved.
	UnreadableCheckpoints = "unreadable"
	// stagingPrefix starts the folders checkpoints are written in.
	stagingPrefix = ".staging-"
)

// StagingPrefix starts the name of a folder a checkpoint is staged in.
func (d Dir) StagingPrefix() string { return stagingPrefix }

// ListCheckpoints returns the base names of the checkpoints (those whose
// JSON file exists), oldest first.
func (d Dir) ListCheckpoints() ([]string, error) {
	entries, err := os.ReadDir(d.Checkpoints())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasPrefix(n, checkpointPrefix) && strings.HasSuffix(n, CheckpointJSON) {
			out = append(out, strings.TrimSuffix(n, CheckpointJSON))
		}
	}
	sort.Strings(out)
	return out, nil
}

// CheckpointFiles are the paths of one checkpoint's files: its JSON, its
// data and its checksum.
func (d Dir) CheckpointFiles(base string) (json, bin, sum string) {
	c := d.Checkpoints()
	return filepath.Join(c, base+CheckpointJSON), filepath.Join(c, base+CheckpointBin), filepath.Join(c, base+checkpointSum)
}

// OlderCheckpoints lists the files of every checkpoint but the newest, and
// the folder of unreadable ones: what a finished job no longer needs.
func (d Dir) OlderCheckpoints() ([]string, error) {
	list, err := d.ListCheckpoints()
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 0; i+1 < len(list); i++ {
		j, b, s := d.CheckpointFiles(list[i])
		out = append(out, j, b, s)
	}
	if _, err := os.Stat(filepath.Join(d.Checkpoints(), UnreadableCheckpoints)); err == nil {
		out = append(out, filepath.Join(d.Checkpoints(), UnreadableCheckpoints))
	}
	return out, nil
}

// Size is the bytes of every regular file in the folder.
func (d Dir) Size() int64 {
	var total int64
	_ = filepath.WalkDir(string(d), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// LogTail returns the last n lines of the job's log ("" without one).
func (d Dir) LogTail(n int) string {
	b, err := os.ReadFile(d.Log())
	if err != nil {
		return ""
	}
	return LastLines(string(b), n)
}

// LastLines returns the last n lines of a text.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
