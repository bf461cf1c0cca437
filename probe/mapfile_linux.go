package probe

import (
	"os"
	"syscall"
)

// mapFile maps a file's pages into memory, private and copy-on-write, read
// ahead whole (MAP_POPULATE). A probe process reads one features file of
// tens of MB: mapped, its bytes are the page cache's own pages, where
// reading them into a fresh buffer cost a page fault per 4 KiB. The
// mapping stays for the life of the process (the features' arrays may
// alias it). Truncating the file while it is mapped ends the process with
// SIGBUS, a failed attempt the controller records and retries.
func mapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 || size != int64(int(size)) {
		return os.ReadFile(path)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
	if err != nil { // no mapping (a limit, a file system without mmap): read it
		return os.ReadFile(path)
	}
	return b, nil
}
