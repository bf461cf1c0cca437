package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/google/go-cmp/cmp"
)

func jobRow(id string, attempt int64, realized *float64) JobRow {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return JobRow{Job: id, Name: "linear-" + id, Parent: "p1", Kind: "linear", Dataset: "fashion-mnist", Objective: "simclr",
		Method: "dogo", Arch: "cnn-s", Role: "small", PeerArch: "cnn-l", NoiseRate: 0.2, NoiseKind: "symmetric",
		RealizedNoiseRate: realized, Fraction: 1, OOD: "", Seed: 3, Epochs: 2, Batch: 256, LR: 1e-3, KDWeight: 100,
		KDReduction: "element-mean", Status: "done", Attempt: attempt, Error: "", Start: t0, End: t0.Add(90 * time.Second),
		DurationS: 90, Host: "h", Backend: "go", Devices: "", Version: "v"}
}

func metricRows(id string, attempt int64, n int) []MetricRow {
	var m []MetricRow
	for i := 0; i < n; i++ {
		m = append(m, MetricRow{Job: id, Attempt: attempt, Step: int64(i), Epoch: int64(i / 10), WallS: float64(i) / 2, Peer: int64(i % 2), Split: "test", Name: "accuracy", Value: float64(i) / 100})
	}
	return m
}

func TestRoundTripEveryColumnAndNulls(t *testing.T) {
	dir := t.TempDir()
	r := 0.2
	want := []JobRow{jobRow("a", 1, &r), jobRow("b", 1, nil)}
	want[1].Status, want[1].Error = "failed", "exit status 3\nlast lines"
	for _, j := range want {
		if err := WritePart(dir, j, metricRows(j.Job, j.Attempt, 5)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got.Jobs); d != "" {
		t.Errorf("jobs (-want +got):\n%s", d)
	}
	if len(got.Metrics) != 10 {
		t.Errorf("%d metric rows, want 10", len(got.Metrics))
	}
	// Compaction keeps every row and removes the parts.
	if _, err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "parts", "*.parquet"))
	if len(parts) != 0 {
		t.Errorf("%d parts left after compaction", len(parts))
	}
	again, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, again.Jobs); d != "" {
		t.Errorf("after compaction (-want +got):\n%s", d)
	}
	if d := cmp.Diff(got.Metrics, again.Metrics); d != "" {
		t.Errorf("metrics after compaction (-want +got):\n%s", d)
	}
	for _, f := range []string{"jobs.parquet", "metrics.parquet"} {
		if v, err := FileVersion(filepath.Join(dir, f)); err != nil || v != SchemaVersion {
			t.Errorf("%s schema_version %q, %v", f, v, err)
		}
	}
}

func TestEmptyRun(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "nothing-here"))
	if err != nil || len(got.Jobs) != 0 || len(got.Metrics) != 0 {
		t.Fatalf("empty run: %+v %v", got, err)
	}
	dir := t.TempDir()
	if _, err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	got, err = Read(dir)
	if err != nil || len(got.Jobs) != 0 {
		t.Fatalf("compacted empty run: %+v %v", got, err)
	}
}

// Parts written after a compaction, and a crash between writing the compacted
// files and removing the parts, never count an attempt twice.
func TestManyFilesAndNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		if err := WritePart(dir, jobRow(fmt.Sprintf("j%02d", i), 1, nil), metricRows(fmt.Sprintf("j%02d", i), 1, 3)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash after the merged files were renamed in but before the
	// parts were removed: put one part back.
	if err := WritePart(dir, jobRow("j07", 1, nil), metricRows("j07", 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := WritePart(dir, jobRow("j07", 2, nil), metricRows("j07", 2, 3)); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Jobs) != 41 || len(got.Metrics) != 123 {
		t.Fatalf("%d job rows, %d metric rows; want 41 and 123", len(got.Jobs), len(got.Metrics))
	}
}

// A writer killed in the middle of a file leaves no file that Read sees.
func TestKilledWriterLeavesNoPartialFile(t *testing.T) {
	if os.Getenv("RESULTS_HELPER_DIR") != "" {
		dir := os.Getenv("RESULTS_HELPER_DIR")
		for i := 0; ; i++ {
			id := fmt.Sprintf("k%05d", i)
			_ = WritePart(dir, jobRow(id, 1, nil), metricRows(id, 1, 20000))
		}
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLeavesNoPartialFile$")
		cmd.Env = append(os.Environ(), "RESULTS_HELPER_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it in the middle of a write: once it has written a part,
		// and a temporary file of its next one is there.
		count := func() (int, int) {
			parts, _ := jobdir.JobsParts(dir)
			tmp, _ := filepath.Glob(filepath.Join(dir, "parts", ".*"))
			return len(parts), len(tmp)
		}
		parts0, tmp0 := count()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if parts, tmp := count(); parts > parts0 && tmp > tmp0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the writer wrote nothing")
			}
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, "parts", ".*"))
	got, err := Read(dir)
	if err != nil {
		t.Fatalf("read after killed writers: %v", err)
	}
	if len(got.Jobs) < 3 {
		t.Fatalf("%d attempts read, want the 3 written before the kills at least", len(got.Jobs))
	}
	if len(got.Metrics) != 20000*len(got.Jobs) {
		t.Errorf("%d jobs but %d metric rows: a part was read half-written", len(got.Jobs), len(got.Metrics))
	}
	t.Logf("%d complete attempts read, %d temporary files left by killed writers (never read)", len(got.Jobs), len(tmp))
}

// The files open in DuckDB, an independent Parquet reader, with the
// documented columns. CI installs it (.ci/run); elsewhere set SWEEP_DUCKDB
// to a folder holding node_modules/@duckdb/node-api.
func TestDuckDBReadsTheFiles(t *testing.T) {
	nodeModules := os.Getenv("SWEEP_DUCKDB")
	if nodeModules == "" {
		require.Missing(t, "SWEEP_DUCKDB not set (make test sets it after installing DuckDB from npm)")
	}
	dir := t.TempDir()
	r := 0.19
	for i, method := range []string{"dogo", "solo"} {
		j := jobRow(method, 1, &r)
		j.Method = method
		m := []MetricRow{{Job: j.Job, Attempt: 1, Split: "test", Name: "accuracy_at_best_val", Value: 0.8 + 0.01*float64(i)}}
		if err := WritePart(dir, j, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "../scripts/duckdb-query.cjs", dir)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(nodeModules, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}
	var res struct {
		JobsSchema []struct {
			ColumnName string `json:"column_name"`
			ColumnType string `json:"column_type"`
		} `json:"jobs_schema"`
		Jobs    []struct{ N string } `json:"jobs"`
		Ranking []struct {
			Method string
			Acc    float64
		} `json:"ranking"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	types := map[string]string{}
	for _, c := range res.JobsSchema {
		types[c.ColumnName] = c.ColumnType
	}
	for col, typ := range map[string]string{"job": "VARCHAR", "seed": "BIGINT", "noise_rate": "DOUBLE", "realized_noise_rate": "DOUBLE", "start": "TIMESTAMP", "attempt": "BIGINT"} {
		if !strings.HasPrefix(types[col], typ) {
			t.Errorf("column %s: DuckDB type %q, want %s", col, types[col], typ)
		}
	}
	if len(res.Ranking) != 2 || res.Ranking[0].Method != "solo" {
		t.Errorf("ranking %+v", res.Ranking)
	}
}

func BenchmarkMetricsTable(b *testing.B) {
	const rows = 1_000_000
	m := metricRows("bench", 1, rows)
	dir := b.TempDir()
	path := filepath.Join(dir, "metrics.parquet")
	b.Run("write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := writeAtomic(path, m); err != nil {
				b.Fatal(err)
			}
		}
		st, _ := os.Stat(path)
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(st.Size())/1e6, "MB/1M-rows")
	})
	b.Run("read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := readIfExists[MetricRow](path); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// Compact stopped after any of its steps (a crash) leaves a folder that
// reads back whole, each attempt once: the stop after the new metrics file
// and before the new jobs file is the one that counted metrics twice.
func TestCompactCrashSafeAtEveryStep(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		// Two attempts already compacted, then two more as parts.
		for _, j := range []JobRow{jobRow("a", 1, nil), jobRow("b", 1, nil)} {
			if err := WritePart(dir, j, metricRows(j.Job, j.Attempt, 3)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Compact(dir); err != nil {
			t.Fatal(err)
		}
		for _, j := range []JobRow{jobRow("b", 2, nil), jobRow("c", 1, nil)} {
			if err := WritePart(dir, j, metricRows(j.Job, j.Attempt, 4)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	want, err := Read(setup(t))
	if err != nil || len(want.Jobs) != 4 || len(want.Metrics) != 14 {
		t.Fatalf("before compaction: %d jobs, %d metrics, %v", len(want.Jobs), len(want.Metrics), err)
	}
	crash := errors.New("crash")
	for _, tc := range []struct {
		step string
		n    int // stop at the n-th time the step is reached
	}{{"metrics", 1}, {"jobs", 1}, {"part", 1}, {"part", 3}} {
		t.Run(fmt.Sprintf("%s-%d", tc.step, tc.n), func(t *testing.T) {
			dir := setup(t)
			seen := 0
			_, err := compact(dir, func(step string) error {
				if step == tc.step {
					if seen++; seen == tc.n {
						return crash
					}
				}
				return nil
			})
			if !errors.Is(err, crash) {
				t.Fatalf("compact did not stop at %s: %v", tc.step, err)
			}
			got, err := Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Jobs) != 4 || len(got.Metrics) != 14 {
				t.Errorf("after a stop at %s: %d jobs, %d metrics; want 4 and 14", tc.step, len(got.Jobs), len(got.Metrics))
			}
			// And the next compaction finishes the job.
			if final, err := Compact(dir); err != nil || len(final.Jobs) != 4 || len(final.Metrics) != 14 {
				t.Errorf("compaction after the stop: %v", err)
			}
		})
	}
}
