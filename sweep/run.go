package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrLocked means another controller works on the run folder.
var ErrLocked = errors.New("run folder is locked by another controller")

// Run is a run folder:
//
//	runs/<name>-<hash>/
//	  grid.yaml      the grid as given
//	  plan.json      the expanded plan
//	  journal.jsonl  append-only job state changes (the truth for resume)
//	  lock           held (flock) by the running controller
//	  jobs/<name>/   each job's spec.json, log, records.jsonl, checkpoints, result
//	  results/       Parquet tables
//	  report.md, plots/
type Run struct {
	Dir  string
	Plan *Plan
	lock *os.File
}

// RunDir is the folder a grid's run lives in under root: the grid's name and a
// hash of its plan, so that relaunching the same grid finds the same folder.
func RunDir(root string, p *Plan) string {
	h := sha256.New()
	for _, j := range p.Jobs {
		h.Write([]byte(j.ID))
	}
	return filepath.Join(root, p.Name+"-"+hex.EncodeToString(h.Sum(nil))[:8])
}

// CreateRun makes (or reopens) the run folder for a plan and locks it.
func CreateRun(dir string, gridSrc []byte, p *Plan) (*Run, error) {
	if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	r := &Run{Dir: dir, Plan: p}
	if err := r.Lock(); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "grid.yaml"), gridSrc); err != nil {
		r.Unlock()
		return nil, err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		r.Unlock()
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "plan.json"), b); err != nil {
		r.Unlock()
		return nil, err
	}
	return r, nil
}

// OpenRun reads an existing run folder without locking it.
func OpenRun(dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w (is it a run folder made by sweep launch?)", dir, err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("open run %s: plan.json: %w", dir, err)
	}
	return &Run{Dir: dir, Plan: &p}, nil
}

// Lock takes the run folder's lock; the kernel releases it when the process
// dies, even by SIGKILL.
func (r *Run) Lock() error {
	f, err := os.OpenFile(filepath.Join(r.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock run: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(f.Name())
		f.Close()
		return fmt.Errorf("%w: %s (held by pid %s); wait for it to finish or stop it first", ErrLocked, r.Dir, string(owner))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprint(os.Getpid())), 0)
	r.lock = f
	return nil
}

// Unlock releases the lock.
func (r *Run) Unlock() {
	if r.lock != nil {
		_ = r.lock.Close()
		r.lock = nil
	}
}

// JobDir is a job's folder.
func (r *Run) JobDir(j *Job) string { return filepath.Join(r.Dir, "jobs", j.Name) }

// ResultsDir holds the Parquet tables.
func (r *Run) ResultsDir() string { return filepath.Join(r.Dir, "results") }

// WriteFileAtomic writes data to a temporary file, syncs it and renames it
// over path, so that a reader sees the old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}

// LogTail returns the last n lines of a file (a job's log), or "".
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FirstLine returns the first line of s (an error message, for summaries).
func FirstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
