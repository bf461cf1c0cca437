//go:build !linux

package mapfile

import "os"

// Map reads a file whole (mapping it is done on Linux only).
func Map(path string) ([]byte, error) { return os.ReadFile(path) }
