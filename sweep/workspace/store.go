package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// Store is a workspace's content-addressed store of jobs, shared by every
// sweep in the workspace:
//
//	runs/store/<job-id>/         a finished job: spec.json, log, records.jsonl,
//	                             checkpoints/, features.bin, results/, done.json, origin.json
//	runs/store/.work/<job-id>/   a job being run, or one that failed or stopped
//	runs/store/.claims/<job-id>  held by the controller that runs the job
//
// A job runs in its work folder and enters the store only by the rename of
// that complete folder (Commit), so a crash at any moment leaves nothing that
// a sweep takes for finished. A controller claims a job before it runs it;
// another controller waits for the claim to end; a claim whose controller is
// gone (its process dead on this host, or its heartbeat older than
// StaleAfter) is taken over.
type Store struct {
	Dir string
	// Owner names the controller in its claims (its run folder).
	Owner string
	// StaleAfter is how old a claim's heartbeat may be (default 2 minutes).
	StaleAfter time.Duration

	mu   sync.Mutex
	held map[string]bool
	host string
}

// OpenStore opens (and creates) the store of the workspace root.
func OpenStore(root, owner string) (*Store, error) {
	s := &Store{Dir: filepath.Join(root, "store"), Owner: owner, held: map[string]bool{}}
	s.host, _ = os.Hostname()
	for _, d := range []string{s.Dir, s.workRoot(), s.claimRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return s, nil
}

func (s *Store) workRoot() string  { return filepath.Join(s.Dir, ".work") }
func (s *Store) claimRoot() string { return filepath.Join(s.Dir, ".claims") }

// EntryDir is a finished job's folder.
func (s *Store) EntryDir(id string) string { return filepath.Join(s.Dir, id) }

// WorkDir is the folder a job runs in until it is committed.
func (s *Store) WorkDir(id string) string { return filepath.Join(s.workRoot(), id) }

// JobDir is where a job's files are now: its entry once finished, its work
// folder before.
func (s *Store) JobDir(id string) string {
	if s.Finished(id) {
		return s.EntryDir(id)
	}
	return s.WorkDir(id)
}

// Finished reports whether the store holds the job finished.
func (s *Store) Finished(id string) bool { return JobFinished(s.EntryDir(id)) }

// Origin is recorded in each entry: which sweep ran the job, and when.
type Origin struct {
	Sweep string    `json:"sweep"`
	Host  string    `json:"host"`
	Time  time.Time `json:"time"`
}

// OriginOf returns who ran a finished job.
func (s *Store) OriginOf(id string) (Origin, error) {
	var o Origin
	b, err := os.ReadFile(filepath.Join(s.EntryDir(id), "origin.json"))
	if err != nil {
		return o, err
	}
	return o, json.Unmarshal(b, &o)
}

// WriteOrigin records in a job's folder who ran it.
func WriteOrigin(dir string, o Origin) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "origin.json"), b)
}

// Origin names the sweep that ran a finished job ("" when unknown).
func (s *Store) Origin(id string) string {
	o, _ := s.OriginOf(id)
	return o.Sweep
}

// Commit moves a finished job's work folder into the store: one rename of
// the complete folder. A job another controller committed meanwhile is
// left as it is.
func (s *Store) Commit(id string) error {
	work := s.WorkDir(id)
	if !JobFinished(work) {
		return fmt.Errorf("commit %s: the job did not finish (no %s)", id, DoneMarker)
	}
	if err := WriteOrigin(work, Origin{Sweep: s.Owner, Host: s.host, Time: time.Now().UTC()}); err != nil {
		return fmt.Errorf("commit %s: %w", id, err)
	}
	if err := os.Rename(work, s.EntryDir(id)); err != nil {
		if s.Finished(id) { // committed by another controller
			s.Release(id)
			return os.RemoveAll(work)
		}
		return fmt.Errorf("commit %s: %w", id, err)
	}
	if err := atomicfile.SyncDir(s.Dir); err != nil {
		return fmt.Errorf("commit %s: %w", id, err)
	}
	s.Release(id)
	return nil
}

// claim is what a claim file holds.
type claim struct {
	Owner string    `json:"owner"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Time  time.Time `json:"time"`
}

func (s *Store) claimPath(id string) string { return filepath.Join(s.claimRoot(), id) }

// Claim claims a job for this controller. It returns false, with the
// holder, when another live controller holds the job; a stale claim is
// taken over.
func (s *Store) Claim(id string) (ok bool, holder string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[id] {
		return true, s.Owner, nil
	}
	path := s.claimPath(id)
	for try := 0; try < 2; try++ {
		if err := s.create(path); err == nil {
			s.held[id] = true
			return true, s.Owner, nil
		} else if !errors.Is(err, os.ErrExist) {
			return false, "", fmt.Errorf("claim %s: %w", id, err)
		}
		c, stale := s.inspect(path)
		if !stale {
			return false, c.Owner, nil
		}
		// Take the stale claim over: only one controller's rename of it
		// succeeds; the others find it gone and look again later.
		tomb := fmt.Sprintf("%s.stale-%d-%d", path, os.Getpid(), time.Now().UnixNano())
		if err := os.Rename(path, tomb); err != nil {
			return false, c.Owner, nil
		}
		_ = os.Remove(tomb)
	}
	return false, "", nil
}

func (s *Store) create(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(claim{Owner: s.Owner, Host: s.host, PID: os.Getpid(), Time: time.Now().UTC()})
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
	}
	return werr
}

// inspect reads a claim and says whether it is stale: its process is gone
// (on this host), or its heartbeat is too old.
func (s *Store) inspect(path string) (claim, bool) {
	var c claim
	st, err := os.Stat(path)
	if err != nil {
		return c, false // gone already: not ours to take
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &c) != nil {
		// Being written, or torn by a crash: stale only once old.
		return c, time.Since(st.ModTime()) > s.staleAfter()
	}
	if c.Host == s.host && !alive(c.PID) {
		return c, true
	}
	return c, time.Since(st.ModTime()) > s.staleAfter()
}

func (s *Store) staleAfter() time.Duration {
	if s.StaleAfter > 0 {
		return s.StaleAfter
	}
	return 2 * time.Minute
}

// alive reports whether a process runs (a zombie does not).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) == 0 || f[0] != "Z"
}

// Release drops this controller's claim of a job.
func (s *Store) Release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[id] {
		delete(s.held, id)
		_ = os.Remove(s.claimPath(id))
	}
}

// ReleaseAll drops every claim this controller holds.
func (s *Store) ReleaseAll() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.held))
	for id := range s.held {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.Release(id)
	}
}

// KeepAlive refreshes the heartbeat of this controller's claims every
// interval until the returned function is called.
func (s *Store) KeepAlive(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				now := time.Now()
				s.mu.Lock()
				for id := range s.held {
					_ = os.Chtimes(s.claimPath(id), now, now)
				}
				s.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// Claimed reports whether a live controller holds a claim on a job.
func (s *Store) Claimed(id string) (string, bool) {
	c, stale := s.inspect(s.claimPath(id))
	if _, err := os.Stat(s.claimPath(id)); err != nil || stale {
		return "", false
	}
	return c.Owner, true
}

// Entries lists the IDs of the finished jobs.
func (s *Store) Entries() ([]string, error) {
	des, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range des {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, d.Name())
		}
	}
	return out, nil
}

// Spec reads the spec a job recorded in its folder.
func (s *Store) Spec(id string) (job.Spec, error) {
	var sp job.Spec
	b, err := os.ReadFile(filepath.Join(s.JobDir(id), "spec.json"))
	if err != nil {
		return sp, err
	}
	return sp, json.Unmarshal(b, &sp)
}
