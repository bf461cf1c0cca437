package job

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// RecordWriter is the one writer of the record protocol: the job process
// writes each record as one line of JSON to every destination (the
// controller's pipe and the job's records file). Lines are written whole
// under a lock, so that records from several goroutines never interleave.
type RecordWriter struct {
	mu sync.Mutex
	// Keep is written first and must succeed: it is the job's own copy
	// (records.jsonl), from which its results are rebuilt. Tell may fail
	// (a controller that is gone) without failing the job.
	keep io.Writer
	tell io.Writer
}

// NewRecordWriter writes to keep (errors are returned) and to tell (errors
// are ignored). Either may be nil.
func NewRecordWriter(keep, tell io.Writer) *RecordWriter {
	return &RecordWriter{keep: keep, tell: tell}
}

// Write writes one record.
func (w *RecordWriter) Write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keep != nil {
		if _, err := w.keep.Write(b); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
	}
	if w.tell != nil {
		_, _ = w.tell.Write(b)
	}
	return nil
}

// ReadRecords is the one reader of the record protocol. It calls fn for
// every whole line that holds a record, and other (for lines that are not
// records, such as a panic's text on standard output) if it is not nil. A
// last line without its newline is left unread: a writer is in the middle
// of it, or died there. It returns how many bytes it consumed (whole lines),
// so that a file can be followed from that offset.
func ReadRecords(r io.Reader, fn func(Record), other func(line []byte)) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var consumed int64
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return consumed, nil
			}
			return consumed, err
		}
		consumed += int64(len(line))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec Record
		if json.Unmarshal(line, &rec) != nil || rec.Type == "" {
			if other != nil {
				other(line)
			}
			continue
		}
		fn(rec)
	}
}

// TailRecords reads the records appended to the file at path after offset
// and returns the offset to continue from. A missing file has no records.
func TailRecords(path string, offset int64, fn func(Record)) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return offset, nil
	}
	if err != nil {
		return offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	n, err := ReadRecords(f, fn, nil)
	return offset + n, err
}

// ReadRecordsFile calls fn for every record of the file at path (none when
// it does not exist).
func ReadRecordsFile(path string, fn func(Record)) error {
	_, err := TailRecords(path, 0, fn)
	return err
}
