package jobdir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// ManifestFormat is the version of done.json this code writes and reads.
const ManifestFormat = 1

// CheapHash is the size up to which a file's hash is checked every time an
// entry is reused; larger files (checkpoints, features) are checked for
// their size then, and for their hash by the job that reads them and by
// `sweep verify`.
const CheapHash = 1 << 20

// Manifest is done.json: the entry's files with their sizes and hashes,
// who made it (the build, the sweep, the host) and when. It is written last,
// by the controller that commits the job; an entry without one, or whose
// files do not match it, is damaged.
type Manifest struct {
	Format int    `json:"format"`
	Job    string `json:"job"`
	Kind   string `json:"kind"`
	// Token is the claim the entry was committed under.
	Token  string `json:"token"`
	Files  []File `json:"files"`
	Build  Build  `json:"build"`
	Origin Origin `json:"origin"`
	// Seconds is the successful attempt's wall time.
	Seconds float64 `json:"seconds"`
}

// File is one file of an entry.
type File struct {
	Path   string `json:"path"` // relative, with slashes
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Origin says which sweep committed a job, from which host, and when.
type Origin struct {
	Sweep string    `json:"sweep"`
	Host  string    `json:"host"`
	Time  time.Time `json:"time"`
}

// Build is the provenance of a job's output: the program that computed it
// and where it ran.
type Build struct {
	// Module is the main module's path and version ("(devel)" for a build
	// from a checkout).
	Module  string `json:"module"`
	Version string `json:"version"`
	// Revision and Modified are the VCS revision the binary was built from
	// and whether the checkout had uncommitted changes.
	Revision string `json:"vcs_revision,omitempty"`
	Modified bool   `json:"vcs_modified,omitempty"`
	// Binary is a hash of the executable, for builds of a modified
	// checkout (whose revision does not say what they hold), and Exe the
	// file it hashed (path, device, inode, size, modification time): a job
	// that runs that same file takes its controller's hash instead of
	// hashing it again (44-55 ms of every job of a dev build).
	Binary string `json:"binary,omitempty"`
	Exe    string `json:"exe,omitempty"`
	Go     string `json:"go"`
	GoMLX  string `json:"gomlx,omitempty"`
	// Backend, Device and Host are where the job ran.
	Backend string `json:"backend,omitempty"`
	Device  string `json:"device,omitempty"`
	Host    string `json:"host,omitempty"`
}

// Code names the program, without where it ran: two jobs with the same Code
// were computed by the same code.
func (b Build) Code() string {
	s := b.Version
	if b.Revision != "" {
		r := b.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		s += " " + r
	}
	if b.Modified {
		s += "+dirty"
		if b.Binary != "" {
			s += "(" + b.Binary + ")"
		}
	}
	s += " " + b.Go
	if b.GoMLX != "" {
		s += " gomlx " + b.GoMLX
	}
	return s
}

// CurrentBuild describes this program (its module, VCS stamp, Go and GoMLX
// versions); the backend, device and host are the caller's to fill.
func CurrentBuild() Build { return CurrentBuildAs(Build{}) }

// CurrentBuildAs is CurrentBuild, with known's hash of the executable when
// known hashed the very file this program runs from (a job started by its
// controller).
func CurrentBuildAs(known Build) Build {
	b := Build{Version: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module, b.Version, b.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/gomlx" {
			b.GoMLX = d.Version
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if b.Modified || b.Revision == "" {
		if exe, err := os.Executable(); err == nil {
			b.Exe = fileIdentity(exe)
			if known.Binary != "" && b.Exe != "" && known.Exe == b.Exe {
				b.Binary = known.Binary
			} else if sum, _, err := hashFile(exe); err == nil {
				b.Binary = sum[:12]
			}
		}
	}
	return b
}

// fileIdentity names a file by its path, device, inode, size and
// modification time: another file, or this one rewritten, has another
// identity. "" where the system does not say.
func fileIdentity(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s|%d|%d|%d|%d", path, st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
}

// WriteManifest hashes every file of the folder and writes done.json last
// (atomically). Staging folders and temporary files are left out.
func (d Dir) WriteManifest(m Manifest) error {
	m.Format = ManifestFormat
	m.Files = nil
	err := filepath.WalkDir(string(d), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := e.Name()
		if e.IsDir() {
			if path != string(d) && strings.HasPrefix(name, ".") {
				return fs.SkipDir // staging folders
			}
			return nil
		}
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil // temporary files of atomic writes
		}
		rel, err := d.Rel(path)
		if err != nil || rel == manifestName {
			return err
		}
		sum, size, err := hashFile(path)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: rel, Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", d, err)
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.Manifest(), append(b, '\n'))
}

// ReadManifest reads done.json.
func (d Dir) ReadManifest() (*Manifest, error) {
	b, err := os.ReadFile(d.Manifest())
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%s: format %d, this build reads %d", manifestName, m.Format, ManifestFormat)
	}
	return &m, nil
}

// Damaged is an entry whose files do not match its manifest, or that has
// no (readable) manifest.
type Damaged struct {
	Dir    Dir
	Reason string
}

func (e *Damaged) Error() string { return fmt.Sprintf("%s is damaged: %s", e.Dir, e.Reason) }

// Check compares the folder with its manifest: every file listed is there
// with its size, and files up to hashUpTo bytes (every file when it is
// negative) have their hash. It also checks that the entry holds what a job
// of its kind must produce. A mismatch is a *Damaged.
func (d Dir) Check(id string, hashUpTo int64) (*Manifest, error) {
	damaged := func(format string, a ...any) error {
		return &Damaged{Dir: d, Reason: fmt.Sprintf(format, a...)}
	}
	m, err := d.ReadManifest()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, damaged("it has no %s (the job did not finish, or an earlier release made it)", manifestName)
	case err != nil:
		return nil, damaged("%v", err)
	case m.Job != id:
		return nil, damaged("its manifest is job %s's", m.Job)
	}
	for _, f := range m.Files {
		path := d.Abs(f.Path)
		st, err := os.Lstat(path)
		switch {
		case err != nil:
			return m, damaged("%s is missing", f.Path)
		case !st.Mode().IsRegular():
			return m, damaged("%s is not a file", f.Path)
		case st.Size() != f.Size:
			return m, damaged("%s has %d bytes, its manifest says %d", f.Path, st.Size(), f.Size)
		}
		if hashUpTo < 0 || f.Size <= hashUpTo {
			if err := d.verify(f); err != nil {
				return m, &Damaged{Dir: d, Reason: err.Error()}
			}
		}
	}
	if missing := m.missingOutputs(); missing != "" {
		return m, damaged("it lacks %s", missing)
	}
	return m, nil
}

// missingOutputs names what a job of the manifest's kind must have produced
// and the manifest does not list.
func (m *Manifest) missingOutputs() string {
	paths := make([]string, len(m.Files))
	for i, f := range m.Files {
		paths[i] = f.Path
	}
	has := func(pred func(string) bool) bool { return slices.ContainsFunc(paths, pred) }
	is := func(name string) func(string) bool { return func(p string) bool { return p == name } }
	prefix := func(p string) func(string) bool { return func(s string) bool { return strings.HasPrefix(s, p) } }
	switch {
	case !has(is("spec.json")):
		return "its spec"
	case !has(is("records.jsonl")):
		return "its records"
	case !has(prefix("results/"+partsDir+"/"+jobsPart)) || !has(prefix("results/"+partsDir+"/"+metricsPart)):
		return "its result rows"
	}
	return outputsMissing(m.Kind, has)
}

// outputsMissing names the output a job of a kind must write that has
// does not find ("" when none is missing).
func outputsMissing(kind string, has func(func(string) bool) bool) string {
	switch {
	case kind == string(job.KindPretrain) && !has(func(p string) bool {
		return strings.HasPrefix(p, "checkpoints/"+checkpointPrefix) && strings.HasSuffix(p, CheckpointBin)
	}):
		return "a checkpoint"
	case kind == string(job.KindFeatures) && !has(func(p string) bool { return p == "features.bin" }):
		return "its features"
	}
	return ""
}

// MissingOutput names the output a job of this kind must have written into
// the folder and did not ("" when none is missing): the job process checks
// it before it says it succeeded.
func (d Dir) MissingOutput(kind job.Kind) string {
	var paths []string
	if list, _ := d.ListCheckpoints(); len(list) > 0 {
		_, bin, _ := d.CheckpointFiles(list[len(list)-1])
		if _, err := os.Stat(bin); err == nil {
			paths = append(paths, "checkpoints/"+filepath.Base(bin))
		}
	}
	if _, err := os.Stat(d.Features()); err == nil {
		paths = append(paths, "features.bin")
	}
	return outputsMissing(string(kind), func(pred func(string) bool) bool { return slices.ContainsFunc(paths, pred) })
}

// VerifyFile checks one file of a finished entry against the entry's
// manifest: it must be listed, and its size and hash must match.
func (d Dir) VerifyFile(path string) error {
	f, err := d.listed(path)
	if err != nil {
		return err
	}
	if err := d.verify(f); err != nil {
		return &Damaged{Dir: d, Reason: err.Error()}
	}
	return nil
}

// VerifyBytes checks data read from a file of a finished entry against the
// entry's manifest (for a reader that reads the whole file anyway).
func (d Dir) VerifyBytes(path string, data []byte) error {
	f, err := d.listed(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
		return &Damaged{Dir: d, Reason: fmt.Sprintf("%s does not match its manifest (%d bytes, hash %.12s; manifest: %d bytes, %.12s)",
			f.Path, len(data), hex.EncodeToString(sum[:]), f.Size, f.SHA256)}
	}
	return nil
}

// listed is a file's line in the entry's manifest.
func (d Dir) listed(path string) (File, error) {
	rel, err := d.Rel(path)
	if err != nil {
		return File{}, err
	}
	m, err := d.ReadManifest()
	if err != nil {
		return File{}, &Damaged{Dir: d, Reason: fmt.Sprintf("cannot read its manifest: %v", err)}
	}
	for _, f := range m.Files {
		if f.Path == rel {
			return f, nil
		}
	}
	return File{}, &Damaged{Dir: d, Reason: rel + " is not in its manifest"}
}

func (d Dir) verify(f File) error {
	sum, size, err := hashFile(d.Abs(f.Path))
	if err != nil {
		return fmt.Errorf("%s cannot be read: %v", f.Path, err)
	}
	if size != f.Size || sum != f.SHA256 {
		return fmt.Errorf("%s does not match its manifest (%d bytes, hash %.12s; manifest: %d bytes, %.12s)", f.Path, size, sum, f.Size, f.SHA256)
	}
	return nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// HashFile returns a file's SHA-256 (hex) and size.
func HashFile(path string) (string, int64, error) { return hashFile(path) }

// DropFromManifest takes files (paths inside the folder) out of its
// manifest, atomically, before they are removed: the entry stays whole
// at every moment (gc of intermediate checkpoints).
func (d Dir) DropFromManifest(paths []string) error {
	m, err := d.ReadManifest()
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, p := range paths {
		rel, err := d.Rel(p)
		if err != nil {
			return err
		}
		drop[rel] = true
	}
	dropped := func(rel string) bool { // the file, or a folder it is in
		for r := rel; r != "." && r != "/"; r = path.Dir(r) {
			if drop[r] {
				return true
			}
		}
		return false
	}
	kept := m.Files[:0]
	for _, f := range m.Files {
		if !dropped(f.Path) {
			kept = append(kept, f)
		}
	}
	m.Files = kept
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.Manifest(), append(b, '\n'))
}
