package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/dogo-sweep/sweep/data"
	"github.com/dogo-sweep/sweep/sweep"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Env is what a job needs from its surroundings.
type Env struct {
	Backend compute.Backend
	DataDir string
	// Dir is the job's folder (checkpoints, outputs).
	Dir  string
	Emit func(sweep.Record)
}

// peerSpec is one encoder of a pretraining job.
type peerSpec struct {
	arch      archSpec
	objective string
}

// stepOutputs: total loss, then per peer the SSL loss and the KD term.
type trainer struct {
	spec    sweep.Spec
	store   *model.Store
	exec    *model.Exec
	peers   []peerSpec
	lrVar   *model.Variable
	batch   int
	pixels  int
	augment []*augmenter
}

func peersOf(spec sweep.Spec) ([]peerSpec, error) {
	objs := []string{spec.Objective}
	if spec.Method == sweep.MethodDoGo {
		s, l := sweep.SplitObjective(spec.Objective)
		objs = []string{s, l}
	}
	var ps []peerSpec
	for i, a := range spec.Archs {
		as, err := lookupArch(a)
		if err != nil {
			return nil, err
		}
		if objs[i] != "simclr" {
			return nil, fmt.Errorf("objective %s is not implemented in this build (simclr is)", objs[i])
		}
		ps = append(ps, peerSpec{arch: as, objective: objs[i]})
	}
	return ps, nil
}

// buildStep is the training step graph: each peer encodes its own two views
// (one pass over 2B images), computes NT-Xent, and for a DoGo pair the KL of
// its cross-view softmax against its detached peer's; the sum of both peers'
// losses is differentiated once and both peers step together.
func (t *trainer) buildStep(scope *model.Scope, inputs []*Node) []*Node {
	p := t.spec.Pretrain
	g := inputs[0].Graph()
	var ssl, views [][2]*Node
	for k, ps := range t.peers {
		x := inputs[k]
		s := scope.In("peer%d", k)
		z := projector(s.In("head"), encoder(s.In("encoder"), ps.arch, x))
		a := Slice(z, AxisRange(0, t.batch))
		b := Slice(z, AxisRange(t.batch, 2*t.batch))
		views = append(views, [2]*Node{a, b})
		ssl = append(ssl, [2]*Node{ntXent(a, b, p.Temperature), nil})
	}
	total := ScalarZero(g, dtypes.Float32)
	outs := []*Node{nil}
	for k := range t.peers {
		kd := ScalarZero(g, dtypes.Float32)
		if len(t.peers) == 2 {
			o := 1 - k
			self := crossView(views[k][0], views[k][1], p.KDTemperature)
			peer := crossView(views[o][0], views[o][1], p.KDTemperature)
			kd = dogoKL(self, peer, p.KDReduction)
		}
		lk := Add(ssl[k][0], MulScalar(kd, p.KDWeight))
		total = Add(total, lk)
		outs = append(outs, ssl[k][0], kd)
	}
	opt := optimizer.Adam().LearningRate(p.LR).WeightDecay(p.WeightDecay).Done()
	opt.UpdateGraph(scope, g, total)
	outs[0] = total
	return outs
}

// Pretrain trains the encoder(s) of a pretraining job, checkpointing every
// CheckpointEvery epochs; a restarted job resumes from its last checkpoint
// with the same data order and views as an uninterrupted run.
func Pretrain(ctx context.Context, env Env, spec sweep.Spec) error {
	peers, err := peersOf(spec)
	if err != nil {
		return permanent(err)
	}
	set, err := data.Load(spec.Dataset, "train", env.DataDir)
	if err != nil {
		return permanent(err)
	}
	p := spec.Pretrain
	idx := subset(set.N, p.TrainSubset, uint64(spec.Seed))
	stepsPerEpoch := len(idx) / p.Batch
	if stepsPerEpoch == 0 {
		return permanent(fmt.Errorf("batch %d is larger than the %d training images", p.Batch, len(idx)))
	}
	t := &trainer{spec: spec, peers: peers, batch: p.Batch, pixels: set.Info.Pixels()}
	for _, ps := range peers {
		t.augment = append(t.augment, newAugmenter(set.Info, ps.objective))
	}
	t.store = model.NewStore()
	t.store.SetParam(model.ParamInitialSeed, int64(spec.Seed)+1)
	t.lrVar = optimizer.LearningRateVar(t.store.RootScope(), dtypes.Float32, p.LR)
	ckDir := filepath.Join(env.Dir, "checkpoints")
	ck, err := checkpoint.Build(t.store).Dir(ckDir).Keep(2).Done()
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	t.exec, err = model.NewExec(env.Backend, t.store, t.buildStep)
	if err != nil {
		return err
	}
	defer t.exec.Finalize()

	h, w, c := set.Info.Height, set.Info.Width, set.Info.Channels
	bufs := make([][]float32, len(peers))
	for k := range bufs {
		bufs[k] = make([]float32, 2*p.Batch*t.pixels)
	}
	// Resume: the global step says where the last checkpoint was taken.
	step := int64(0)
	if v := t.store.GetVariable("/" + optimizer.GlobalStepVariableName); v != nil {
		step = optimizer.GetGlobalStep(t.store)
	}
	startEpoch := int(step) / stepsPerEpoch
	if startEpoch > 0 {
		env.Emit(sweep.Record{Type: sweep.RecInfo, Name: "resumed_from_epoch", Value: float64(startEpoch)})
	}
	totalSteps := int64(p.Epochs * stepsPerEpoch)
	for epoch := startEpoch; epoch < p.Epochs; epoch++ {
		order := permutation(len(idx), uint64(spec.Seed), uint64(epoch))
		t0 := time.Now()
		var sums [5]float64
		for s := 0; s < stepsPerEpoch; s++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			gstep := int64(epoch*stepsPerEpoch + s)
			lr := p.LR
			if p.Schedule == "cosine" {
				lr = p.LR * 0.5 * (1 + math.Cos(math.Pi*float64(gstep)/float64(totalSteps)))
			}
			if err := t.lrVar.SetValue(tensors.FromValue(float32(lr))); err != nil {
				return err
			}
			for k := range peers {
				rng := rand.New(rand.NewPCG(uint64(spec.Seed)<<32|uint64(k), uint64(gstep)))
				for i := 0; i < p.Batch; i++ {
					img := set.Image(idx[order[s*p.Batch+i]])
					t.augment[k].view(rng, img, bufs[k][i*t.pixels:(i+1)*t.pixels])
					t.augment[k].view(rng, img, bufs[k][(p.Batch+i)*t.pixels:(p.Batch+i+1)*t.pixels])
				}
			}
			args := make([]any, len(peers))
			for k := range peers {
				args[k] = tensors.FromFlatDataAndDimensions(bufs[k], 2*p.Batch, h, w, c)
			}
			var outs []*tensors.Tensor
			err := exceptions.TryCatch[error](func() { outs = t.exec.MustExec(args...) })
			if err != nil {
				return fmt.Errorf("training step %d: %w", gstep, err)
			}
			vals := make([]float64, len(outs))
			for i, o := range outs {
				vals[i] = float64(tensors.ToScalar[float32](o))
				o.FinalizeAll()
			}
			if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
				return permanent(fmt.Errorf("loss is %v at step %d (epoch %d): lower the learning rate or the KD weight", vals[0], gstep, epoch))
			}
			for i, v := range vals {
				sums[i] += v
			}
			if s%20 == 0 || s == stepsPerEpoch-1 {
				env.Emit(sweep.Record{Type: sweep.RecProgress, Step: gstep + 1, Epoch: epoch + 1, Epochs: p.Epochs,
					Name: "loss", Value: vals[0], ImagesPerSec: float64((s+1)*p.Batch) / time.Since(t0).Seconds()})
			}
		}
		secs := time.Since(t0).Seconds()
		n := float64(stepsPerEpoch)
		for k := range peers {
			for i, name := range []string{"ssl_loss", "kd_loss"} {
				env.Emit(sweep.Record{Type: sweep.RecMetric, Epoch: epoch + 1, Step: int64((epoch + 1) * stepsPerEpoch), Peer: k, Split: "train", Name: name, Value: sums[1+2*k+i] / n})
			}
		}
		env.Emit(sweep.Record{Type: sweep.RecMetric, Epoch: epoch + 1, Step: int64((epoch + 1) * stepsPerEpoch), Split: "train", Name: "loss", Value: sums[0] / n})
		env.Emit(sweep.Record{Type: sweep.RecMetric, Epoch: epoch + 1, Step: int64((epoch + 1) * stepsPerEpoch), Split: "train", Name: "images_per_second", Value: float64(stepsPerEpoch*p.Batch) / secs})
		env.Emit(sweep.Record{Type: sweep.RecMetric, Epoch: epoch + 1, Step: int64((epoch + 1) * stepsPerEpoch), Split: "train", Name: "lr", Value: currentLR(p, int64((epoch+1)*stepsPerEpoch-1), totalSteps)})
		if (epoch+1)%p.CheckpointEvery == 0 || epoch+1 == p.Epochs {
			if err := ck.Save(); err != nil {
				return fmt.Errorf("save checkpoint: %w", err)
			}
		}
	}
	return nil
}

func currentLR(p *sweep.Pretrain, step, total int64) float64 {
	if p.Schedule == "cosine" {
		return p.LR * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total)))
	}
	return p.LR
}

// subset returns the indices of the training images a job uses: all of them,
// or a seeded random subset of n.
func subset(total, n int, seed uint64) []int {
	idx := make([]int, total)
	for i := range idx {
		idx[i] = i
	}
	if n <= 0 || n >= total {
		return idx
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rng.Shuffle(total, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	return idx[:n]
}

// permutation is the data order of an epoch: a function of seed and epoch
// only, so a resumed job sees the same order as an uninterrupted one.
func permutation(n int, seed, epoch uint64) []int {
	rng := rand.New(rand.NewPCG(seed, epoch+1))
	return rng.Perm(n)
}

// PermanentError marks errors a retry cannot fix.
type PermanentError struct{ Err error }

func (e PermanentError) Error() string { return e.Err.Error() }
func (e PermanentError) Unwrap() error { return e.Err }

func permanent(err error) error { return PermanentError{err} }

// IsPermanent reports whether err cannot be fixed by a retry.
func IsPermanent(err error) bool {
	var p PermanentError
	var m *data.MissingError
	var n ErrNotInBuild
	return errors.As(err, &p) || errors.As(err, &m) || errors.As(err, &n)
}

var _ = os.Stat
