package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
)

// The child sees exactly the devices of its slot, mapped through GPUIDs, and
// thread counts that match its CPU slots. A shell script stands in for the
// sweep binary and prints its environment as a record.
func TestChildEnvironment(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-sweep")
	body := `#!/bin/sh
# args: job run --run DIR --job ID --attempt N
mkdir -p "$4/jobs/j"
echo "{\"type\":\"info\",\"message\":\"CUDA=$CUDA_VISIBLE_DEVICES GOMAXPROCS=$GOMAXPROCS\"}"
echo '{}' > "$4/jobs/j/done.json"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	j := &job.Job{ID: "x", Name: "j"}
	for _, tc := range []struct {
		slot controller.Slot
		ids  []string
		want string
	}{
		{controller.Slot{CPUs: 3, GPUs: []int{1}}, []string{"2", "3"}, "CUDA=3 GOMAXPROCS=3"},
		{controller.Slot{CPUs: 1, GPUs: []int{0, 1}}, nil, "CUDA=0,1 GOMAXPROCS=1"},
		{controller.Slot{CPUs: 2}, []string{"0"}, "CUDA= GOMAXPROCS=2"},
	} {
		e := &Executor{RunDir: dir, JobDir: func(j *job.Job) string { return filepath.Join(dir, "jobs", j.Name) }, Binary: script, GPUIDs: tc.ids}
		var got string
		err := e.Run(context.Background(), j, 1, tc.slot, func(rec job.Record) { got = rec.Message })
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("slot %+v: child saw %q, want %q", tc.slot, got, tc.want)
		}
	}
}
