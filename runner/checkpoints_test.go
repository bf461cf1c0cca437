package runner

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// A checkpoint that cannot be read (a data file cut short and an empty JSON
// file, as a full disk left them) is moved aside with a warning, and the job
// resumes from the one before: it ends where an uninterrupted run ends.
func TestUnreadableCheckpointFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model three times")
	}
	b := testBackend(t)
	set := synthetic(256, 2)
	three := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 3, 64, 0)
	full := &recorder{}
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: jobdir.Dir(t.TempDir()), Emit: full.emit}, three, set, nil); err != nil {
		t.Fatal(err)
	}
	dir := jobdir.Dir(t.TempDir())
	two := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 2, 64, 0)
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: dir, Emit: func(job.Record) {}}, two, set, nil); err != nil {
		t.Fatal(err)
	}
	ckDir := dir.Checkpoints()
	list, err := dir.ListCheckpoints()
	if err != nil || len(list) != 2 {
		t.Fatalf("checkpoints after 2 epochs: %v %v", list, err)
	}
	newest := list[1]
	bin := filepath.Join(ckDir, newest+".bin")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(bin, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ckDir, newest+".json"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Left-overs of a save that died: a staging folder and a lone data file.
	if err := os.MkdirAll(filepath.Join(ckDir, ".staging-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ckDir, "checkpoint-n0000009-x.bin"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	resumed := &recorder{}
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: dir, Emit: resumed.emit}, three, set, nil); err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, r := range resumed.recs {
		warned = warned || r.Type == job.RecWarning && strings.Contains(r.Message, newest) && strings.Contains(r.Message, "moved to")
	}
	if !warned {
		t.Errorf("no warning about the unreadable checkpoint: %+v", resumed.recs)
	}
	for _, suffix := range []string{".json", ".bin"} {
		if _, err := os.Stat(filepath.Join(ckDir, jobdir.UnreadableCheckpoints, newest+suffix)); err != nil {
			t.Errorf("the unreadable checkpoint was not moved aside: %v", err)
		}
	}
	for _, gone := range []string{".staging-123", "checkpoint-n0000009-x.bin"} {
		if _, err := os.Stat(filepath.Join(ckDir, gone)); err == nil {
			t.Errorf("left-over %s was not removed", gone)
		}
	}
	if _, ok := resumed.metric(1, "loss"); ok {
		t.Error("resumed from the start, not from epoch 1's checkpoint")
	}
	if _, ok := resumed.metric(2, "loss"); !ok {
		t.Error("epoch 2 was not trained again")
	}
	want, _ := full.metric(3, "loss")
	got, ok := resumed.metric(3, "loss")
	if !ok || math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Fatalf("epoch 3 loss: resumed %.6f, uninterrupted %.6f", got, want)
	}
	if list, _ := dir.ListCheckpoints(); len(list) != 2 {
		t.Errorf("%d checkpoints kept, want 2: %v", len(list), list)
	}
}
