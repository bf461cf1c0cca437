package runner

import (
	"math"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// The residual encoders build on any backend (here the Go backend, at a tiny
// batch), give the feature size of the method, and train.
func TestResidualEncoders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ResNet-50")
	}
	b := testBackend(t)
	info := data.Known()["cifar10"]
	for _, tc := range []struct {
		arch     string
		features int
	}{{"resnet18", 512}, {"resnet50", 2048}, {"wrn-10-2", 128}} {
		t.Run(tc.arch, func(t *testing.T) {
			a, err := lookupArch(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			if a.Features() != tc.features {
				t.Fatalf("features %d, want %d", a.Features(), tc.features)
			}
			store := model.NewStore()
			x := tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32*3), 2, 32, 32, 3)
			out, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node { return encoder(scope, a, x) }, x)
			if err != nil {
				t.Fatal(err)
			}
			if d := out.Shape().Dimensions; d[0] != 2 || d[1] != tc.features {
				t.Fatalf("output shape %v", d)
			}
			if tc.arch == "resnet50" {
				return // one training step of ResNet-50 on CPU is too slow for the suite
			}
			spec := pretrainSpec(job.MethodSolo, []string{tc.arch}, 1, 4, 0)
			spec.Dataset = "cifar10"
			tr, err := newTrainer(b, spec, info)
			if err != nil {
				t.Fatal(err)
			}
			views := tr.randomBatch(1)
			l0, err := tr.step(views, 1e-3)
			if err != nil {
				t.Fatal(err)
			}
			l1, err := tr.step(views, 1e-3)
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(l1[0]) || l1[0] == l0[0] {
				t.Errorf("losses %v -> %v", l0, l1)
			}
		})
	}
}
