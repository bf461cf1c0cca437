// Package workspace is where sweeps live on disk. A workspace (the --runs
// folder) holds a store of jobs that every sweep in it shares, and one run
// folder per sweep (its grid, plan, journal, lock, results and report) that
// refers to its jobs in the store. It owns every path, so that the
// controller, the executors and the commands agree on them.
package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/results"
)

// ErrLocked means another controller works on the run folder.
var ErrLocked = errors.New("run folder is locked by another controller")

// Run is a run folder, a view of a sweep's jobs in the store:
//
//	runs/<name>-<hash>/
//	  grid.yaml      the grid as given
//	  plan.json      the expanded plan (job IDs are store keys)
//	  journal.jsonl  append-only job state changes of this sweep
//	  lock           held (flock) by the running controller
//	  jobs/<name>    a link to each finished job's folder in the store
//	  results/       Parquet tables of the sweep's jobs (reused ones included)
//	  report.md, plots/
type Run struct {
	Dir   string
	Plan  *job.Plan
	Store *Store
	lock  *os.File
}

// RunDir is the folder a grid's run lives in under root: the grid's name and a
// hash of its plan, so that relaunching the same grid finds the same folder.
// A sequential sweep's is named by its first round's plan and its design,
// and keeps its folder as its plan grows.
func RunDir(root string, p *job.Plan) string {
	h := sha256.New()
	for _, j := range p.Jobs {
		h.Write([]byte(j.ID))
	}
	if d := p.Settings; d != nil && d.Decide.Max > 0 {
		fmt.Fprintf(h, "sequential %d-%d on %v margin %g", d.Decide.Min, d.Decide.Max, d.Decide.On, d.Decide.Margin)
	}
	return filepath.Join(root, p.Name+"-"+hex.EncodeToString(h.Sum(nil))[:8])
}

// CreateRun makes (or reopens) the run folder for a plan and locks it. The
// grid and the plan are written only when they differ from what the folder
// holds, so that relaunching a finished sweep rewrites nothing. The plan is
// what tells gc which stored jobs the sweep uses: it is written under the
// workspace's lock, shared, which gc takes alone when it decides.
func CreateRun(dir string, gridSrc []byte, p *job.Plan) (*Run, error) {
	st, err := OpenStore(filepath.Dir(dir), filepath.Base(dir))
	if err != nil {
		return nil, err
	}
	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	r := &Run{Dir: dir, Plan: p, Store: st}
	if err := r.Lock(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		r.Unlock()
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"grid.yaml", gridSrc}, {"plan.json", b}} {
		if err := writeIfChanged(filepath.Join(dir, f.name), f.data); err != nil {
			r.Unlock()
			return nil, err
		}
	}
	return r, nil
}

// SetPlan replaces the run's plan (a sequential sweep's, grown by a
// round), under the workspace's lock as CreateRun writes it, so that gc
// never takes the new plan's stored jobs for unused.
func (r *Run) SetPlan(p *job.Plan) error {
	unlock, err := r.Store.LockShared()
	if err != nil {
		return err
	}
	defer unlock()
	if err := WritePlan(r.Dir, p); err != nil {
		return err
	}
	r.Plan = p
	return nil
}

// WritePlan replaces a run folder's plan.json.
func WritePlan(dir string, p *job.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, "plan.json"), b)
}

// writeIfChanged writes data atomically unless path already holds it.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	return atomicfile.Write(path, data)
}

// OpenRun reads an existing run folder without locking it.
func OpenRun(dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w (is it a run folder made by sweep launch?)", dir, err)
	}
	var p job.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("open run %s: plan.json: %w", dir, err)
	}
	st, err := OpenStore(filepath.Dir(dir), filepath.Base(dir))
	if err != nil {
		return nil, err
	}
	return &Run{Dir: dir, Plan: &p, Store: st}, nil
}

// Lock takes the run folder's lock; the kernel releases it when the process
// dies, even by SIGKILL.
func (r *Run) Lock() error {
	path := filepath.Join(r.Dir, "lock")
	var f *os.File
	for {
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644); err != nil {
			return fmt.Errorf("lock run: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			owner, _ := os.ReadFile(path)
			f.Close()
			return fmt.Errorf("%w: %s (held by pid %s); wait for it to finish or stop it first", ErrLocked, r.Dir, strings.TrimSpace(string(owner)))
		}
		// The holder before us removes the file as it unlocks: a lock on a
		// file that is no longer at the path locks nothing.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			break
		}
		f.Close()
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprint(os.Getpid())), 0) // informative only: the flock is the lock
	}
	r.lock = f
	return nil
}

// Locked reports whether a controller holds the run folder now.
func (r *Run) Locked() bool {
	f, err := os.Open(filepath.Join(r.Dir, "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Unlock releases the lock and removes the lock file.
func (r *Run) Unlock() {
	if r.lock != nil {
		_ = os.Remove(r.lock.Name()) // before the close: nobody else holds it now
		_ = r.lock.Close()
		r.lock = nil
	}
}

// JobDir is a job's folder in the store: its entry once finished, the work
// folder of its latest claim before.
func (r *Run) JobDir(j *job.Job) jobdir.Dir { return r.Store.JobDir(j.ID) }

// LinkJobs links the run's finished jobs into its jobs/ folder (jobs/<name>
// -> the store entry), for people who browse the run folder. Links that
// exist are left alone.
func (r *Run) LinkJobs() error {
	dir := filepath.Join(r.Dir, "jobs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, j := range r.Plan.Jobs {
		link := filepath.Join(dir, j.Name)
		if !r.Store.Finished(j.ID) {
			continue
		}
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		target, err := filepath.Rel(dir, r.Store.EntryDir(j.ID))
		if err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link job %s: %w", j.Name, err)
		}
	}
	return nil
}

// ResultsDir holds the Parquet tables.
func (r *Run) ResultsDir() string { return filepath.Join(r.Dir, "results") }

// Tables reads the run's results from its jobs' folders in the store: every
// attempt of every job of its plan, reused jobs included.
func (r *Run) Tables() (*results.Tables, error) {
	dirs := make([]string, len(r.Plan.Jobs))
	for i, j := range r.Plan.Jobs {
		dirs[i] = r.JobDir(j).Results()
	}
	return results.Gather(dirs)
}

// Published reports whether the run folder holds its report and links
// every finished job of its plan: nothing new to write.
func (r *Run) Published() bool {
	if _, err := os.Stat(filepath.Join(r.Dir, "report.md")); err != nil {
		return false
	}
	for _, j := range r.Plan.Jobs {
		if _, err := os.Lstat(filepath.Join(r.Dir, "jobs", j.Name)); err != nil && r.Store.Finished(j.ID) {
			return false
		}
	}
	return true
}

// DiskFullMessage says which folder is full, how much the rest of the sweep
// needs (from the sizes of its finished jobs of each kind), and that
// relaunching resumes.
func (r *Run) DiskFullMessage() string {
	sum, n := map[job.Kind]int64{}, map[job.Kind]int64{}
	left := map[job.Kind]int{}
	for _, j := range r.Plan.Jobs {
		if !r.Store.Finished(j.ID) {
			left[j.Spec.Kind]++
			continue
		}
		sum[j.Spec.Kind] += r.Store.Entry(j.ID).Size()
		n[j.Spec.Kind]++
	}
	var b strings.Builder
	abs, _ := filepath.Abs(r.Store.Dir)
	fmt.Fprintf(&b, "\nThe disk (or quota) of %s is full: the sweep stopped, and no job was counted as failed.\n", abs)
	var total int64
	unknown := false
	for _, k := range slices.Sorted(maps.Keys(left)) {
		if n[k] > 0 {
			size := sum[k] / n[k]
			fmt.Fprintf(&b, "  %-9s %4d jobs left x %s each (mean of finished ones)\n", k, left[k], BytesText(size))
			total += size * int64(left[k])
		} else {
			fmt.Fprintf(&b, "  %-9s %4d jobs left (none finished yet to measure)\n", k, left[k])
			unknown = true
		}
	}
	switch {
	case unknown && total == 0:
		b.WriteString("No job of these kinds has finished yet to measure what they need.\n")
	case unknown:
		fmt.Fprintf(&b, "The rest of the sweep needs at least %s, plus the kinds not yet measured.\n", BytesText(total))
	default:
		fmt.Fprintf(&b, "The rest of the sweep needs about %s.\n", BytesText(total))
	}
	b.WriteString("Make room (or give --runs a bigger disk), then run the same command again: it resumes where it stopped.")
	return b.String()
}

// BytesText is a size for people: KiB, MiB or GiB.
func BytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

// TaskSettings are what every job process of a run is told besides its job.
type TaskSettings struct {
	// Backend is the grid's GoMLX backend setting.
	Backend string
	// DataDir is the only folder data sets are read from ("": the system ones).
	DataDir string
	// DataCache is the folder for decompressed copies of data files (the
	// store's, Store.DataCache).
	DataCache string
	// Beat is how often a job says it is alive.
	Beat time.Duration
}

// WriteTask writes what a job process needs into the job's work folder
// before it starts: its task (the job, the attempt, the store entries of
// the jobs it reads, the settings, this program's build) and its spec.
func (r *Run) WriteTask(dir jobdir.Dir, j *job.Job, attempt int, s TaskSettings) error {
	inputs := map[string]string{}
	for _, d := range j.Deps {
		inputs[d] = r.Store.EntryDir(d)
	}
	if err := dir.WriteSpec(j.Spec); err != nil {
		return err
	}
	return dir.WriteTask(jobdir.Task{Job: *j, Attempt: attempt, Inputs: inputs, Backend: s.Backend, DataDir: s.DataDir, DataCache: s.DataCache, Beat: s.Beat, Build: r.Store.Build})
}
