package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// A journal cut in the middle of its last line (a write cut short): the
// next open drops the torn part, so that the next entry is whole; a last
// entry without its newline is kept and ended. Readers count what they skip.
func TestJournalMendsATornLastLine(t *testing.T) {
	for _, tc := range []struct {
		name, tail, want string
		entries          int
	}{
		{"torn", `{"time":"2026-12-01T`, "dropped a torn last line", 1},
		{"whole without newline", `{"time":"2026-12-01T07:00:00Z","job":"b","state":"done","attempt":1}`, "no newline", 2},
		{"sound", "", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := `{"time":"2026-12-01T06:00:00Z","job":"a","state":"done","attempt":1}` + "\n"
			if err := os.WriteFile(filepath.Join(dir, JournalFile), []byte(first+tc.tail), 0o644); err != nil {
				t.Fatal(err)
			}
			j, torn, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && torn != "" || !strings.Contains(torn, tc.want) {
				t.Errorf("mend said %q, want %q", torn, tc.want)
			}
			if err := j.Append(Entry{Job: "c", State: job.StateRunning, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			h, err := ReadJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			if h.Skipped != 0 || len(h.States) != tc.entries+1 || h.States["c"] == nil {
				t.Errorf("replayed %d jobs, %d lines skipped: %v", len(h.States), h.Skipped, h.States)
			}
		})
	}
	// A reader of a journal with a torn line in the middle says so.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, JournalFile), []byte("{\"job\":\"a\",\"state\":\"done\"}\n{\"time\n{\"job\":\"b\",\"state\":\"done\"}\n"), 0o644)
	if h, _ := ReadJournal(dir); h.Skipped != 1 || len(h.States) != 2 {
		t.Errorf("skipped %d, states %v", h.Skipped, h.States)
	}
}

// The identity of a data folder follows its files' content, not its path,
// and the cache is used when sizes and times match.
func TestDataIDs(t *testing.T) {
	root := t.TempDir()
	mk := func(dir, content string) string {
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "a.bin"), []byte(content), 0o644)
		os.WriteFile(filepath.Join(dir, "sub", "b.bin"), []byte("b"), 0o644)
		return dir
	}
	d := OpenDataIDs(root)
	x, err := d.Of(mk(filepath.Join(root, "x"), "same"))
	if err != nil {
		t.Fatal(err)
	}
	y, _ := d.Of(mk(filepath.Join(root, "y"), "same"))
	z, _ := d.Of(mk(filepath.Join(root, "z"), "different"))
	if x != y || x == z {
		t.Errorf("identities x %s, y (a copy) %s, z (changed) %s", x, y, z)
	}
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "store", dataIDsFile)); !strings.Contains(string(b), "a.bin") {
		t.Errorf("cache not written: %s", b)
	}
	// A cached checksum is trusted while the size and time match.
	again := OpenDataIDs(root)
	if id, _ := again.Of(filepath.Join(root, "x")); id != x || again.dirty {
		t.Errorf("cached identity %s (dirty %v), want %s", id, again.dirty, x)
	}
}
