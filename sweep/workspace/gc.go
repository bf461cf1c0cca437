package workspace

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// GC is what gc would remove from a workspace's store: entries and work
// folders that no run folder refers to (and no controller has claimed),
// entries in quarantine, and, when asked, the intermediate checkpoints of
// finished pretraining jobs no running sweep refers to.
type GC struct {
	Entries, Work, Quarantined, Checkpoints int
	Bytes                                   int64
	// Paths are the folders and files to remove.
	Paths []string
	// drop lists, per entry, the checkpoint files to take out of its manifest.
	drop map[string][]string
}

// PlanGC decides what gc would remove. It reads without locking, for a
// first look; RemoveGC decides again under the workspace's lock.
func PlanGC(root string, st *Store, checkpoints bool) (*GC, error) {
	dirs, err := RunFolders(root)
	if err != nil {
		return nil, err
	}
	referenced, inUse := map[string]bool{}, map[string]bool{}
	kinds := map[string]job.Kind{}
	for _, d := range dirs {
		r, err := OpenRun(d)
		if err != nil {
			return nil, err
		}
		running := r.Locked()
		for _, j := range r.Plan.Jobs {
			referenced[j.ID] = true
			kinds[j.ID] = j.Spec.Kind
			if running {
				inUse[j.ID] = true
			}
		}
	}
	g := &GC{drop: map[string][]string{}}
	add := func(path string, size int64) {
		g.Paths = append(g.Paths, path)
		g.Bytes += size
	}
	entries, err := st.Entries()
	if err != nil {
		return nil, err
	}
	for _, id := range entries {
		if _, claimed := st.Claimed(id); referenced[id] || claimed {
			continue
		}
		add(st.EntryDir(id), st.Entry(id).Size())
		g.Entries++
	}
	work, err := st.WorkFolders()
	if err != nil {
		return nil, err
	}
	for _, w := range work {
		id := WorkFolderJob(w)
		if _, claimed := st.Claimed(id); referenced[id] || claimed {
			continue
		}
		add(w.Path(), w.Size())
		g.Work++
	}
	quarantined, err := st.Quarantined()
	if err != nil {
		return nil, err
	}
	for _, q := range quarantined {
		add(q, jobdir.Dir(q).Size())
		g.Quarantined++
	}
	trash, _ := filepath.Glob(filepath.Join(st.Dir, ".trash-*")) // of a gc that died
	for _, t := range trash {
		add(t, jobdir.Dir(t).Size())
	}
	if checkpoints {
		for _, id := range entries {
			if !referenced[id] || inUse[id] || kinds[id] != job.KindPretrain {
				continue
			}
			old, err := st.Entry(id).OlderCheckpoints()
			if err != nil {
				return nil, err
			}
			for _, p := range old {
				add(p, jobdir.Dir(p).Size())
				g.drop[id] = append(g.drop[id], p)
				if !strings.HasSuffix(p, jobdir.UnreadableCheckpoints) {
					g.Checkpoints++
				}
			}
		}
	}
	return g, nil
}

// Print says what gc would free.
func (g *GC) Print(out io.Writer, bytes func(int64) string) {
	if len(g.Paths) == 0 {
		fmt.Fprintln(out, "nothing to free: every job in the store is used by a sweep")
		return
	}
	fmt.Fprintf(out, "%d store entries and %d unfinished job folders no sweep refers to", g.Entries, g.Work)
	if g.Quarantined > 0 {
		fmt.Fprintf(out, ", %d damaged entries in quarantine", g.Quarantined)
	}
	if g.Checkpoints > 0 {
		fmt.Fprintf(out, ", %d intermediate checkpoint files", g.Checkpoints)
	}
	fmt.Fprintf(out, ": %s\n", bytes(g.Bytes))
}

// RemoveGC removes what planned lists and is still unreferenced: under the
// workspace's exclusive lock (which launches take, shared, while they write
// the plans that say which stored jobs they use), it decides again and
// removes only what both decisions name. A store entry is renamed out of
// the store before it is removed, so that no sweep sees half of one; an
// entry's intermediate checkpoints leave its manifest before they leave
// the disk. It returns the bytes freed.
func RemoveGC(root string, st *Store, planned *GC, checkpoints bool) (int64, error) {
	unlock, err := st.LockExclusive()
	if err != nil {
		return 0, err
	}
	defer unlock()
	now, err := PlanGC(root, st, checkpoints)
	if err != nil {
		return 0, err
	}
	for id, files := range now.drop {
		var keep []string
		for _, f := range files {
			if slices.Contains(planned.Paths, f) {
				keep = append(keep, f)
			}
		}
		if len(keep) > 0 {
			if err := st.Entry(id).DropFromManifest(keep); err != nil {
				return 0, err
			}
			st.forget(id)
		}
	}
	var freed int64
	for _, p := range now.Paths {
		if !slices.Contains(planned.Paths, p) {
			continue // referenced again since the first look
		}
		size := jobdir.Dir(p).Size()
		target := p
		if filepath.Dir(p) == st.Dir && !strings.HasPrefix(filepath.Base(p), ".") {
			target = filepath.Join(st.Dir, ".trash-"+filepath.Base(p))
			if err := os.Rename(p, target); err != nil {
				return freed, err
			}
			st.forget(filepath.Base(p))
		}
		if err := os.RemoveAll(target); err != nil {
			return freed, err
		}
		freed += size
	}
	return freed, nil
}

// forget drops an entry from the healthy cache.
func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.healthy, id)
	s.mu.Unlock()
}

// RunFolders lists the run folders of a workspace.
func RunFolders(root string) ([]string, error) {
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", root, err)
	}
	var out []string
	for _, d := range des {
		if _, err := os.Stat(filepath.Join(root, d.Name(), "plan.json")); d.IsDir() && err == nil {
			out = append(out, filepath.Join(root, d.Name()))
		}
	}
	return out, nil
}
