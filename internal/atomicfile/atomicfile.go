// Package atomicfile writes files so that a reader sees the old file or the
// new one, never a part: the data goes to a temporary file in the same
// folder, is synced, and is renamed over the destination (google/renameio).
// A failed write (a full disk, a crash) leaves the previous file in place and
// no temporary file behind.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces path with data atomically.
func Write(path string, data []byte) error {
	if err := renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(path))); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// File is a file being written; Commit makes it visible under its name.
type File struct {
	*renameio.PendingFile
	path string
}

// Create starts writing path; nothing is visible under that name until Commit.
// Call Cleanup (deferred) to remove the temporary file when Commit was not reached.
func Create(path string) (*File, error) {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644), renameio.WithTempDir(filepath.Dir(path)))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{PendingFile: f, path: path}, nil
}

// Commit syncs the file and renames it into place.
func (f *File) Commit() error {
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Cleanup removes the temporary file if Commit did not happen.
func (f *File) Cleanup() { _ = f.PendingFile.Cleanup() }

// SyncDir syncs a folder, so that the renames and creations in it survive a
// power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
