package job

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The record protocol round-trips through its one writer and one reader;
// lines that are not records go to other; a last line without its newline
// is left unread, and a file is followed from where the last read stopped.
func TestRecordProtocol(t *testing.T) {
	var keep, tell bytes.Buffer
	w := NewRecordWriter(&keep, &tell)
	for i, r := range []Record{{Type: RecProgress, Attempt: 1, Step: 5}, {Type: RecMetric, Attempt: 1, Name: "loss", Value: 2.5}, {Type: RecDone, Attempt: 1}} {
		if err := w.Write(r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if keep.String() != tell.String() {
		t.Error("the two destinations differ")
	}
	var got []Record
	var other []string
	in := keep.String() + "panic: not a record\n" + `{"type":"metric","name":"half`
	n, err := ReadRecords(strings.NewReader(in), func(r Record) { got = append(got, r) }, func(l []byte) { other = append(other, string(l)) })
	if err != nil || len(got) != 3 || got[1].Value != 2.5 || len(other) != 1 || int(n) != len(in)-len(`{"type":"metric","name":"half`) {
		t.Fatalf("read %d records %+v, other %q, consumed %d of %d: %v", len(got), got, other, n, len(in), err)
	}
	path := filepath.Join(t.TempDir(), "records.jsonl")
	os.WriteFile(path, []byte(in), 0o644)
	off, _ := TailRecords(path, 0, func(Record) {})
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`","value":1}` + "\n")
	f.Close()
	var tail []Record
	if _, err := TailRecords(path, off, func(r Record) { tail = append(tail, r) }); err != nil || len(tail) != 1 || tail[0].Name != "half" {
		t.Errorf("followed: %+v, %v", tail, err)
	}
}

// A record that cannot be kept (the job's own copy) is an error; one the
// controller cannot hear (its pipe is gone) is not.
func TestRecordWriterKeepFailureIsAnError(t *testing.T) {
	if err := NewRecordWriter(failing{}, nil).Write(Record{Type: RecDone}); err == nil {
		t.Error("a failed keep write was not reported")
	}
	if err := NewRecordWriter(nil, failing{}).Write(Record{Type: RecDone}); err != nil {
		t.Errorf("a failed tell write was reported: %v", err)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, os.ErrClosed }
