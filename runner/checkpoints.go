package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// checkpoints keeps a job's checkpoints in GoMLX's format, so that a torn
// write never becomes the newest and a damaged one is never loaded: each
// save is written by GoMLX into a fresh staging folder inside the
// checkpoint folder, checked whole, synced, and renamed into place (the
// data file first, then its checksum, then the JSON file that makes it a
// checkpoint); the oldest beyond keep are removed after. A checkpoint that
// cannot be read, or does not match its checksum, on resume is moved
// aside, and the one before it is used.
type checkpoints struct {
	job   jobdir.Dir
	dir   string // job.Checkpoints()
	store *model.Store
	keep  int
	warn  func(string)
}

var checkpointCount = regexp.MustCompile(`^checkpoint-n(\d+)-`)

// openCheckpoints loads the newest sound checkpoint of the job's folder into
// store (if any): unreadable or damaged ones are moved aside with a
// warning. Left-overs of an interrupted save (a staging folder, a data file
// or checksum without its JSON) are removed first.
func openCheckpoints(store *model.Store, d jobdir.Dir, keep int, warn func(string)) (*checkpoints, error) {
	c := &checkpoints{job: d, dir: d.Checkpoints(), store: store, keep: keep, warn: warn}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	if err := c.removeLeftovers(); err != nil {
		return nil, err
	}
	for {
		list, err := d.ListCheckpoints()
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		if len(list) == 0 {
			return c, nil
		}
		newest := list[len(list)-1]
		err = checkSum(d, newest)
		if err == nil {
			if _, err = checkpoint.Build(store).Dir(c.dir).Done(); err == nil {
				return c, nil
			}
		}
		aside, merr := c.moveAside(newest)
		if merr != nil {
			return nil, fmt.Errorf("checkpoint %s cannot be read (%v) nor moved aside: %w", newest, err, merr)
		}
		c.warn(fmt.Sprintf("checkpoint %s cannot be read (%v): moved to %s; resuming from the checkpoint before it, or from the start", newest, job.FirstLine(err.Error()), aside))
	}
}

// loadFinished loads the newest checkpoint of a finished pretraining job
// (read only: nothing is moved), after checking its files against the
// job's manifest. It returns the names of the variables the checkpoint
// holds. A checkpoint that is missing, damaged or empty is the parent
// job's damage (*job.DamagedInputError), so that it runs again.
func loadFinished(store *model.Store, parent jobdir.Dir, parentID string) (map[string]bool, error) {
	damaged := func(err error) error {
		return &job.DamagedInputError{Job: parentID, Err: fmt.Errorf("the checkpoint of pretraining job %s: %w", parentID, err)}
	}
	list, err := parent.ListCheckpoints()
	if err != nil || len(list) == 0 {
		return nil, damaged(fmt.Errorf("no checkpoint in %s (%v)", parent.Checkpoints(), err))
	}
	js, bin, _ := parent.CheckpointFiles(list[len(list)-1])
	for _, f := range []string{js, bin} {
		if err := parent.VerifyFile(f); err != nil {
			return nil, damaged(err)
		}
	}
	h, err := checkpoint.Load(store).Dir(parent.Checkpoints()).Done()
	if err != nil {
		return nil, damaged(err)
	}
	vars := map[string]bool{}
	for k := range h.LoadedVariables() {
		vars[strings.TrimPrefix(k, "var:")] = true
	}
	for v := range store.IterVariables() { // loaded already (set on creation)
		vars[v.Path()] = true
	}
	if len(vars) == 0 {
		return nil, damaged(errors.New("it holds no variables"))
	}
	return vars, nil
}

func (c *checkpoints) removeLeftovers() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		base := strings.TrimSuffix(strings.TrimSuffix(n, jobdir.CheckpointBin), checkpointSumSuffix)
		orphan := (strings.HasSuffix(n, jobdir.CheckpointBin) || strings.HasSuffix(n, checkpointSumSuffix)) && !exists(filepath.Join(c.dir, base+jobdir.CheckpointJSON))
		if strings.HasPrefix(n, c.job.StagingPrefix()) || orphan {
			if err := os.RemoveAll(filepath.Join(c.dir, n)); err != nil {
				return fmt.Errorf("checkpoints: %w", err)
			}
		}
	}
	return nil
}

// checkpointSumSuffix is the checksum file's suffix (jobdir.CheckpointFiles).
const checkpointSumSuffix = ".sha256"

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// moveAside moves a checkpoint's files into the unreadable folder.
func (c *checkpoints) moveAside(base string) (string, error) {
	to := filepath.Join(c.dir, jobdir.UnreadableCheckpoints)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return "", err
	}
	js, bin, sum := c.job.CheckpointFiles(base)
	for _, f := range []string{js, bin, sum} {
		if err := os.Rename(f, filepath.Join(to, filepath.Base(f))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return to, nil
}

// save writes a new checkpoint of the store's variables.
func (c *checkpoints) save() error {
	staging, err := os.MkdirTemp(c.dir, c.job.StagingPrefix())
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
		if n := e.Name(); strings.HasSuffix(n, jobdir.CheckpointJSON) {
			base = strings.TrimSuffix(n, jobdir.CheckpointJSON)
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
	js, bin, sum := c.job.CheckpointFiles(name)
	fromJS, fromBin := filepath.Join(staging, base+jobdir.CheckpointJSON), filepath.Join(staging, base+jobdir.CheckpointBin)
	sums, err := sumLines(map[string]string{filepath.Base(js): fromJS, filepath.Base(bin): fromBin})
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	// Synced before they are renamed, the data file and the checksum before
	// the JSON: the JSON file is what makes a checkpoint exist.
	for _, f := range []string{fromBin, fromJS} {
		if err := syncFile(f); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	if err := os.Rename(fromBin, bin); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := atomicfile.Write(sum, sums); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(fromJS, js); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := atomicfile.SyncDir(c.dir); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return c.prune()
}

// sumLines is a checksum file in sha256sum's format ("HASH  NAME" lines,
// `sha256sum -c` checks it), of the files at paths under their names.
func sumLines(paths map[string]string) ([]byte, error) {
	var b bytes.Buffer
	for _, n := range slices.Sorted(maps.Keys(paths)) {
		h, _, err := jobdir.HashFile(paths[n])
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", h, n)
	}
	return b.Bytes(), nil
}

// checkSum checks a checkpoint's JSON and data files against its checksum file.
func checkSum(d jobdir.Dir, base string) error {
	js, bin, sum := d.CheckpointFiles(base)
	want, err := os.ReadFile(sum)
	if err != nil {
		return fmt.Errorf("no checksum: %w", err)
	}
	got, err := sumLines(map[string]string{filepath.Base(js): js, filepath.Base(bin): bin})
	if err != nil {
		return err
	}
	if !bytes.Equal(want, got) {
		return errors.New("its files do not match their checksums")
	}
	return nil
}

// nextName numbers a staged checkpoint after the newest one in the folder
// (GoMLX orders checkpoints by that number).
func (c *checkpoints) nextName(staged string) (string, error) {
	list, err := c.job.ListCheckpoints()
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
	list, err := c.job.ListCheckpoints()
	if err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	for len(list) > c.keep {
		js, bin, sum := c.job.CheckpointFiles(list[0])
		for _, f := range []string{js, bin, sum} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
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
	b, err := os.ReadFile(filepath.Join(dir, base+jobdir.CheckpointJSON))
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
	st, err := os.Stat(filepath.Join(dir, base+jobdir.CheckpointBin))
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
