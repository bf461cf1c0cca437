package workspace

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

func TestMain(m *testing.M) {
	if os.Getenv("WS_CLAIMER") != "" {
		os.Exit(claimer())
	}
	os.Exit(m.Run())
}

// staleClaim writes generation 1 of a job's claim as a dead process's.
func staleClaim(t testing.TB, s *Store, id string) {
	t.Helper()
	rec := claimRecord{Token: "dead", Owner: "sweep-dead", Host: s.host, PID: 999999999, Time: time.Now().UTC()}
	if ok, err := s.create(id, 1, rec); !ok || err != nil {
		t.Fatalf("stale claim of %s: %v %v", id, ok, err)
	}
}

// finish makes a claim's work folder hold a finished job with spec sp.
func finish(t testing.TB, c *Claim, sp job.Spec) {
	t.Helper()
	d := c.Dir
	if err := d.WriteSpec(sp); err != nil {
		t.Fatal(err)
	}
	jobs, metrics := jobdir.PartFiles(d.Results(), c.ID, 1)
	os.MkdirAll(filepath.Dir(jobs), 0o755)
	for _, f := range []string{jobs, metrics, d.Records()} {
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func probeSpec(seed int) (job.Spec, string) {
	sp := job.Spec{Kind: job.KindKNN, Dataset: "fashion-mnist", Method: job.MethodSolo, Seed: seed}
	return sp, job.SpecID(sp)
}

// Claims: one controller at a time; a claim of a dead process (on this
// host) or with an old heartbeat is taken over; Release and the heartbeat
// act on the holder's own generation only; a commit is one rename of a
// complete work folder, with its manifest.
func TestStoreClaimsAndCommits(t *testing.T) {
	root := t.TempDir()
	a, err := OpenStore(root, "sweep-a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := OpenStore(root, "sweep-b")
	sp, id := probeSpec(1)
	ca, err := a.Claim(id)
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	var held *HeldError
	if _, err := b.Claim(id); !errors.As(err, &held) || held.Holder != "sweep-a" {
		t.Fatalf("a held claim was taken: %v", err)
	}
	// A claim whose process is gone is stale.
	staleClaim(t, a, "j2")
	if _, err := b.Claim("j2"); err != nil {
		t.Errorf("the claim of a dead process was not taken over: %v", err)
	}
	// A claim from another host counts until its heartbeat is old.
	far := claimRecord{Token: "far", Owner: "sweep-y", Host: "elsewhere", PID: 1}
	a.create("j3", 1, far)
	if _, err := b.Claim("j3"); !errors.As(err, &held) {
		t.Error("a live claim from another host was taken")
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(a.genPath("j3", 1), old, old)
	if _, err := b.Claim("j3"); err != nil {
		t.Errorf("a claim with an hour-old heartbeat was not taken over: %v", err)
	}
	// The heartbeat keeps a's claim fresh.
	os.Chtimes(a.genPath(id, ca.Gen), old, old)
	stop := a.KeepAlive(10 * time.Millisecond)
	waitUntil(t, func() bool { st, _ := os.Stat(a.genPath(id, ca.Gen)); return time.Since(st.ModTime()) < time.Minute })
	stop()
	// Commit: the manifest, one rename, the claim released.
	finish(t, ca, sp)
	if err := a.Commit(ca, 1.5); err != nil {
		t.Fatal(err)
	}
	if !a.Finished(id) || a.Origin(id) != "sweep-a" {
		t.Errorf("finished %v, origin %q", a.Finished(id), a.Origin(id))
	}
	if _, ok := a.Claimed(id); ok {
		t.Error("the claim outlived the commit")
	}
	if _, err := os.Stat(ca.Dir.Path()); err == nil {
		t.Error("the work folder is still there")
	}
	if m, err := b.Lookup(id); err != nil || m == nil || m.Seconds != 1.5 || len(m.Files) != 4 {
		t.Errorf("another store sees %+v, %v", m, err)
	}
	// A claim of a job that is committed by now says so.
	if _, err := b.Claim(id); !errors.Is(err, ErrFinished) {
		t.Errorf("claim of a stored job: %v", err)
	}
}

// A controller taken over (its heartbeat stale) loses: Held says so, its
// Release leaves the new holder's claim alone, its Commit is refused, and
// the new holder works in a folder of its own that carries the old one's
// checkpoints and records over.
func TestTakenOverHolderLosesCleanly(t *testing.T) {
	root := t.TempDir()
	a, _ := OpenStore(root, "sweep-a")
	b, _ := OpenStore(root, "sweep-b")
	b.host = "other-host" // a's claim is judged by its heartbeat only
	sp, id := probeSpec(2)
	ca, err := a.Claim(id)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(ca.Dir.Checkpoints(), 0o755)
	os.WriteFile(filepath.Join(ca.Dir.Checkpoints(), "checkpoint-n0000000-x.bin"), []byte("weights"), 0o644)
	os.WriteFile(ca.Dir.Records(), []byte(`{"type":"progress","attempt":1}`+"\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(a.genPath(id, ca.Gen), old, old)
	cb, err := b.Claim(id)
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if cb.Dir == ca.Dir || cb.Progress.Last != 1 {
		t.Errorf("new holder's folder %s (old %s), progress %+v", cb.Dir, ca.Dir, cb.Progress)
	}
	if w, _ := os.ReadFile(filepath.Join(cb.Dir.Checkpoints(), "checkpoint-n0000000-x.bin")); string(w) != "weights" {
		t.Error("the checkpoint was not carried over")
	}
	if _, err := os.Stat(ca.Dir.Path()); err == nil {
		t.Error("the old holder's folder is still there")
	}
	if a.Held(ca) || !b.Held(cb) {
		t.Errorf("held: a %v, b %v", a.Held(ca), b.Held(cb))
	}
	a.Release(ca)
	if !b.Held(cb) {
		t.Fatal("the old holder's Release dropped the new holder's claim")
	}
	// The old holder, resumed, writes its folder anew and tries to commit.
	os.MkdirAll(ca.Dir.Path(), 0o755)
	finish(t, ca, sp)
	if err := a.Commit(ca, 1); !errors.Is(err, ErrLost) {
		t.Errorf("the old holder's commit: %v", err)
	}
	if a.Finished(id) {
		t.Error("the old holder's work was committed")
	}
	// Its attempt over, it removes the folder it wrote anew, and nothing else.
	if err := a.Abandon(ca); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ca.Dir.Path()); err == nil {
		t.Error("the old holder's folder is left after Abandon")
	}
	if _, err := os.Stat(cb.Dir.Path()); err != nil || !b.Held(cb) {
		t.Fatalf("Abandon touched the new holder's claim: %v, held %v", err, b.Held(cb))
	}
	finish(t, cb, sp)
	if err := b.Commit(cb, 1); err != nil || !a.Finished(id) {
		t.Fatalf("the new holder's commit: %v", err)
	}
}

// A relaunched controller of the same run folder (the run's lock proves
// its predecessor dead) keeps the token and works on in the same folder;
// so does whoever claims a job its holder released.
func TestSameRunResumesInItsFolder(t *testing.T) {
	root := t.TempDir()
	a, _ := OpenStore(root, "sweep-a")
	_, id := probeSpec(3)
	c1, _ := a.Claim(id)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(a.genPath(id, c1.Gen), old, old)
	again, _ := OpenStore(root, "sweep-a")
	c2, err := again.Claim(id)
	if err != nil || c2.Dir != c1.Dir || c2.Gen <= c1.Gen {
		t.Fatalf("relaunch: %+v (first %+v), %v", c2, c1, err)
	}
	// The predecessor's Abandon leaves the folder its successor holds.
	if err := a.Abandon(c1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c2.Dir.Path()); err != nil {
		t.Errorf("Abandon removed the folder the relaunch holds: %v", err)
	}
	again.Release(c2)
	b, _ := OpenStore(root, "sweep-b")
	if c3, err := b.Claim(id); err != nil || c3.Dir != c1.Dir {
		t.Errorf("claim after a release: %+v, %v", c3, err)
	}
}

// Two controllers never both hold a job: of any number of contenders for
// one stale claim, exactly one wins, in every trial.
func TestStaleClaimContention(t *testing.T) {
	trials := 2000
	if testing.Short() {
		trials = 300
	}
	root := t.TempDir()
	stores := make([]*Store, 4)
	for i := range stores {
		stores[i], _ = OpenStore(root, fmt.Sprint("sweep-", i))
	}
	for n := 0; n < trials; n++ {
		id := fmt.Sprint("t", n)
		staleClaim(t, stores[0], id)
		contenders := 2 + n%3
		wins := make([]bool, contenders)
		var wg sync.WaitGroup
		for i := 0; i < contenders; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := stores[i].Claim(id)
				wins[i] = err == nil && c != nil
			}()
		}
		wg.Wait()
		won := 0
		for _, w := range wins {
			if w {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("trial %d: %d of %d contenders hold the claim", n, won, contenders)
		}
	}
}

// The same with real processes, hundreds of times: each of several
// processes claims the same stale jobs, and keeps what it won until all
// are done; every job has exactly one holder.
func TestStaleClaimContentionProcesses(t *testing.T) {
	jobs := 300
	if testing.Short() {
		jobs = 100
	}
	root := t.TempDir()
	s, _ := OpenStore(root, "setup")
	for n := 0; n < jobs; n++ {
		staleClaim(t, s, fmt.Sprint("p", n))
	}
	release := filepath.Join(root, "release")
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	for i := 0; i < 4; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WS_CLAIMER="+fmt.Sprint(i), "WS_ROOT="+root, "WS_JOBS="+strconv.Itoa(jobs), "WS_RELEASE="+release)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, bufio.NewScanner(out))
	}
	holders := map[string][]int{}
	for i, sc := range outs {
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "won "); ok {
				holders[id] = append(holders[id], i)
			}
			if sc.Text() == "done" {
				break
			}
		}
	}
	os.WriteFile(release, nil, 0o644)
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < jobs; n++ {
		if h := holders[fmt.Sprint("p", n)]; len(h) != 1 {
			t.Errorf("job p%d held by processes %v", n, h)
		}
	}
}

// claimer is the helper process of TestStaleClaimContentionProcesses.
func claimer() int {
	s, err := OpenStore(os.Getenv("WS_ROOT"), "claimer-"+os.Getenv("WS_CLAIMER"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.Atoi(os.Getenv("WS_JOBS"))
	for i := 0; i < n; i++ {
		if _, err := s.Claim(fmt.Sprint("p", i)); err == nil {
			fmt.Println("won", fmt.Sprint("p", i))
		}
	}
	fmt.Println("done")
	for { // hold what was won until every claimer is done
		if _, err := os.Stat(os.Getenv("WS_RELEASE")); err == nil {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A damaged entry is refused, and quarantine moves it aside with its
// reason; one that is healthy after all stays where it is.
func TestLookupRefusesDamageAndQuarantineMovesIt(t *testing.T) {
	root := t.TempDir()
	s, _ := OpenStore(root, "sweep-a")
	sp, id := probeSpec(4)
	c, _ := s.Claim(id)
	finish(t, c, sp)
	if err := s.Commit(c, 1); err != nil {
		t.Fatal(err)
	}
	if to, err := s.Quarantine(id, "no reason"); to != "" || err != nil || !s.Finished(id) {
		t.Fatalf("a healthy entry was quarantined: %q %v", to, err)
	}
	for _, tc := range []struct {
		name   string
		damage func(d jobdir.Dir)
		want   string
	}{
		{"a part deleted", func(d jobdir.Dir) {
			_, m := jobdir.PartFiles(d.Results(), id, 1)
			os.Remove(m)
		}, "is missing"},
		{"a flipped byte", func(d jobdir.Dir) { os.WriteFile(d.Records(), []byte("y\n"), 0o644) }, "does not match"},
		{"no manifest", func(d jobdir.Dir) { os.Remove(d.Manifest()) }, "has no done.json"},
		{"another job's spec", func(d jobdir.Dir) {
			other, _ := probeSpec(5)
			d.WriteSpec(other)
			m, _ := d.ReadManifest()
			d.WriteManifest(*m)
		}, "hashes to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry := s.Entry(id)
			os.RemoveAll(entry.Path())
			c, err := s.Claim(id)
			if err != nil {
				t.Fatal(err)
			}
			finish(t, c, sp)
			if err := s.Commit(c, 1); err != nil {
				t.Fatal(err)
			}
			tc.damage(entry)
			fresh, _ := OpenStore(root, "sweep-b") // nothing remembered
			_, err = fresh.Lookup(id)
			var d *jobdir.Damaged
			if !errors.As(err, &d) || !strings.Contains(d.Reason, tc.want) {
				t.Fatalf("lookup: %v, want damage saying %q", err, tc.want)
			}
			to, err := fresh.Quarantine(id, d.Reason)
			if err != nil || to == "" {
				t.Fatalf("quarantine: %q %v", to, err)
			}
			if note, _ := os.ReadFile(jobdir.Dir(to).QuarantineNote()); !strings.Contains(string(note), tc.want) {
				t.Errorf("quarantine note %q", note)
			}
			if m, err := fresh.Lookup(id); m != nil || err != nil {
				t.Errorf("after quarantine: %v %v", m, err)
			}
		})
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gc --checkpoints takes the intermediate checkpoints of a finished
// pretraining job out of its manifest before it removes them: the entry
// stays healthy, with its newest checkpoint.
func TestGCOfCheckpointsKeepsTheEntryWhole(t *testing.T) {
	root := t.TempDir()
	s, _ := OpenStore(root, "sweep-a")
	sp := job.Spec{Kind: job.KindPretrain, Dataset: "fashion-mnist", Method: job.MethodSolo, Seed: 1, Archs: []string{"mlp-s"}}
	id := job.SpecID(sp)
	c, err := s.Claim(id)
	if err != nil {
		t.Fatal(err)
	}
	finish(t, c, sp)
	os.MkdirAll(c.Dir.Checkpoints(), 0o755)
	for i := 0; i < 3; i++ {
		js, bin, sum := c.Dir.CheckpointFiles(fmt.Sprintf("checkpoint-n%07d-x", i))
		for _, f := range []string{js, bin, sum} {
			os.WriteFile(f, []byte(fmt.Sprint(i)), 0o644)
		}
	}
	if err := s.Commit(c, 1); err != nil {
		t.Fatal(err)
	}
	p := &job.Plan{Name: "g", Jobs: []*job.Job{{ID: id, Name: "pre", Spec: sp}}}
	r, err := CreateRun(RunDir(root, p), nil, p)
	if err != nil {
		t.Fatal(err)
	}
	r.Unlock()
	plan, err := PlanGC(root, s, true)
	if err != nil || plan.Checkpoints != 6 || plan.Entries != 0 {
		t.Fatalf("gc plan %+v, %v", plan, err)
	}
	if _, err := RemoveGC(root, s, plan, true); err != nil {
		t.Fatal(err)
	}
	fresh, _ := OpenStore(root, "sweep-b")
	if _, err := fresh.Verify(id); err != nil {
		t.Fatalf("after gc: %v", err)
	}
	if list, _ := s.Entry(id).ListCheckpoints(); len(list) != 1 || list[0] != "checkpoint-n0000002-x" {
		t.Errorf("checkpoints left: %v", list)
	}
}
