package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// checkpoints keeps a job's checkpoints in GoMLX's format, so that a torn
// write never becomes the newest: each save is written by GoMLX into a fresh
// staging folder inside the checkpoint folder, checked whole, synced, and
// renamed into place (the data file first, then the JSON file that makes it a
// checkpoint); the oldest beyond keep are removed after. A checkpoint that
// cannot be read on resume is moved aside, and the one before it is used.
type checkpoints struct {
	dir   string
	store *model.Store
	keep  int
	warn  func(string)
}

// unreadableDir is where checkpoints that cannot be read are moved.
const unreadableDir = "unreadable"

var checkpointCount = regexp.MustCompile(`^checkpoint-n(\d+)-`)

// openCheckpoints loads the newest readable checkpoint of dir into store (if
// any): unreadable ones are moved aside with a warning. Left-overs of an
// interrupted save (a staging folder, a data file without its JSON) are
// removed first.
func openCheckpoints(store *model.Store, dir string, keep int, warn func(string)) (*checkpoints, error) {
	c := &checkpoints{dir: dir, store: store, keep: keep, warn: warn}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	if err := c.removeLeftovers(); err != nil {
		return nil, err
	}
	for {
		_, err := checkpoint.Build(store).Dir(dir).Done()
		if err == nil {
			return c, nil
		}
		list, lerr := c.list()
		if lerr != nil || len(list) == 0 || !strings.Contains(err.Error(), list[len(list)-1]) {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		newest := list[len(list)-1]
		aside, merr := c.moveAside(newest)
		if merr != nil {
			return nil, fmt.Errorf("checkpoint %s cannot be read (%v) nor moved aside: %w", newest, err, merr)
		}
		c.warn(fmt.Sprintf("checkpoint %s cannot be read (%v): moved to %s; resuming from the checkpoint before it, or from the start", newest, firstLineOf(err), aside))
	}
}

// loadFinished loads the newest checkpoint of a finished job's folder (read
// only: nothing is moved).
func loadFinished(store *model.Store, dir string) error {
	if _, err := checkpoint.Build(store).Dir(dir).Done(); err != nil {
		return fmt.Errorf("load checkpoint of %s: %w", filepath.Dir(dir), err)
	}
	return nil
}

// list returns the checkpoints' base names, oldest first.
func (c *checkpoints) list() ([]string, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasPrefix(n, "checkpoint-") && strings.HasSuffix(n, checkpoint.JsonNameSuffix) {
			out = append(out, strings.TrimSuffix(n, checkpoint.JsonNameSuffix))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (c *checkpoints) removeLeftovers() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		orphan := strings.HasSuffix(n, checkpoint.BinDataSuffix) && !exists(filepath.Join(c.dir, strings.TrimSuffix(n, checkpoint.BinDataSuffix)+checkpoint.JsonNameSuffix))
		if strings.HasPrefix(n, ".staging-") || orphan {
			if err := os.RemoveAll(filepath.Join(c.dir, n)); err != nil {
				return fmt.Errorf("checkpoints: %w", err)
			}
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// moveAside moves a checkpoint's files into the unreadable folder.
func (c *checkpoints) moveAside(base string) (string, error) {
	to := filepath.Join(c.dir, unreadableDir)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return "", err
	}
	for _, suffix := range []string{checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix} {
		if err := os.Rename(filepath.Join(c.dir, base+suffix), filepath.Join(to, base+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return to, nil
}

// save writes a new checkpoint of the store's variables.
func (c *checkpoints) save() error {
	staging, err := os.MkdirTemp(c.dir, ".staging-")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	defer os.RemoveAll(staging)
	loader := c.store.Loader() // the staging handler attaches itself as the loader
	defer c.store.SetLoader(loader)
	h, err := checkpoint.Build(c.store).Dir(staging).WithCompression(checkpoint.BinUncompressed).Done()
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := h.Save(); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	var base string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, checkpoint.JsonNameSuffix) {
			base = strings.TrimSuffix(n, checkpoint.JsonNameSuffix)
		}
	}
	if base == "" {
		return errors.New("save checkpoint: GoMLX wrote no checkpoint")
	}
	if err := checkWhole(staging, base); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	name, err := c.nextName(base)
	if err != nil {
		return err
	}
	// Synced before they are renamed, the data file before its JSON: the
	// JSON file is what makes a checkpoint exist.
	for _, suffix := range []string{checkpoint.BinDataSuffix, checkpoint.JsonNameSuffix} {
		from := filepath.Join(staging, base+suffix)
		if err := syncFile(from); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
		if err := os.Rename(from, filepath.Join(c.dir, name+suffix)); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	if err := atomicfile.SyncDir(c.dir); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return c.prune()
}

// nextName numbers a staged checkpoint after the newest one in the folder
// (GoMLX orders checkpoints by that number).
func (c *checkpoints) nextName(staged string) (string, error) {
	list, err := c.list()
	if err != nil {
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	next := 0
	for _, b := range list {
		if m := checkpointCount.FindStringSubmatch(b); m != nil {
			var n int
			fmt.Sscan(m[1], &n)
			next = max(next, n+1)
		}
	}
	return checkpointCount.ReplaceAllString(staged, fmt.Sprintf("checkpoint-n%07d-", next)), nil
}

// prune removes the oldest checkpoints beyond keep (the JSON first).
func (c *checkpoints) prune() error {
	list, err := c.list()
	if err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	for len(list) > c.keep {
		for _, suffix := range []string{checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix} {
			if err := os.Remove(filepath.Join(c.dir, list[0]+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("prune checkpoints: %w", err)
			}
		}
		list = list[1:]
	}
	return nil
}

// checkWhole checks that an uncompressed data file holds every byte its JSON
// file lists. GoMLX v0.28.16 can lose a failed write of a variable (it
// returns the wrapped nil error): a short file on a full file system is
// reported as the full disk it is.
func checkWhole(dir, base string) error {
	b, err := os.ReadFile(filepath.Join(dir, base+checkpoint.JsonNameSuffix))
	if err != nil {
		return err
	}
	var meta struct {
		Variables []struct {
			Length int64 `json:"Length"`
		} `json:"Variables"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("checkpoint metadata: %w", err)
	}
	var want int64
	for _, v := range meta.Variables {
		want += v.Length
	}
	st, err := os.Stat(filepath.Join(dir, base+checkpoint.BinDataSuffix))
	if err != nil {
		return err
	}
	if st.Size() == want {
		return nil
	}
	err = fmt.Errorf("checkpoint data file has %d of its %d bytes: a write failed", st.Size(), want)
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) == nil && int64(fs.Bavail)*int64(fs.Bsize) < want-st.Size() {
		err = fmt.Errorf("%w (%w)", err, syscall.ENOSPC)
	}
	return err
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func firstLineOf(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
