package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// featureBatch is the fixed batch shape of feature extraction (the last
// batch is padded), so that one graph serves every split.
const featureBatch = 500

// Features runs one frozen encoder once over the training split (or its
// subset), the test split and every OOD set, and writes them for the probes.
// parent is the pretraining job's store entry ("" for reference encoders);
// its checkpoint is checked against the entry's manifest before it is
// loaded, and every variable of the encoder must come from it.
func Features(ctx context.Context, env Env, spec job.Spec, parent jobdir.Dir) error {
	train, err := env.data().Load(spec.Dataset, "train")
	if err != nil {
		return job.Permanent(err)
	}
	test, err := env.data().Load(spec.Dataset, "test")
	if err != nil {
		return job.Permanent(err)
	}
	trainIdx := subset(train.N, spec.TrainSubset, uint64(spec.Seed)+0x7e57)
	sets := map[string]*data.Set{}
	for _, o := range spec.OOD {
		if src, ok := job.CrossDatasetOOD(o); ok {
			other, err := env.data().Load(src, "test")
			if err != nil {
				return job.Permanent(err)
			}
			cs, err := data.CrossDataset(train.Info, other)
			if err != nil {
				return job.Permanent(err)
			}
			sets[o] = cs
			continue
		}
		c, sev, ok := job.ParseOOD(o)
		if !ok {
			return job.Permanent(fmt.Errorf("unknown OOD set %q", o))
		}
		cs, err := data.Corrupt(test, c, sev, 1234)
		if err != nil {
			return job.Permanent(err)
		}
		sets[o] = cs
	}
	var encode func(s *data.Set, idx []int) ([]float32, int, error)
	switch spec.Method {
	case job.MethodPixels:
		encode = func(s *data.Set, idx []int) ([]float32, int, error) {
			p := s.Info.Pixels()
			out := make([]float32, len(idx)*p)
			for i, r := range idx {
				normalize(s.Info, s.Image(r), out[i*p:(i+1)*p])
			}
			return out, p, nil
		}
	default:
		a, err := lookupArch(spec.Arch)
		if err != nil {
			return job.Permanent(err)
		}
		a.nativeConv = nativeConv(env.Backend)
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(spec.Seed)+1)
		var loaded map[string]bool
		if spec.Method != job.MethodRandom {
			if loaded, err = loadFinished(store, parent, spec.Parent); err != nil {
				return err
			}
		}
		peer := spec.Peer
		exec, err := model.NewExec(env.Backend, store, func(scope *model.Scope, x *Node) *Node {
			return encoder(scope.In("peer%d", peer).In("encoder"), a, x)
		})
		if err != nil {
			return err
		}
		defer exec.Finalize()
		checked := loaded == nil
		encode = func(s *data.Set, idx []int) ([]float32, int, error) {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			out, dim, err := encodeSet(env.Backend, exec, s, idx)
			if err != nil {
				return nil, 0, fmt.Errorf("encode %s: %w", s.Split, err)
			}
			if !checked { // the graph has asked for its variables now
				checked = true
				if err := fromCheckpoint(store, loaded, peer, spec.Parent); err != nil {
					return nil, 0, err
				}
			}
			return out, dim, nil
		}
	}
	f := &probe.Features{Classes: train.Info.Classes, OOD: map[string][]float32{}, OODLabels: map[string][]int32{}}
	encoded := 0
	if f.Train, f.Dim, err = encode(train, trainIdx); err != nil {
		return err
	}
	encoded += len(trainIdx)
	for _, i := range trainIdx {
		f.TrainLabels = append(f.TrainLabels, train.Labels[i])
	}
	all := make([]int, test.N)
	for i := range all {
		all[i] = i
	}
	if f.Test, _, err = encode(test, all); err != nil {
		return err
	}
	encoded += test.N
	f.TestLabels = test.Labels
	for name, s := range sets {
		idx := make([]int, s.N)
		for i := range idx {
			idx[i] = i
		}
		if f.OOD[name], _, err = encode(s, idx); err != nil {
			return err
		}
		f.OODLabels[name] = s.Labels
		encoded += s.N
	}
	env.Emit(job.Record{Type: job.RecInfo, Name: "images_encoded", Value: float64(encoded)})
	return f.Write(env.Dir.Features())
}

// fromCheckpoint checks that every variable of a peer's encoder came from
// the checkpoint (none was initialised afresh because the checkpoint lacks
// it: the features of an untrained encoder would pass for the trained one's).
func fromCheckpoint(store *model.Store, loaded map[string]bool, peer int, parentID string) error {
	prefix := fmt.Sprintf("/peer%d/encoder/", peer)
	n := 0
	for v := range store.IterVariables() {
		if p := v.Path(); strings.HasPrefix(p, prefix) {
			n++
			if !loaded[p] {
				return &job.DamagedInputError{Job: parentID, Err: fmt.Errorf("the checkpoint of pretraining job %s lacks the encoder's variable %s", parentID, p)}
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("the encoder of peer %d has no variables under %s", peer, prefix)
	}
	return nil
}

// encodeSet runs an encoder over images of a set in fixed-size batches (the
// last one padded) and returns the features and their dimension. The
// images are normalized straight into the input tensor, which shares its
// memory with the backend where it can, and the features are read straight
// off each result into an array sized at the first batch (copying and
// growing them was a fifth of a features job on the Go backend).
func encodeSet(backend compute.Backend, exec *model.Exec, s *data.Set, idx []int) ([]float32, int, error) {
	info := s.Info
	p := info.Pixels()
	in, err := tensors.FromShapeForBackend(backend, 0, shapes.Make(dtypes.Float32, featureBatch, info.Height, info.Width, info.Channels))
	if err != nil {
		return nil, 0, err
	}
	defer in.FinalizeAll()
	var out []float32
	dim := 0
	for start := 0; start < len(idx); start += featureBatch {
		n := min(featureBatch, len(idx)-start)
		tensors.MustMutableFlatData(in, func(buf []float32) {
			clear(buf[n*p:])
			for i := 0; i < n; i++ {
				normalize(info, s.Image(idx[start+i]), buf[i*p:(i+1)*p])
			}
		})
		var res *tensors.Tensor
		err := exceptions.TryCatch[error](func() { res = exec.MustCall1(in) })
		if err != nil {
			return nil, 0, fmt.Errorf("the encoder graph failed: %w", err)
		}
		tensors.MustConstFlatData(res, func(flat []float32) {
			if out == nil {
				dim = len(flat) / featureBatch
				out = make([]float32, 0, len(idx)*dim)
			}
			out = append(out, flat[:n*dim]...)
		})
		res.FinalizeAll()
	}
	return out, dim, nil
}
