package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/matmul"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Env is what a job needs from its surroundings.
type Env struct {
	Backend compute.Backend
	// DataDir is the only folder data sets are read from ("": the system's);
	// DataCache keeps decompressed copies of their files ("": none).
	DataDir, DataCache string
	// Dir is the job's folder (checkpoints, outputs).
	Dir  jobdir.Dir
	Emit func(job.Record)
}

func (e Env) data() data.Source { return data.Source{Dir: e.DataDir, Cache: e.DataCache} }

// warn reports something the job recovered from, as a warning record.
func (e Env) warn(msg string) {
	e.Emit(job.Record{Type: job.RecWarning, Message: msg})
}

// peerSpec is one encoder of a pretraining job.
type peerSpec struct {
	arch      archSpec
	objective string
}

// trainer holds a pretraining job's model and its compiled step, whose
// outputs are the total loss, then per peer the SSL loss and the KD term.
type trainer struct {
	spec    job.Spec
	store   *model.Store
	exec    *model.Exec
	peers   []peerSpec
	batch   int
	info    data.Info
	augment []*augmenter
	// dtype is what the encoders and heads compute in: float32, or
	// bfloat16 for mixed precision (weights, optimizer and losses stay
	// float32).
	dtype dtypes.DType
	// stepFLOPs are the FLOPs of the step's matrix products (flops.go),
	// known once the step graph is built (at the first step).
	stepFLOPs float64
	// matmul multiplies in the kNN monitor (measured once per job).
	matmul  matmul.Kernels
	backend compute.Backend
	// noNoise is the noise input of a peer without noise (one unused byte).
	noNoise *tensors.Tensor
}

// stepBatch is the input of one training step: B raw images, the
// parameters of each peer's two views of each image (peer, view, image:
// [P, 2, B, viewParams] flattened), and the random bytes of each peer's
// noise ([4, 2B, H, W, C], on the backend where it shares memory with Go:
// drawn in place, never copied; nil for a peer that adds none).
type stepBatch struct {
	images []uint8
	params []float32
	noise  []*tensors.Tensor
}

// newBatch allocates a step's input buffers.
func (t *trainer) newBatch() stepBatch {
	b := stepBatch{
		images: make([]uint8, t.batch*t.info.Pixels()),
		params: make([]float32, len(t.peers)*2*t.batch*viewParams),
	}
	b.noise = make([]*tensors.Tensor, len(t.peers))
	for k, a := range t.augment {
		if a.noise > 0 {
			var err error
			if b.noise[k], err = tensors.FromShapeForBackend(t.backend, 0, t.noiseShape(k)); err != nil {
				b.noise[k] = tensors.FromShape(t.noiseShape(k))
			}
		}
	}
	return b
}

// drawViews writes the view parameters and the noise of a step into b:
// each image of each peer has its own seed (seed, peer, step, image), and
// each peer's noise its own (seed, peer, step), so that the views of a step
// never depend on what came before it.
func (t *trainer) drawViews(b stepBatch, seed, gstep uint64) {
	for k := range t.peers {
		for i := 0; i < t.batch; i++ {
			rng := rand.New(rand.NewPCG(seed<<32|uint64(k), gstep<<20|uint64(i)))
			for v := 0; v < 2; v++ {
				at := ((k*2+v)*t.batch + i) * viewParams
				t.augment[k].draw(rng, b.params[at:at+viewParams])
			}
		}
		if b.noise[k] != nil {
			tensors.MustMutableFlatData(b.noise[k], func(flat []uint8) { drawNoise(flat, seed, k, gstep) })
		}
	}
}

func peersOf(spec job.Spec, backend compute.Backend) ([]peerSpec, error) {
	objs := []string{spec.Objective}
	if spec.Method == job.MethodDoGo {
		s, l := job.SplitObjective(spec.Objective)
		objs = []string{s, l}
	}
	var ps []peerSpec
	for i, a := range spec.Archs {
		as, err := lookupArch(a)
		if err != nil {
			return nil, err
		}
		as.nativeConv = nativeConv(backend)
		if objs[i] != "simclr" && objs[i] != "simsiam" {
			return nil, fmt.Errorf("unknown objective %s (simclr, simsiam)", objs[i])
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
	images, params, lr, noise := inputs[0], inputs[1], inputs[2], inputs[3:]
	g := images.Graph()
	t.store.SetTraining(g, true) // batch statistics in BatchNorm
	flops := countFLOPs(g)
	defer func() { t.stepFLOPs = flops.total }()
	// Per peer: its SSL loss, the pair of cross-view embeddings its KD term
	// is computed from, and the pair a SimSiam peer offers as a detached
	// target to another SimSiam peer (its projector outputs).
	n := len(t.peers)
	ssl := make([]*Node, n)
	self := make([][2]*Node, n)
	proj := make([][2]*Node, n)
	half := func(x *Node) [2]*Node {
		return [2]*Node{Slice(x, AxisRange(0, t.batch)), Slice(x, AxisRange(t.batch, 2*t.batch))}
	}
	// Both views of every image: [2B, H, W, C], first views then second.
	twice := Concatenate([]*Node{images, images}, 0)
	f32 := func(x *Node) *Node { return ConvertDType(x, dtypes.Float32) }
	for k, ps := range t.peers {
		var peerNoise *Node
		if t.augment[k].noise > 0 {
			peerNoise = noise[k]
		}
		x := t.augment[k].augmentViews(twice, Reshape(Slice(params, AxisElem(k)), 2*t.batch, viewParams), peerNoise)
		x = ConvertDType(x, t.dtype)
		s := scope.In("peer%d", k)
		f := encoder(s.In("encoder"), ps.arch, x)
		switch ps.objective {
		case "simsiam":
			z := simsiamProjector(s.In("head"), f)
			p := simsiamPredictor(s.In("predictor"), z)
			zz, pp := half(f32(z)), half(f32(p))
			ssl[k] = simsiamLoss(zz[0], zz[1], pp[0], pp[1])
			self[k], proj[k] = pp, zz
		default:
			ab := half(f32(projector(s.In("head"), f)))
			ssl[k] = ntXent(ab[0], ab[1], p.Temperature)
			self[k], proj[k] = ab, ab
		}
	}
	total := ScalarZero(g, dtypes.Float32)
	outs := []*Node{nil}
	for k := range t.peers {
		kd := ScalarZero(g, dtypes.Float32)
		if n == 2 {
			o := 1 - k
			// The peer's detached target: its own KD embeddings, or its
			// projector outputs when both peers are SimSiam (the method).
			target := self[o]
			if t.peers[k].objective == "simsiam" && t.peers[o].objective == "simsiam" {
				target = proj[o]
			}
			kd = dogoKL(crossView(self[k][0], self[k][1], p.KDTemperature), crossView(target[0], target[1], p.KDTemperature), p.KDReduction)
			// Its own similarities, differentiated; the target's, forward only.
			matMulFLOPs(g, t.batch, self[k][0].Shape().Dimensions[1], t.batch, 3)
			matMulFLOPs(g, t.batch, target[0].Shape().Dimensions[1], t.batch, 1)
		}
		lk := Add(ssl[k], MulScalar(kd, p.KDWeight))
		total = Add(total, lk)
		outs = append(outs, ssl[k], kd)
	}
	// The learning rate is an input of the step, not a stored value: with
	// GoMLX v0.28.16 a variable's value set from Go between steps does not
	// reach an already built graph, so a schedule would silently not apply.
	lrVar := optimizer.LearningRateVar(scope, dtypes.Float32, p.LR)
	lrVar.SetNodeValue(lr)
	opt := optimizer.Adam().LearningRate(p.LR).WeightDecay(p.WeightDecay).Done()
	opt.UpdateGraph(scope, g, total)
	outs[0] = total
	return outs
}

// stepsDoneVar is the checkpointed count of finished training steps.
const stepsDoneVar = "/sweep/steps_done"

// newTrainer builds the store, the learning-rate variable and the step
// executor of a pretraining job.
func newTrainer(backend compute.Backend, spec job.Spec, info data.Info) (*trainer, error) {
	peers, err := peersOf(spec, backend)
	if err != nil {
		return nil, job.Permanent(err)
	}
	p := spec.Pretrain
	t := &trainer{spec: spec, peers: peers, batch: p.Batch, info: info, dtype: dtypes.Float32,
		backend: backend, noNoise: tensors.FromFlatDataAndDimensions([]uint8{0}, 1)}
	if p.KNNMonitor > 0 {
		t.matmul = matmul.Measure().Kernels
	}
	switch p.Precision {
	case "", "float32":
	case "bf16":
		t.dtype = dtypes.BFloat16
	default:
		return nil, job.Permanent(fmt.Errorf("precision %q: use float32 or bf16", p.Precision))
	}
	for _, ps := range peers {
		t.augment = append(t.augment, newAugmenter(info, ps.objective, p.Views))
	}
	t.store = model.NewStore()
	t.store.SetParam(model.ParamInitialSeed, int64(spec.Seed)+1)
	t.exec, err = model.NewExec(backend, t.store, t.buildStep)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// inputShapes are the shapes of the step's inputs: images, view parameters,
// learning rate, and per peer its noise bytes (one unused byte for a peer
// without noise).
func (t *trainer) inputShapes() []shapes.Shape {
	in := []shapes.Shape{
		shapes.Make(dtypes.Uint8, t.batch, t.info.Height, t.info.Width, t.info.Channels),
		shapes.Make(dtypes.Float32, len(t.peers), 2, t.batch, viewParams),
		shapes.Make(dtypes.Float32),
	}
	for k := range t.peers {
		in = append(in, t.noiseShape(k))
	}
	return in
}

// noiseShape is the shape of peer k's noise input.
func (t *trainer) noiseShape(k int) shapes.Shape {
	if t.augment[k].noise == 0 {
		return shapes.Make(dtypes.Uint8, 1)
	}
	return shapes.Make(dtypes.Uint8, 4, 2*t.batch, t.info.Height, t.info.Width, t.info.Channels)
}

// step runs one training step at learning rate lr, and returns the total
// loss and, per peer, the SSL loss and the KD term.
func (t *trainer) step(b stepBatch, lr float64) ([]float64, error) {
	args := []any{
		tensors.FromFlatDataAndDimensions(b.images, t.batch, t.info.Height, t.info.Width, t.info.Channels),
		tensors.FromFlatDataAndDimensions(b.params, len(t.peers), 2, t.batch, viewParams),
		float32(lr),
	}
	for _, noise := range b.noise {
		if noise == nil {
			noise = t.noNoise
		}
		args = append(args, noise)
	}
	var outs []*tensors.Tensor
	if err := exceptions.TryCatch[error](func() { outs = t.exec.MustCall(args...) }); err != nil {
		return nil, err
	}
	vals := make([]float64, len(outs))
	for i, o := range outs {
		vals[i] = float64(tensors.ToScalar[float32](o))
		o.FinalizeAll()
	}
	return vals, nil
}

// Pretrain trains the encoder(s) of a pretraining job, checkpointing every
// CheckpointEvery epochs; a restarted job resumes from its last checkpoint
// with the same data order and views as an uninterrupted run.
func Pretrain(ctx context.Context, env Env, spec job.Spec) error {
	set, err := env.data().Load(spec.Dataset, "train")
	if err != nil {
		return job.Permanent(err)
	}
	var test *data.Set
	if spec.Pretrain.KNNMonitor > 0 {
		if test, err = env.data().Load(spec.Dataset, "test"); err != nil {
			return job.Permanent(err)
		}
	}
	return pretrainOn(ctx, env, spec, set, test)
}

func pretrainOn(ctx context.Context, env Env, spec job.Spec, set, test *data.Set) error {
	p := spec.Pretrain
	idx := subset(set.N, p.TrainSubset, uint64(spec.Seed))
	stepsPerEpoch := len(idx) / p.Batch
	if stepsPerEpoch == 0 {
		return job.Permanent(fmt.Errorf("batch %d is larger than the %d training images", p.Batch, len(idx)))
	}
	t, err := newTrainer(env.Backend, spec, set.Info)
	if err != nil {
		return err
	}
	defer t.exec.Finalize()
	// Build the step graph before loading a checkpoint: with GoMLX v0.28.16, a
	// variable that already holds a value when the graph is built never gets
	// its updates back (a resumed job would silently stop learning);
	// variables the graph created and the checkpoint then overwrites train
	// normally. TestResumeGivesSameResult guards this.
	inShapes := t.inputShapes()
	if err := exceptions.TryCatch[error](func() {
		if _, err := t.exec.Compile(inShapes...); err != nil {
			panic(err)
		}
	}); err != nil {
		return fmt.Errorf("compile training step: %w", err)
	}
	ck, err := openCheckpoints(t.store, env.Dir, 2, env.warn)
	if err != nil {
		return err
	}
	// Resume: the checkpoint records how many steps it holds; the data order
	// and the views depend only on the seed, the epoch and the step, so the
	// run continues exactly where it stopped. (GoMLX's global_step does not
	// advance with this step function: keep our own count.)
	stepsVar := t.store.VariableWithValue(stepsDoneVar, int64(0)).SetTrainable(false)
	sv, err := stepsVar.Value()
	if err != nil {
		return err
	}
	done := int(tensors.ToScalar[int64](sv))
	save := func(steps int) error {
		if err := stepsVar.SetValue(tensors.FromValue(int64(steps))); err != nil {
			return err
		}
		return ck.save()
	}
	if done > 0 {
		env.Emit(job.Record{Type: job.RecInfo, Name: "resumed_from_step", Value: float64(done)})
	} else if p.KNNMonitor > 0 && test != nil {
		// The random encoders the peers start from, as the curve's first point.
		for k, acc := range t.monitor(env.Backend, set, test, p.KNNMonitor, uint64(spec.Seed)) {
			env.Emit(job.Record{Type: job.RecMetric, Peer: k, Split: job.SplitMonitor, Name: job.MetricKNN, Value: acc})
		}
	}
	totalSteps := int64(p.Epochs * stepsPerEpoch)
	for epoch := done / stepsPerEpoch; epoch < p.Epochs; epoch++ {
		order := permutation(len(idx), uint64(spec.Seed), uint64(epoch))
		t0 := time.Now()
		var sums [5]float64
		first := 0
		if epoch == done/stepsPerEpoch {
			first = done % stepsPerEpoch
		}
		batches, stopPrep := t.prepare(set, idx, order, epoch, first, stepsPerEpoch, uint64(spec.Seed))
		for s := first; s < stepsPerEpoch; s++ {
			if err := ctx.Err(); err != nil {
				stopPrep()
				// Asked to stop: keep what this run trained.
				if serr := save(epoch*stepsPerEpoch + s); serr != nil {
					return serr
				}
				return err
			}
			gstep := int64(epoch*stepsPerEpoch + s)
			vals, err := t.step(<-batches, currentLR(p, gstep, totalSteps))
			if err != nil {
				stopPrep()
				return fmt.Errorf("training step %d: %w", gstep, explainStepError(err, p.Batch))
			}
			if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
				stopPrep()
				return job.Permanent(fmt.Errorf("loss is %v at step %d (epoch %d): lower the learning rate or the KD weight", vals[0], gstep, epoch+1))
			}
			for i, v := range vals {
				sums[i] += v
			}
			if s%20 == 0 || s == stepsPerEpoch-1 {
				env.Emit(job.Record{Type: job.RecProgress, Step: gstep + 1, Steps: totalSteps, Epoch: epoch + 1, Epochs: p.Epochs,
					Name: "loss", Value: vals[0], ImagesPerSec: float64((s+1-first)*p.Batch) / time.Since(t0).Seconds()})
			}
		}
		stopPrep()
		secs := time.Since(t0).Seconds()
		n := float64(stepsPerEpoch - first) // a resumed epoch reports the steps of this run
		end := int64((epoch + 1) * stepsPerEpoch)
		metric := func(peer int, name string, v float64) {
			split := job.SplitTrain
			if name == job.MetricKNN {
				split = job.SplitMonitor
			}
			env.Emit(job.Record{Type: job.RecMetric, Epoch: epoch + 1, Step: end, Peer: peer, Split: split, Name: name, Value: v})
		}
		for k := range t.peers {
			metric(k, "ssl_loss", sums[1+2*k]/n)
			metric(k, "kd_loss", sums[2+2*k]/n)
		}
		metric(0, "loss", sums[0]/n)
		metric(0, "images_per_second", n*float64(p.Batch)/secs)
		metric(0, "lr", currentLR(p, end-1, totalSteps))
		if (epoch+1)%p.CheckpointEvery == 0 || epoch+1 == p.Epochs {
			if err := save(int(end)); err != nil {
				return err
			}
			if p.KNNMonitor > 0 && test != nil {
				for k, acc := range t.monitor(env.Backend, set, test, p.KNNMonitor, uint64(spec.Seed)) {
					metric(k, job.MetricKNN, acc)
				}
			}
		}
	}
	return nil
}

// prepare gathers the images of an epoch's steps and draws their views'
// parameters in the background, one step ahead of training. A step's
// parameters depend only on the seed, the peer, the step and the image's
// place in the batch. Three buffer sets rotate: one in training, one ready,
// one being filled. stop ends the producer and waits for it.
func (t *trainer) prepare(set *data.Set, idx, order []int, epoch, first, steps int, seed uint64) (<-chan stepBatch, func()) {
	out := make(chan stepBatch, 1)
	quit := make(chan struct{})
	finished := make(chan struct{})
	pixels := t.info.Pixels()
	var sets [3]stepBatch
	for b := range sets {
		sets[b] = t.newBatch()
	}
	go func() {
		defer close(finished)
		for s := first; s < steps; s++ {
			b := &sets[(s-first)%3]
			gstep := uint64(epoch*steps + s)
			for i := 0; i < t.batch; i++ {
				copy(b.images[i*pixels:(i+1)*pixels], set.Image(idx[order[s*t.batch+i]]))
			}
			t.drawViews(*b, seed, gstep)
			select {
			case out <- *b:
			case <-quit:
				return
			}
		}
	}()
	var once bool
	return out, func() {
		if !once {
			once = true
			close(quit)
			<-finished
		}
	}
}

// currentLR is the learning rate at a step: constant, or cosine-annealed
// from lr to 0 over the run.
func currentLR(p *job.Pretrain, step, total int64) float64 {
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

// explainStepError adds what to do to an accelerator's out-of-memory error
// (XLA reports RESOURCE_EXHAUSTED). It stays retryable: with gpu_fraction a
// job sharing the GPU may have held the memory.
func explainStepError(err error, batch int) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "resource_exhausted") || strings.Contains(msg, "out of memory") {
		return fmt.Errorf("%w (out of device memory at batch %d: lower pretrain.batch, set pretrain.precision: bf16, or give each job a whole GPU with resources.gpus: 1)", err, batch)
	}
	return err
}

// IsPermanent reports whether err cannot be fixed by a retry.
func IsPermanent(err error) bool {
	var p *job.PermanentError
	var m *data.MissingError
	var n ErrNotInBuild
	return errors.As(err, &p) || errors.As(err, &m) || errors.As(err, &n)
}

// monitor is the kNN accuracy of each peer's current features: n training
// images (a fixed sample) against the first 1,000 test images. The graph is
// built anew each time: a GoMLX graph reads the variable values it was built
// with (see the learning-rate note in buildStep).
func (t *trainer) monitor(backend compute.Backend, train, test *data.Set, n int, seed uint64) []float64 {
	trIdx := subset(train.N, n, seed+0x3011)
	teIdx := subset(test.N, 0, 0)[:min(1000, test.N)]
	accs := make([]float64, len(t.peers))
	for k, ps := range t.peers {
		exec, err := model.NewExec(backend, t.store, func(scope *model.Scope, x *Node) *Node {
			return encoder(scope.In("peer%d", k).In("encoder"), ps.arch, x)
		})
		if err != nil {
			return nil
		}
		f := &probe.Features{Classes: train.Info.Classes}
		if f.Train, f.Dim, err = encodeSet(backend, exec, train, trIdx); err != nil {
			exec.Finalize()
			return nil
		}
		if f.Test, _, err = encodeSet(backend, exec, test, teIdx); err != nil {
			exec.Finalize()
			return nil
		}
		exec.Finalize()
		for _, i := range trIdx {
			f.TrainLabels = append(f.TrainLabels, train.Labels[i])
		}
		for _, i := range teIdx {
			f.TestLabels = append(f.TestLabels, test.Labels[i])
		}
		accs[k], _ = probe.KNN(context.Background(), t.matmul, f, 20, 0.07)
	}
	return accs
}
