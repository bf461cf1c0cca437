package jobdir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// Task is what the controller asks of one attempt of a job, written into
// its folder before the job process starts (`sweep job run FOLDER`): the
// job process needs nothing else, neither the grid nor the run folder.
type Task struct {
	Job     job.Job `json:"job"`
	Attempt int     `json:"attempt"`
	// Inputs are the folders of the finished jobs it reads (its
	// dependencies' store entries), by job ID.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Backend is the GoMLX backend setting ("auto", "go", "xla:cuda", ...)
	// of pretraining and feature extraction.
	Backend string `json:"backend,omitempty"`
	// DataDir is the only folder data sets are read from ("": the system
	// folders).
	DataDir string `json:"data_dir,omitempty"`
	// DataCache is a folder for decompressed copies of data files, shared
	// by the jobs of a workspace ("": none; data.Source).
	DataCache string `json:"data_cache,omitempty"`
	// Beat is how often the job says it is alive.
	Beat time.Duration `json:"beat"`
	// Build is the controller's program; the job reports its own.
	Build Build `json:"build"`
}

// WriteTask writes the task file atomically.
func (d Dir) WriteTask(t Task) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.Task(), b)
}

// ReadTask reads the task file.
func (d Dir) ReadTask() (Task, error) {
	var t Task
	b, err := os.ReadFile(d.Task())
	if err != nil {
		return t, fmt.Errorf("read task: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("read task %s: %w", d.Task(), err)
	}
	return t, nil
}

// WriteSpec writes the job's spec (spec.json) atomically.
func (d Dir) WriteSpec(s job.Spec) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.Spec(), b)
}

// ReadSpec reads the job's spec.
func (d Dir) ReadSpec() (job.Spec, error) {
	var s job.Spec
	b, err := os.ReadFile(d.Spec())
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Verdict is the controller's word on one attempt of a job: how it ended,
// and when. Written once the attempt ended, it is, with the attempt's
// records, what its result rows are made from.
type Verdict struct {
	Attempt int       `json:"attempt"`
	State   job.State `json:"state"`
	Error   string    `json:"error,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Host is the controller's.
	Host string `json:"host,omitempty"`
}

// AppendVerdict appends a verdict to attempts.jsonl and syncs it.
func (d Dir) AppendVerdict(v Verdict) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.Attempts(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("attempts: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("attempts: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("attempts: %w", err)
	}
	return f.Close()
}

// ReadVerdicts reads attempts.jsonl (a torn line is skipped); the last
// verdict of an attempt counts.
func (d Dir) ReadVerdicts() (map[int]Verdict, error) {
	out := map[int]Verdict{}
	f, err := os.Open(d.Attempts())
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v Verdict
		if json.Unmarshal(sc.Bytes(), &v) == nil && v.Attempt > 0 {
			out[v.Attempt] = v
		}
	}
	return out, sc.Err()
}

// Progress is what a folder says of its attempts.
type Progress struct {
	// Last is the highest attempt with a record or a verdict (0: none).
	Last int
	// Succeeded: the last attempt wrote its done record, so its outputs
	// are whole; it needs no rerun, only its results and its commit.
	Succeeded bool
	// Verdict is the last attempt's verdict, if the controller wrote one.
	Verdict *Verdict
}

// ReadProgress reads a folder's records and verdicts.
func (d Dir) ReadProgress() (Progress, error) {
	var p Progress
	done := map[int]bool{}
	if err := job.ReadRecordsFile(d.Records(), func(r job.Record) {
		p.Last = max(p.Last, r.Attempt)
		if r.Type == job.RecDone {
			done[r.Attempt] = true
		}
	}); err != nil {
		return p, err
	}
	vs, err := d.ReadVerdicts()
	if err != nil {
		return p, err
	}
	for a := range vs {
		p.Last = max(p.Last, a)
	}
	if v, ok := vs[p.Last]; ok {
		p.Verdict = &v
	}
	p.Succeeded = p.Last > 0 && done[p.Last] && (p.Verdict == nil || p.Verdict.State == job.StateDone)
	return p, nil
}

// CarryOver fills the folder to with what a new holder of the job keeps of
// the folder from: the append-only files are copied, every other file
// (checkpoints, features: never changed once written) is hard-linked, and
// what each attempt writes anew (the task, the result parts, the manifest)
// is left behind. Whoever still writes in from never touches to.
func CarryOver(from, to Dir) error {
	return filepath.WalkDir(string(from), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk: not a whole file anyway
			}
			return err
		}
		rel, err := from.Rel(path)
		if err != nil {
			return err
		}
		if rel == "." {
			return os.MkdirAll(string(to), 0o755)
		}
		if strings.HasPrefix(e.Name(), ".") || rebuilt(rel) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		dst := to.Abs(rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(dst, 0o755)
		case !e.Type().IsRegular():
			return nil
		case from.appendOnly(rel):
			return copyFile(path, dst)
		}
		if err := os.Link(path, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return copyFile(path, dst) // a file system without hard links
		}
		return nil
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
