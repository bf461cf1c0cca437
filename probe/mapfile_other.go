//go:build !linux

package probe

import "os"

// mapFile reads a file whole (mapping it is done on Linux only).
func mapFile(path string) ([]byte, error) { return os.ReadFile(path) }
