package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// Store is a workspace's content-addressed store of jobs, shared by every
// sweep in the workspace:
//
//	runs/store/<job-id>/                 a finished job (a jobdir.Dir whose done.json lists its files)
//	runs/store/.work/<job-id>.<token>/   a job being run, or one that failed or stopped
//	runs/store/.claims/<job-id>/<gen>    the claim's generations (see claims.go)
//	runs/store/.quarantine/<job-id>-...  damaged entries moved aside
//	runs/store/.lock                     taken by launches (shared) and gc (exclusive)
//
// A job runs only under a claim, in the work folder named by the claim's
// token, and enters the store only by the rename of that complete folder
// (Commit), after its manifest is written: a crash at any moment leaves
// nothing that a sweep takes for finished, and of two controllers that both
// ran a job (one of them taken over while suspended), only the first rename
// lands. An entry is handed back only when its files match its manifest
// (Lookup); a damaged one is moved aside (Quarantine) and its job runs again.
type Store struct {
	Dir string
	// Owner names the controller in its claims (its run folder).
	Owner string
	// StaleAfter is how old a claim's heartbeat may be (default 2 minutes).
	StaleAfter time.Duration
	// Build is this program's provenance, recorded in the entries it
	// commits (with where each job ran, from its records).
	Build jobdir.Build

	mu      sync.Mutex
	held    map[string]*Claim
	healthy map[string]*jobdir.Manifest // entries checked by this process
	host    string
}

// OpenStore opens (and creates) the store of the workspace root.
func OpenStore(root, owner string) (*Store, error) {
	s := &Store{Dir: storeDir(root), Owner: owner, held: map[string]*Claim{}, healthy: map[string]*jobdir.Manifest{}}
	s.host, _ = os.Hostname()
	for _, d := range []string{s.Dir, s.workRoot(), s.claimRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return s, nil
}

func (s *Store) workRoot() string       { return filepath.Join(s.Dir, ".work") }
func (s *Store) claimRoot() string      { return filepath.Join(s.Dir, ".claims") }
func (s *Store) quarantineRoot() string { return filepath.Join(s.Dir, ".quarantine") }

// DataCache is the folder where jobs keep decompressed copies of data
// files (data.Source): not an entry, and safe to delete at any time.
func (s *Store) DataCache() string { return DataCache(filepath.Dir(s.Dir)) }

// DataCache is the data cache of the workspace root (Store.DataCache).
func DataCache(root string) string { return filepath.Join(storeDir(root), ".data") }

// storeDir is the store's folder in the workspace root.
func storeDir(root string) string { return filepath.Join(root, "store") }

// EntryDir is a finished job's folder.
func (s *Store) EntryDir(id string) string { return filepath.Join(s.Dir, id) }

// Entry is a finished job's folder.
func (s *Store) Entry(id string) jobdir.Dir { return jobdir.Dir(s.EntryDir(id)) }

// workDir is the folder the claim with this token works in.
func (s *Store) workDir(id, token string) jobdir.Dir {
	return jobdir.Dir(filepath.Join(s.workRoot(), id+"."+token))
}

// JobDir is where a job's files are now: its entry once finished, else the
// work folder of its latest claim (empty when it never ran).
func (s *Store) JobDir(id string) jobdir.Dir {
	if _, err := os.Stat(s.EntryDir(id)); err == nil {
		return s.Entry(id)
	}
	if _, c, _, err := s.current(id); err == nil && c != nil && c.Token != "" {
		return s.workDir(id, c.Token)
	}
	if ws := s.workFolders(id); len(ws) > 0 {
		return ws[len(ws)-1]
	}
	return s.workDir(id, "none")
}

// ErrFinished is returned by Claim when the job turned out to be in the store.
var ErrFinished = errors.New("the job is in the store already")

// ErrLost is returned by Commit when the claim was taken over by another
// controller (this one was suspended past the stale time): the work is not
// committed.
var ErrLost = errors.New("the claim was taken over by another controller")

// Lookup says whether the store holds the job finished and healthy: its
// manifest when it does; nil and no error when the store lacks it; a
// *jobdir.Damaged when the entry is there but does not match its manifest
// (or has none). Files up to jobdir.CheapHash bytes are hashed, larger ones
// checked for size (their readers hash them). A healthy entry is
// remembered for the life of the Store.
func (s *Store) Lookup(id string) (*jobdir.Manifest, error) {
	s.mu.Lock()
	m := s.healthy[id]
	s.mu.Unlock()
	if _, err := os.Stat(s.Entry(id).Manifest()); m != nil && err == nil {
		return m, nil // checked already (and still there: gc or quarantine may move it)
	}
	s.forget(id)
	if _, err := os.Stat(s.EntryDir(id)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	m, err := s.check(id, jobdir.CheapHash)
	if err != nil {
		// Confirm: gc may have rewritten the manifest under us.
		if m, err = s.check(id, jobdir.CheapHash); err != nil {
			if _, serr := os.Stat(s.EntryDir(id)); errors.Is(serr, fs.ErrNotExist) {
				return nil, nil // moved away meanwhile
			}
			return nil, err
		}
	}
	s.mu.Lock()
	s.healthy[id] = m
	s.mu.Unlock()
	return m, nil
}

// check compares an entry with its manifest, and its spec with its ID.
func (s *Store) check(id string, hashUpTo int64) (*jobdir.Manifest, error) {
	d := s.Entry(id)
	m, err := d.Check(id, hashUpTo)
	if err != nil {
		return m, err
	}
	sp, err := d.ReadSpec()
	if err != nil {
		return m, &jobdir.Damaged{Dir: d, Reason: fmt.Sprintf("its spec cannot be read: %v", err)}
	}
	if got := job.SpecID(sp); got != id {
		return m, &jobdir.Damaged{Dir: d, Reason: fmt.Sprintf("its spec hashes to %s, not to its ID", got)}
	}
	return m, nil
}

// Verify checks an entry completely: every file's hash. It does not move
// a damaged entry.
func (s *Store) Verify(id string) (*jobdir.Manifest, error) {
	return s.check(id, -1)
}

// Finished reports whether the store holds the job finished and healthy.
func (s *Store) Finished(id string) bool {
	m, err := s.Lookup(id)
	return err == nil && m != nil
}

// Holds returns the manifests of a plan's jobs that the store holds
// healthy, by job ID (a nil Store holds nothing).
func (s *Store) Holds(p *job.Plan) map[string]*jobdir.Manifest {
	out := map[string]*jobdir.Manifest{}
	if s == nil {
		return out
	}
	for _, j := range p.Jobs {
		if m, err := s.Lookup(j.ID); err == nil && m != nil {
			out[j.ID] = m
		}
	}
	return out
}

// Origin names the sweep that committed a finished job ("" when unknown).
func (s *Store) Origin(id string) string {
	if m, err := s.Lookup(id); err == nil && m != nil {
		return m.Origin.Sweep
	}
	return ""
}

// Quarantine moves a damaged entry aside (into .quarantine/, with the
// reason), so that its job runs again. The entry is checked whole once
// moved: one that is healthy after all (a fresh commit that replaced the
// damaged one meanwhile) is put back. It returns where the entry went, ""
// when there was nothing to move.
func (s *Store) Quarantine(id, reason string) (string, error) {
	s.mu.Lock()
	delete(s.healthy, id)
	s.mu.Unlock()
	if err := os.MkdirAll(s.quarantineRoot(), 0o755); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", id, err)
	}
	to := filepath.Join(s.quarantineRoot(), fmt.Sprintf("%s-%s-%s", id, time.Now().UTC().Format("20060102T150405.000"), newToken()[:6]))
	if err := os.Rename(s.EntryDir(id), to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("quarantine %s: %w", id, err)
	}
	moved := jobdir.Dir(to)
	if _, err := moved.Check(id, -1); err == nil {
		if sp, err := moved.ReadSpec(); err == nil && job.SpecID(sp) == id {
			if os.Rename(to, s.EntryDir(id)) == nil {
				return "", nil // healthy: someone committed it anew meanwhile
			}
			return "", os.RemoveAll(to) // and a newer one holds its place
		}
	}
	if err := os.WriteFile(moved.QuarantineNote(), []byte(reason+"\n"), 0o644); err != nil {
		return to, fmt.Errorf("quarantine %s: %w", id, err)
	}
	return to, nil
}

// Quarantined lists the folders in quarantine.
func (s *Store) Quarantined() ([]string, error) {
	des, err := os.ReadDir(s.quarantineRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, d := range des {
		if d.IsDir() {
			out = append(out, filepath.Join(s.quarantineRoot(), d.Name()))
		}
	}
	return out, err
}

// Commit makes a finished job a store entry: its manifest is written (every
// file with its hash, the build and where it ran), then its work folder is
// renamed into the store, and the claim released. It returns ErrLost when
// the claim was taken over (the folder is left for the new holder to
// remove), and a *jobdir.Damaged when the folder lacks what a finished job
// of its kind holds; a job another controller committed first is left as
// it is, and the work folder removed.
func (s *Store) Commit(c *Claim, seconds float64) error {
	if !s.Held(c) {
		return ErrLost
	}
	m := jobdir.Manifest{Job: c.ID, Token: c.Token, Seconds: seconds, Build: s.provenance(c.Dir),
		Origin: jobdir.Origin{Sweep: s.Owner, Host: s.host, Time: time.Now().UTC()}}
	if sp, err := c.Dir.ReadSpec(); err == nil {
		m.Kind = string(sp.Kind)
	}
	if err := c.Dir.WriteManifest(m); err != nil {
		return fmt.Errorf("commit %s: %w", c.ID, err)
	}
	if _, err := c.Dir.Check(c.ID, 0); err != nil {
		return err // incomplete (a *jobdir.Damaged): not an entry
	}
	for try := 0; ; try++ {
		err := os.Rename(c.Dir.Path(), s.EntryDir(c.ID))
		if err == nil {
			break
		}
		if _, lerr := os.Stat(s.EntryDir(c.ID)); lerr != nil || try > 0 {
			return fmt.Errorf("commit %s: %w", c.ID, err)
		}
		switch em, lerr := s.Lookup(c.ID); {
		case lerr == nil && em != nil: // committed by another controller first
			s.Release(c)
			return os.RemoveAll(c.Dir.Path())
		case lerr != nil: // a damaged entry in the way: move it aside, try again
			if _, qerr := s.Quarantine(c.ID, lerr.Error()); qerr != nil {
				return fmt.Errorf("commit %s: %w", c.ID, qerr)
			}
		}
	}
	if err := atomicfile.SyncDir(s.Dir); err != nil {
		return fmt.Errorf("commit %s: %w", c.ID, err)
	}
	s.mu.Lock()
	s.healthy[c.ID] = &m
	s.mu.Unlock()
	s.Release(c)
	_ = os.RemoveAll(s.claimDir(c.ID)) // history only; a new claim starts it again
	return nil
}

// provenance is this program's build with where the job ran, from the
// records of its attempts.
func (s *Store) provenance(d jobdir.Dir) jobdir.Build {
	b := s.Build
	var in job.RunInfo
	_ = job.ReadRecordsFile(d.Records(), in.Add)
	b.Backend, b.Device, b.Host = in.Backend, in.Devices, in.Host
	return b
}

// Entries lists the IDs of the jobs in the store (healthy or not).
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

// WorkFolders lists the work folders (of any claim) in the store.
func (s *Store) WorkFolders() ([]jobdir.Dir, error) {
	des, err := os.ReadDir(s.workRoot())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []jobdir.Dir
	for _, d := range des {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, jobdir.Dir(filepath.Join(s.workRoot(), d.Name())))
		}
	}
	return out, nil
}

// WorkFolderJob is the job ID of a work folder.
func WorkFolderJob(d jobdir.Dir) string {
	id, _, _ := strings.Cut(filepath.Base(d.Path()), ".")
	return id
}

// Spec reads the spec a job recorded in its folder.
func (s *Store) Spec(id string) (job.Spec, error) {
	return s.JobDir(id).ReadSpec()
}

// lockFile is the workspace-level lock: launches take it shared while they
// record which stored jobs they use (their plan), gc exclusive while it
// decides and removes.
func (s *Store) lockFile() string { return filepath.Join(s.Dir, ".lock") }

// LockShared takes the workspace lock shared (launches); LockExclusive
// takes it alone (gc). Both block until they have it; the returned function
// releases it. The kernel releases it when the process dies.
func (s *Store) LockShared() (func(), error)    { return s.lock(syscall.LOCK_SH) }
func (s *Store) LockExclusive() (func(), error) { return s.lock(syscall.LOCK_EX) }

func (s *Store) lock(how int) (func(), error) {
	f, err := os.OpenFile(s.lockFile(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("workspace lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("workspace lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// EntryCheck is what Verify found of one entry.
type EntryCheck struct {
	ID    string
	Bytes int64
	// Err is a *jobdir.Damaged when the entry does not match its manifest.
	Err error
}

// VerifyEntries checks entries completely (every file's hash), parallel
// ways at once. Cancelling ctx stops it between entries, with ctx's error.
func (s *Store) VerifyEntries(ctx context.Context, ids []string, parallel int) ([]EntryCheck, error) {
	out := make([]EntryCheck, len(ids))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				m, err := s.Verify(ids[i])
				out[i] = EntryCheck{ID: ids[i], Err: err}
				if m != nil {
					for _, f := range m.Files {
						out[i].Bytes += f.Size
					}
				}
			}
		}()
	}
feed:
	for i := range ids {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return out, ctx.Err()
}
