// Package results stores every number a sweep produces in Parquet: a jobs
// table (one row per job attempt, every configuration axis a typed column)
// and a metrics table in long form. Each job attempt writes its own part
// files atomically; compaction merges them into one file per table. Readers
// see whole files only and never count a job attempt twice.
//
// Schema (schema_version 3, stored in each file's key-value metadata):
//
//	jobs.parquet:    job, name, parent, kind, dataset, objective, method, arch,
//	                 role, peer_arch, noise_rate, noise_kind, realized_noise_rate (nullable),
//	                 fraction, ood, seed, epochs, batch, lr, kd_weight, kd_reduction,
//	                 status, attempt, error, start, end, duration_s, host, backend, devices, version,
//	                 data_dir (schema 2; absent from version 1 files),
//	                 build (schema 3: the program that computed the job, see jobdir.Build.Code)
//	metrics.parquet: job, attempt, step, epoch, wall_s, peer, split, name, value
package results

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/parquet-go/parquet-go"
)

// SchemaVersion is stored in every file; readers accept this and older versions.
const SchemaVersion = "3"

// JobRow is one attempt of one job.
type JobRow struct {
	Job               string    `parquet:"job"`
	Name              string    `parquet:"name"`
	Parent            string    `parquet:"parent"`
	Kind              string    `parquet:"kind"`
	Dataset           string    `parquet:"dataset"`
	Objective         string    `parquet:"objective"`
	Method            string    `parquet:"method"`
	Arch              string    `parquet:"arch"`
	Role              string    `parquet:"role"`
	PeerArch          string    `parquet:"peer_arch"`
	NoiseRate         float64   `parquet:"noise_rate"`
	NoiseKind         string    `parquet:"noise_kind"`
	RealizedNoiseRate *float64  `parquet:"realized_noise_rate,optional"`
	Fraction          float64   `parquet:"fraction"`
	OOD               string    `parquet:"ood"`
	Seed              int64     `parquet:"seed"`
	Epochs            int64     `parquet:"epochs"`
	Batch             int64     `parquet:"batch"`
	LR                float64   `parquet:"lr"`
	KDWeight          float64   `parquet:"kd_weight"`
	KDReduction       string    `parquet:"kd_reduction"`
	Status            string    `parquet:"status"`
	Attempt           int64     `parquet:"attempt"`
	Error             string    `parquet:"error"`
	Start             time.Time `parquet:"start,timestamp(millisecond)"`
	End               time.Time `parquet:"end,timestamp(millisecond)"`
	DurationS         float64   `parquet:"duration_s"`
	Host              string    `parquet:"host"`
	Backend           string    `parquet:"backend"`
	Devices           string    `parquet:"devices"`
	Version           string    `parquet:"version"`
	// DataDir is the folder the job read its data set from (schema 2).
	DataDir string `parquet:"data_dir,optional"`
	// Build is the program that computed the job (schema 3).
	Build string `parquet:"build,optional"`
}

// MetricRow is one value a job reported.
type MetricRow struct {
	Job     string  `parquet:"job"`
	Attempt int64   `parquet:"attempt"`
	Step    int64   `parquet:"step"`
	Epoch   int64   `parquet:"epoch"`
	WallS   float64 `parquet:"wall_s"`
	Peer    int64   `parquet:"peer"`
	Split   string  `parquet:"split"`
	Name    string  `parquet:"name"`
	Value   float64 `parquet:"value"`
}

// Tables are a run's results.
type Tables struct {
	Jobs    []JobRow
	Metrics []MetricRow
}

// Gather reads the result parts of many jobs' folders (their results
// folders, jobdir.Dir.Results) into one set of tables.
func Gather(dirs []string) (*Tables, error) {
	t := &Tables{}
	for _, d := range dirs {
		part, err := Read(d)
		if err != nil {
			return nil, err
		}
		t.Jobs = append(t.Jobs, part.Jobs...)
		t.Metrics = append(t.Metrics, part.Metrics...)
	}
	return t, nil
}

// Write replaces dir's jobs.parquet and metrics.parquet with t, metrics first
// (Read ignores compacted metrics whose attempt jobs.parquet lacks, so a crash
// between the two leaves a consistent, if older, view).
func Write(dir string, t *Tables) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sort.SliceStable(t.Jobs, func(i, j int) bool {
		if t.Jobs[i].Job != t.Jobs[j].Job {
			return t.Jobs[i].Job < t.Jobs[j].Job
		}
		return t.Jobs[i].Attempt < t.Jobs[j].Attempt
	})
	if err := writeAtomic(filepath.Join(dir, jobdir.MetricsTable), t.Metrics); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, jobdir.JobsTable), t.Jobs)
}

// WritePart writes one job attempt's rows as two part files, each atomically.
func WritePart(dir string, job JobRow, metrics []MetricRow) error {
	jobsPart, metricsPart := jobdir.PartFiles(dir, job.Job, int(job.Attempt))
	// Metrics first: a jobs part is the sign that the attempt is complete.
	if err := writeAtomic(metricsPart, metrics); err != nil {
		return err
	}
	return writeAtomic(jobsPart, []JobRow{job})
}

func writeAtomic[T any](path string, rows []T) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.KeyValueMetadata("schema_version", SchemaVersion),
		parquet.KeyValueMetadata("writer", "dogo-sweep"), parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("parquet %s: %w", filepath.Base(path), err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("parquet %s: %w", filepath.Base(path), err)
	}
	return atomicfile.Write(path, buf.Bytes())
}

type attemptKey struct {
	job     string
	attempt int64
}

// Read returns a run's tables: the compacted files plus any parts not yet
// compacted, with each job attempt counted once. Compacted metrics count only
// for the attempts the compacted jobs file holds (Compact writes metrics
// first: after a crash between its two files, the parts still hold the rest).
// Temporary files are never read.
func Read(dir string) (*Tables, error) {
	t := &Tables{}
	seen := map[attemptKey]bool{}
	rows, err := readIfExists[JobRow](filepath.Join(dir, jobdir.JobsTable))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		seen[attemptKey{r.Job, r.Attempt}] = true
	}
	t.Jobs = rows
	mrows, err := readIfExists[MetricRow](filepath.Join(dir, jobdir.MetricsTable))
	if err != nil {
		return nil, err
	}
	for _, m := range mrows {
		if seen[attemptKey{m.Job, m.Attempt}] {
			t.Metrics = append(t.Metrics, m)
		}
	}
	parts, err := jobdir.JobsParts(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		rows, err := parquet.ReadFile[JobRow](p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if len(rows) != 1 || seen[attemptKey{rows[0].Job, rows[0].Attempt}] {
			continue
		}
		r := rows[0]
		seen[attemptKey{r.Job, r.Attempt}] = true
		// A jobs part is written after its metrics part: one without it was
		// damaged, and reading it as no metrics would read as zeros.
		m, err := parquet.ReadFile[MetricRow](jobdir.MetricsPartOf(p))
		if err != nil {
			return nil, fmt.Errorf("read the metrics of %s: %w", p, err)
		}
		t.Jobs = append(t.Jobs, r)
		t.Metrics = append(t.Metrics, m...)
	}
	return t, nil
}

func readIfExists[T any](path string) ([]T, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, nil
	}
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// Compact merges every part into jobs.parquet and metrics.parquet and removes
// the parts. A crash at any step leaves a folder that Read reads whole and
// without duplicates: metrics.parquet is renamed into place first, then
// jobs.parquet (Read ignores compacted metrics of attempts that jobs.parquet
// lacks), and parts are removed only after both.
func Compact(dir string) (*Tables, error) {
	return compact(dir, func(string) error { return nil })
}

// compact is Compact with a hook after each step ("metrics", "jobs",
// "part"), which tests use to stop it there.
func compact(dir string, after func(step string) error) (*Tables, error) {
	t, err := Read(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sort.SliceStable(t.Jobs, func(i, j int) bool {
		if t.Jobs[i].Job != t.Jobs[j].Job {
			return t.Jobs[i].Job < t.Jobs[j].Job
		}
		return t.Jobs[i].Attempt < t.Jobs[j].Attempt
	})
	if err := writeAtomic(filepath.Join(dir, jobdir.MetricsTable), t.Metrics); err != nil {
		return nil, err
	}
	if err := after("metrics"); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, jobdir.JobsTable), t.Jobs); err != nil {
		return nil, err
	}
	if err := after("jobs"); err != nil {
		return nil, err
	}
	parts, err := filepath.Glob(filepath.Join(jobdir.PartsDir(dir), "*.parquet"))
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
		if err := after("part"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// FileVersion returns the schema version stored in a Parquet file.
func FileVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return "", err
	}
	v, _ := pf.Lookup("schema_version")
	return v, nil
}
