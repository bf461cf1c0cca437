package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
)

// DataIDCache identifies data sets by their files: the identity of a folder is a
// hash of every file under it (its path in the folder, size and SHA-256). A
// file's checksum is computed once and cached in the workspace by path,
// size and modification time, so that a copy of a data set elsewhere, or a
// changed file, gives a different identity, and an unchanged one costs a
// stat.
type DataIDCache struct {
	path  string
	mu    sync.Mutex
	files map[string]fileSum
	dirty bool
}

type fileSum struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

// dataIDsFile is the cache's name in the workspace.
const dataIDsFile = "data-ids.json"

// OpenDataIDs reads the cache of the workspace root (a missing or damaged
// cache is an empty one).
func OpenDataIDs(root string) *DataIDCache {
	d := &DataIDCache{path: filepath.Join(storeDir(root), dataIDsFile), files: map[string]fileSum{}}
	if b, err := os.ReadFile(d.path); err == nil {
		_ = json.Unmarshal(b, &d.files)
	}
	return d
}

// Identities returns the identity of each data set's files, found under
// dataDir (or the system folders, as data.Folder searches), and the data
// sets that are not there (their identity is "absent": a plan made with it
// is provisional, and launch refuses to run it).
func (d *DataIDCache) Identities(sets []string, dataDir string) (map[string]string, []string, error) {
	ids := map[string]string{}
	var missing []string
	for _, set := range sets {
		if _, done := ids[set]; done {
			continue
		}
		folder, err := data.Folder(set, dataDir)
		if err != nil {
			ids[set] = "absent"
			missing = append(missing, set)
			continue
		}
		if ids[set], err = d.Of(folder); err != nil {
			return nil, nil, err
		}
	}
	return ids, missing, nil
}

// Of returns the identity of the files under folder.
func (d *DataIDCache) Of(folder string) (string, error) {
	abs, err := filepath.Abs(folder)
	if err != nil {
		return "", err
	}
	var lines []string
	err = filepath.WalkDir(abs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		sum, err := d.sum(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(abs, p)
		lines = append(lines, fmt.Sprintf("%s %d %s\n", rel, sum.Size, sum.SHA256))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("data identity of %s: %w", folder, err)
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// sum is a file's checksum, from the cache when its size and time match.
func (d *DataIDCache) sum(path string) (fileSum, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileSum{}, err
	}
	d.mu.Lock()
	c, ok := d.files[path]
	d.mu.Unlock()
	if ok && c.Size == st.Size() && c.ModTime == st.ModTime().UnixNano() {
		return c, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fileSum{}, err
	}
	c = fileSum{Size: st.Size(), ModTime: st.ModTime().UnixNano(), SHA256: hex.EncodeToString(h.Sum(nil))}
	d.mu.Lock()
	d.files[path], d.dirty = c, true
	d.mu.Unlock()
	return c, nil
}

// Save writes the cache when it learnt something.
func (d *DataIDCache) Save() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dirty {
		return nil
	}
	b, err := json.MarshalIndent(d.files, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(d.path, b); err != nil {
		return err
	}
	d.dirty = false
	return nil
}
