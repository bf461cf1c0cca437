package workspace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// JournalFile is the name of a run's journal in its folder.
const JournalFile = "journal.jsonl"

// Entry is one line of the journal.
type Entry struct {
	Time    time.Time `json:"time"`
	Job     string    `json:"job"`
	State   job.State `json:"state"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error,omitempty"`
	Host    string    `json:"host,omitempty"`
	Devices string    `json:"devices,omitempty"`
	// Sweep names the run folder that ran a job reused from the store.
	Sweep string `json:"sweep,omitempty"`
	// Warning is something a running job recovered from (an unreadable
	// checkpoint moved aside); the entry repeats the job's state.
	Warning string `json:"warning,omitempty"`
	// Quarantine is where a damaged store entry of the job was moved (the
	// reason is in Warning); the entry repeats the job's state.
	Quarantine string `json:"quarantine,omitempty"`
	// Decision is a sequential sweep's decision about a cell after a
	// round (the entry names no job).
	Decision *CellDecision `json:"decision,omitempty"`
}

// CellDecision is what a sequential sweep decided about a cell (a pair on
// a data set with an objective) once its seeds' jobs had finished: decided,
// or given one more seed, with the statistics it decided on.
type CellDecision struct {
	Time    time.Time `json:"time"`
	Cell    string    `json:"cell"`
	Seeds   int       `json:"seeds"`
	Decided bool      `json:"decided"`
	// Next is the seeds the cell gets in the next round (0: it stops).
	Next        int                  `json:"next,omitempty"`
	Comparisons []ComparisonDecision `json:"comparisons"`
}

// ComparisonDecision is one deciding comparison's statistics.
type ComparisonDecision struct {
	Protocol string  `json:"protocol"`
	Setting  string  `json:"setting"`
	Encoder  string  `json:"encoder"`
	Verdict  string  `json:"verdict"`
	N        int     `json:"n"`
	Mean     float64 `json:"mean"`
	Half     float64 `json:"half"`
	Level    float64 `json:"level"`
	P        float64 `json:"p"`
}

// Journal is the append-only log of job state changes; replayed, it is the
// state of the sweep.
type Journal struct {
	mu sync.Mutex
	f  *os.File
}

// OpenJournal opens the run's journal for appending. A torn last line (a
// partial write at a crash or power loss) would glue the next entry onto it
// and lose both: it is ended with a newline when it is a whole entry, and
// dropped otherwise; torn says what was done, for a warning.
func OpenJournal(dir string) (j *Journal, torn string, err error) {
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("open journal: %w", err)
	}
	torn, err = mendTail(f)
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("journal %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("journal %s: %w", path, err)
	}
	return &Journal{f: f}, torn, nil
}

// mendTail ends or drops a last line without its newline.
func mendTail(f *os.File) (string, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return "", err
	}
	// The last line is short: read the tail and look for the last newline.
	n := min(st.Size(), 1<<20)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, st.Size()-n); err != nil {
		return "", err
	}
	if buf[n-1] == '\n' {
		return "", nil
	}
	last := buf[bytes.LastIndexByte(buf, '\n')+1:]
	var e Entry
	if json.Unmarshal(last, &e) == nil {
		if _, err := f.WriteAt([]byte{'\n'}, st.Size()); err != nil {
			return "", err
		}
		return "the last line had no newline; one was added", f.Sync()
	}
	if err := f.Truncate(st.Size() - int64(len(last))); err != nil {
		return "", err
	}
	return fmt.Sprintf("dropped a torn last line of %d bytes (a write cut short): %.60q", len(last), last), f.Sync()
}

// Append writes an entry and syncs it to disk.
func (j *Journal) Append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Close closes the journal.
func (j *Journal) Close() error { return j.f.Close() }

// JobState is a job's replayed state.
type JobState struct {
	State job.State
	// Attempts is the number of the job's last attempt; Failures counts
	// the attempts that failed (stopped ones do not).
	Attempts, Failures int
	Last               Entry
	Started            time.Time
}

// History is a replayed journal.
type History struct {
	States map[string]*JobState
	// Skipped counts lines that could not be read (a torn line).
	Skipped int
	// Warnings are the warnings jobs reported, and the entries moved to
	// quarantine, in order.
	Warnings []Entry
	// Decisions are a sequential sweep's decisions, in order.
	Decisions []CellDecision
}

// LastDecisions is the latest decision about each cell, in the order the
// cells were first decided about.
func (h History) LastDecisions() []CellDecision {
	var out []CellDecision
	index := map[string]int{}
	for _, d := range h.Decisions {
		if i, ok := index[d.Cell]; ok {
			out[i] = d
			continue
		}
		index[d.Cell] = len(out)
		out = append(out, d)
	}
	return out
}

// ReadJournal replays the journal: the last state of every job, and how many
// lines it could not read.
func ReadJournal(dir string) (History, error) {
	h := History{States: map[string]*JobState{}}
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil && e.Job == "" && e.Decision != nil {
			h.Decisions = append(h.Decisions, *e.Decision)
			continue
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Job == "" {
			h.Skipped++
			continue
		}
		if e.Warning != "" {
			h.Warnings = append(h.Warnings, e)
		}
		s := h.States[e.Job]
		if s == nil {
			s = &JobState{}
			h.States[e.Job] = s
		}
		s.State, s.Last = e.State, e
		switch e.State {
		case job.StateRunning:
			s.Attempts = max(s.Attempts, e.Attempt)
			s.Started = e.Time
		case job.StateFailed:
			s.Failures++
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("read journal: %w", err)
	}
	return h, nil
}
