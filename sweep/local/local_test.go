package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
)

// The child sees exactly the devices of its slot, mapped through GPUIDs, and
// thread counts that match its CPU slots. A shell script stands in for the
// sweep binary and prints its environment as a record.
func TestChildEnvironment(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-sweep")
	body := `#!/bin/sh
# args: job run FOLDER
echo "{\"type\":\"info\",\"attempt\":1,\"message\":\"CUDA=$CUDA_VISIBLE_DEVICES GOMAXPROCS=$GOMAXPROCS\"}"
echo '{"type":"done","attempt":1}'
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
		e := &Executor{Prepare: func(controller.Task) error { return nil }, Binary: script, GPUIDs: tc.ids}
		var got string
		task := controller.Task{Job: j, Attempt: 1, Dir: jobdir.Dir(filepath.Join(dir, "jobs", j.Name)), Slot: tc.slot}
		err := e.Run(context.Background(), task, func(rec job.Record) {
			if rec.Type == job.RecInfo {
				got = rec.Message
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("slot %+v: child saw %q, want %q", tc.slot, got, tc.want)
		}
	}
}
