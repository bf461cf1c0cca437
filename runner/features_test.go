package runner

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// The checkpoint file suffixes jobdir spells are GoMLX's.
func TestCheckpointSuffixesAreGoMLXs(t *testing.T) {
	if jobdir.CheckpointJSON != checkpoint.JsonNameSuffix || jobdir.CheckpointBin != checkpoint.BinDataSuffix {
		t.Errorf("jobdir says %q and %q, GoMLX %q and %q", jobdir.CheckpointJSON, jobdir.CheckpointBin, checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix)
	}
}

// finishedPretraining trains a solo mlp-s for one epoch into a folder and
// gives it a manifest, as a store entry of job "p1".
func finishedPretraining(t *testing.T) jobdir.Dir {
	t.Helper()
	d := jobdir.Dir(t.TempDir())
	spec := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 1, 64, 0)
	if err := pretrainOn(context.Background(), Env{Backend: testBackend(t), Dir: d, Emit: func(job.Record) {}}, spec, synthetic(128, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteManifest(jobdir.Manifest{Job: "p1", Kind: string(job.KindPretrain)}); err != nil {
		t.Fatal(err)
	}
	return d
}

// A features job loads its parent's checkpoint only when it matches the
// parent's manifest, and every variable of its encoder must come from it.
// Flipped bits in the checkpoint, a checkpoint folder that is gone (GoMLX
// would make an empty one, and the features of an untrained encoder would
// pass for the trained one's), or a checkpoint without the peer's encoder
// are the parent's damage, never features.
func TestFeaturesRefuseADamagedParent(t *testing.T) {
	dataDir := t.TempDir()
	if err := data.WriteSynthetic(dataDir, 200, 100, 1); err != nil {
		t.Fatal(err)
	}
	healthy := finishedPretraining(t)
	spec := job.Spec{Kind: job.KindFeatures, Dataset: "fashion-mnist", Method: job.MethodSolo, Seed: 7, Parent: "p1", Arch: "mlp-s", Role: job.RoleSolo}
	extract := func(parent jobdir.Dir, spec job.Spec) (jobdir.Dir, error) {
		out := jobdir.Dir(t.TempDir())
		return out, Features(context.Background(), Env{Backend: testBackend(t), DataDir: dataDir, Dir: out, Emit: func(job.Record) {}}, spec, parent)
	}
	if out, err := extract(healthy, spec); err != nil {
		t.Fatalf("a healthy parent: %v", err)
	} else if _, err := os.Stat(out.Features()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func(d jobdir.Dir)
		peer   int
		want   string
	}{
		{"flipped bits", func(d jobdir.Dir) {
			list, _ := d.ListCheckpoints()
			_, bin, _ := d.CheckpointFiles(list[len(list)-1])
			b, _ := os.ReadFile(bin)
			b[len(b)/2] ^= 0x10
			os.WriteFile(bin, b, 0o644)
		}, 0, "does not match its manifest"},
		{"checkpoints gone", func(d jobdir.Dir) { os.RemoveAll(d.Checkpoints()) }, 0, "no checkpoint"},
		{"no encoder of that peer", func(jobdir.Dir) {}, 1, "lacks the encoder's variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := jobdir.Dir(t.TempDir())
			if err := os.CopyFS(parent.Path(), os.DirFS(healthy.Path())); err != nil {
				t.Fatal(err)
			}
			tc.damage(parent)
			sp := spec
			sp.Peer = tc.peer
			out, err := extract(parent, sp)
			var damaged *job.DamagedInputError
			if !errors.As(err, &damaged) || damaged.Job != "p1" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want the parent's damage saying %q", err, tc.want)
			}
			if _, err := os.Stat(out.Features()); err == nil {
				t.Error("features were written")
			}
		})
	}
}

// A checkpoint of a work folder whose data no longer matches its checksum
// (flipped bits, which GoMLX would load without a word) is moved aside on
// resume, with a warning, and the one before it is loaded.
func TestDamagedCheckpointIsNotResumedFrom(t *testing.T) {
	d := jobdir.Dir(t.TempDir())
	spec := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 2, 64, 0)
	if err := pretrainOn(context.Background(), Env{Backend: testBackend(t), Dir: d, Emit: func(job.Record) {}}, spec, synthetic(128, 1), nil); err != nil {
		t.Fatal(err)
	}
	list, _ := d.ListCheckpoints()
	if len(list) != 2 {
		t.Fatalf("checkpoints: %v", list)
	}
	_, bin, _ := d.CheckpointFiles(list[1])
	b, _ := os.ReadFile(bin)
	b[len(b)-5] ^= 0x01
	os.WriteFile(bin, b, 0o644)
	var warnings []string
	if _, err := openCheckpoints(model.NewStore(), d, 2, func(w string) { warnings = append(warnings, w) }); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], list[1]) || !strings.Contains(warnings[0], "checksums") {
		t.Errorf("warnings %q", warnings)
	}
	if now, _ := d.ListCheckpoints(); len(now) != 1 || now[0] != list[0] {
		t.Errorf("checkpoints after the resume: %v", now)
	}
}
