package mapfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Map gives the file's bytes; writing to them changes the process's copy,
// never the file; an empty file maps to no bytes.
func TestMapIsPrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	want := bytes.Repeat([]byte("dogo"), 5000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Map(p)
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("Map: %v, same bytes %v", err, bytes.Equal(b, want))
	}
	b[0], b[len(b)-1] = 'X', 'Y'
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatal("a write to the mapped bytes reached the file")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if b, err := Map(empty); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %d bytes, %v", len(b), err)
	}
	if _, err := Map(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file mapped")
	}
}
