package workspace

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// Claims are fenced by generation. A job's claim is a folder of small
// immutable files, .claims/<job-id>/<generation>, each saying who holds the
// job from that generation on (its token, owner, host and process), or that
// its holder released it. The holder is whoever created the highest
// generation; its heartbeat is that file's modification time.
//
// To claim, a controller reads the highest generation g and, when it is
// released, or stale (its process gone on this host, or its heartbeat older
// than StaleAfter), creates generation g+1. The file is written whole under
// a temporary name and link(2)ed to its generation's name: link never
// replaces an existing name, so of any number of contenders exactly one
// creates g+1, and no file is ever renamed or removed at a name another
// might just have created, so a fresh claim cannot be taken (the rename of
// a stale claim file, which this replaces, could rename away a claim
// another controller had just made). link is atomic on local file systems
// and on NFS (v2 and later), where Slurm users keep workspaces; a link
// whose reply was lost over NFS is recognised by the temporary file's link
// count, as in the classic NFS lock recipe. flock was rejected: a suspended
// holder keeps its lock, so a stale claim could never be taken over, and
// on NFS its recovery after a client crash depends on the server's leases.
//
// A holder's work happens in the folder named by its token; a controller
// that takes over from another owner makes a new token, and carries the
// old folder's checkpoints and records over (hard links and copies) instead
// of working in it, so that a holder that was only suspended, and resumes,
// never shares a folder with the one that took over. It finds out that it
// lost the job at its next check (Held), and Commit refuses it. A
// controller relaunched on the same run folder (the run's lock proves its
// predecessor dead) keeps the token and works on in the same folder, as
// does whoever claims a job its holder released.
type Claim struct {
	ID    string
	Gen   int
	Token string
	// Dir is the work folder of the claim.
	Dir jobdir.Dir
	// Progress is what the folder held when the job was claimed: a job whose
	// last attempt succeeded needs only its results and its commit.
	Progress jobdir.Progress
}

// HeldError says that another live controller holds the claim.
type HeldError struct{ Holder string }

func (e *HeldError) Error() string { return "claimed by " + e.Holder }

type claimRecord struct {
	Token    string    `json:"token"`
	Owner    string    `json:"owner"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Time     time.Time `json:"time"`
	Released bool      `json:"released,omitempty"`
}

func (s *Store) claimDir(id string) string { return filepath.Join(s.claimRoot(), id) }
func (s *Store) genPath(id string, g int) string {
	return filepath.Join(s.claimDir(id), fmt.Sprintf("%010d", g))
}

// current returns a job's highest claim generation (0: never claimed), its
// record and its heartbeat.
func (s *Store) current(id string) (int, *claimRecord, time.Time, error) {
	for try := 0; ; try++ {
		des, err := os.ReadDir(s.claimDir(id))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil, time.Time{}, nil
		}
		if err != nil {
			return 0, nil, time.Time{}, fmt.Errorf("claims of %s: %w", id, err)
		}
		gen := 0
		for _, d := range des {
			if g, err := strconv.Atoi(d.Name()); err == nil && g > gen {
				gen = g
			}
		}
		if gen == 0 {
			return 0, nil, time.Time{}, nil
		}
		st, err := os.Stat(s.genPath(id, gen))
		b, rerr := os.ReadFile(s.genPath(id, gen))
		if err != nil || rerr != nil {
			if try < 3 {
				continue // the claim folder was removed after a commit
			}
			return 0, nil, time.Time{}, fmt.Errorf("claims of %s: %w", id, errors.Join(err, rerr))
		}
		var rec claimRecord
		if json.Unmarshal(b, &rec) != nil {
			rec = claimRecord{} // not one of ours: stale once its heartbeat is old
		}
		return gen, &rec, st.ModTime(), nil
	}
}

func (s *Store) staleAfter() time.Duration {
	if s.StaleAfter > 0 {
		return s.StaleAfter
	}
	return 2 * time.Minute
}

// stale reports a claim whose holder is gone: its process is dead (on this
// host), or its heartbeat is too old.
func (s *Store) stale(rec *claimRecord, beat time.Time) bool {
	if rec.Host == s.host && rec.PID > 0 && !alive(rec.PID) {
		return true
	}
	return time.Since(beat) > s.staleAfter()
}

// create makes generation g of a job's claim, whole; false when another
// controller made it first.
func (s *Store) create(id string, g int, rec claimRecord) (bool, error) {
	dir := s.claimDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s-%d-%d", rec.Token, os.Getpid(), time.Now().UnixNano()))
	if err := writeSynced(tmp, b); err != nil {
		os.Remove(tmp)
		return false, err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, s.genPath(id, g))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	// Over NFS a link whose reply was lost reports an error although it was
	// made: then the temporary file has two names.
	if st, serr := os.Stat(tmp); serr == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink == 2 {
			return true, nil
		}
	}
	return false, err
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// prune removes the generations below keep: history nobody reads.
func (s *Store) prune(id string, keep int) {
	des, _ := os.ReadDir(s.claimDir(id))
	for _, d := range des {
		if g, err := strconv.Atoi(d.Name()); err == nil && g < keep {
			_ = os.Remove(filepath.Join(s.claimDir(id), d.Name()))
		}
	}
}

// Claim claims a job for this controller and readies its work folder. It
// returns a *HeldError when another live controller holds the job, and
// ErrFinished when the job turned out to be in the store (committed by
// another controller while this one looked).
func (s *Store) Claim(id string) (*Claim, error) {
	s.mu.Lock()
	if c := s.held[id]; c != nil {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	for try := 0; try < 8; try++ {
		gen, cur, beat, err := s.current(id)
		if err != nil {
			return nil, err
		}
		token := newToken()
		if cur != nil {
			if !cur.Released && !s.stale(cur, beat) {
				return nil, &HeldError{Holder: cur.Owner}
			}
			// A released job's folder is nobody's; a stale claim of this
			// run folder's was its dead predecessor's (the run lock says so).
			if cur.Token != "" && (cur.Released || cur.Owner == s.Owner) {
				token = cur.Token
			}
		}
		won, err := s.create(id, gen+1, claimRecord{Token: token, Owner: s.Owner, Host: s.host, PID: os.Getpid(), Time: time.Now().UTC()})
		if errors.Is(err, fs.ErrNotExist) {
			continue // the claim folder was removed under us (a commit): look again
		}
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", id, err)
		}
		if !won {
			continue
		}
		if g, _, _, err := s.current(id); err != nil || g != gen+1 {
			continue // a later generation was made: ours never counted
		}
		s.prune(id, gen+1)
		c := &Claim{ID: id, Gen: gen + 1, Token: token, Dir: s.workDir(id, token)}
		s.mu.Lock()
		s.held[id] = c
		s.mu.Unlock()
		if m, err := s.Lookup(id); err == nil && m != nil {
			s.Release(c)
			return nil, ErrFinished
		}
		if err := s.ready(c); err != nil {
			s.Release(c)
			return nil, fmt.Errorf("claim %s: %w", id, err)
		}
		return c, nil
	}
	return nil, &HeldError{Holder: "another controller (contended)"}
}

// ready makes the claim's work folder: the one it holds already, or a new
// one carrying over what the most advanced folder of an earlier holder
// holds. The other folders of the job (of holders whose claims were taken
// over) are removed.
func (s *Store) ready(c *Claim) error {
	others := s.workFolders(c.ID)
	others = slicesDelete(others, c.Dir)
	if _, err := os.Stat(c.Dir.Path()); errors.Is(err, fs.ErrNotExist) {
		if best := mostAdvanced(others); best != "" {
			staging := jobdir.Dir(filepath.Join(s.workRoot(), "."+c.ID+"."+c.Token+".carry"))
			if err := os.RemoveAll(staging.Path()); err != nil {
				return err
			}
			if err := jobdir.CarryOver(best, staging); err != nil {
				return fmt.Errorf("carry over %s: %w", best, err)
			}
			if err := os.Rename(staging.Path(), c.Dir.Path()); err != nil {
				return err
			}
		} else if err := os.MkdirAll(c.Dir.Path(), 0o755); err != nil {
			return err
		}
	}
	for _, o := range others {
		_ = os.RemoveAll(o.Path()) // a fenced holder's; it may still write there
	}
	var err error
	c.Progress, err = c.Dir.ReadProgress()
	return err
}

func slicesDelete(ds []jobdir.Dir, d jobdir.Dir) []jobdir.Dir {
	out := ds[:0]
	for _, x := range ds {
		if x != d {
			out = append(out, x)
		}
	}
	return out
}

// workFolders lists a job's work folders, oldest first (by modification).
func (s *Store) workFolders(id string) []jobdir.Dir {
	var out []jobdir.Dir
	des, _ := os.ReadDir(s.workRoot())
	type dated struct {
		d jobdir.Dir
		t time.Time
	}
	var ds []dated
	for _, e := range des {
		n := e.Name()
		if !e.IsDir() || (n != id && !strings.HasPrefix(n, id+".")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		ds = append(ds, dated{jobdir.Dir(filepath.Join(s.workRoot(), n)), info.ModTime()})
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].t.Before(ds[j].t) })
	for _, d := range ds {
		out = append(out, d.d)
	}
	return out
}

// mostAdvanced is the folder whose attempts went furthest (the newest on a tie).
func mostAdvanced(ds []jobdir.Dir) jobdir.Dir {
	var best jobdir.Dir
	bestLast := -1
	for _, d := range ds {
		p, err := d.ReadProgress()
		if err != nil {
			continue
		}
		if p.Last >= bestLast {
			best, bestLast = d, p.Last
		}
	}
	return best
}

// Held reports whether the claim is still this controller's: no later
// generation took it over.
func (s *Store) Held(c *Claim) bool {
	g, cur, _, err := s.current(c.ID)
	return err == nil && g == c.Gen && cur != nil && cur.Token == c.Token && !cur.Released
}

// Abandon removes the work folder of a claim that was taken over, once its
// attempt has ended: the new holder removed it when it took over, but the
// fenced attempt may have written there since. A folder that the current
// claim holds (its token carried over to the same run) is left alone.
func (s *Store) Abandon(c *Claim) error {
	s.mu.Lock()
	if s.held[c.ID] == c {
		delete(s.held, c.ID)
	}
	s.mu.Unlock()
	if _, cur, _, err := s.current(c.ID); err != nil || (cur != nil && cur.Token == c.Token) {
		return err
	}
	return os.RemoveAll(c.Dir.Path())
}

// Release drops a claim this controller holds (the job failed, stopped or
// was committed): a released generation after it. A claim taken over is
// left to its new holder.
func (s *Store) Release(c *Claim) {
	s.mu.Lock()
	if s.held[c.ID] == c {
		delete(s.held, c.ID)
	}
	s.mu.Unlock()
	if !s.Held(c) {
		return
	}
	rec := claimRecord{Token: c.Token, Owner: s.Owner, Host: s.host, PID: os.Getpid(), Time: time.Now().UTC(), Released: true}
	if won, _ := s.create(c.ID, c.Gen+1, rec); won {
		s.prune(c.ID, c.Gen+1)
	}
}

// ReleaseAll drops every claim this controller holds.
func (s *Store) ReleaseAll() {
	s.mu.Lock()
	cs := make([]*Claim, 0, len(s.held))
	for _, c := range s.held {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		s.Release(c)
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
				for _, c := range s.held {
					_ = os.Chtimes(s.genPath(c.ID, c.Gen), now, now)
				}
				s.mu.Unlock()
			}
		}
	}()
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			close(done)
		}
	}
}

// Claimed reports whether a live controller holds a claim on a job, and which.
func (s *Store) Claimed(id string) (string, bool) {
	_, cur, beat, err := s.current(id)
	if err != nil || cur == nil || cur.Released || s.stale(cur, beat) {
		return "", false
	}
	return cur.Owner, true
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
