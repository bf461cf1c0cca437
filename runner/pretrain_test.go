package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// synthetic makes a small grey data set of 10 classes, 28x28x1 like
// Fashion-MNIST: each class is a bright bar at its own angle, placed and
// sized at random, with a distractor blob and noise, so that a random encoder
// does not already separate the classes.
func synthetic(n int, seed uint64) *data.Set { return data.Synthetic(n, seed, "train") }

func pretrainSpec(method string, archs []string, epochs, batch int, kdWeight float64) job.Spec {
	p := grid.Default().Pretrain
	p.Epochs, p.Batch, p.KDWeight, p.LR = epochs, batch, kdWeight, 1e-3
	return job.Spec{Kind: job.KindPretrain, Dataset: "fashion-mnist", Method: method, Objective: "simclr", Seed: 7, Archs: archs, Pretrain: &p}
}

func variables(t *testing.T, tr *trainer, scope string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range tr.store.IterVariables() {
		if len(v.Path()) < len(scope) || v.Path()[:len(scope)] != scope {
			continue
		}
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		if val.DType() != dtypes.Float32 {
			continue
		}
		out[v.Path()] = tensors.MustCopyFlatData[float32](val)
	}
	return out
}

// With KD weight 0 a DoGo pair's first peer must take exactly the steps it
// would take solo: same seed, same views, same updates.
func TestDoGoWithZeroWeightMatchesSolo(t *testing.T) {
	b := testBackend(t)
	info := data.Known()["fashion-mnist"]
	const batch = 16
	solo, err := newTrainer(b, pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 1, batch, 0), info)
	if err != nil {
		t.Fatal(err)
	}
	dogo, err := newTrainer(b, pretrainSpec(job.MethodDoGo, []string{"mlp-s", "cnn-s"}, 1, batch, 0), info)
	if err != nil {
		t.Fatal(err)
	}
	// Peer 0's views are drawn from the same seeds in both.
	soloBatch, dogoBatch := solo.randomBatch(3), dogo.randomBatch(3)
	var soloLoss, dogoLoss []float64
	for step := 0; step < 3; step++ {
		ls, err := solo.step(soloBatch, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		soloLoss = append(soloLoss, ls[1])
	}
	for step := 0; step < 3; step++ {
		ld, err := dogo.step(dogoBatch, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		dogoLoss = append(dogoLoss, ld[1])
	}
	for step := range soloLoss {
		if math.Abs(soloLoss[step]-dogoLoss[step]) > 1e-5 {
			t.Fatalf("step %d: solo SSL loss %.6f, DoGo peer 0 SSL loss %.6f", step, soloLoss[step], dogoLoss[step])
		}
	}
	if !(soloLoss[2] < soloLoss[0]) {
		t.Fatalf("solo SSL loss did not move: %v", soloLoss)
	}
	sv, dv := variables(t, solo, "/peer0"), variables(t, dogo, "/peer0")
	if len(sv) == 0 || len(sv) != len(dv) {
		t.Fatalf("peer0 variables: solo %d, DoGo %d", len(sv), len(dv))
	}
	for name, s := range sv {
		d := dv[name]
		for i := range s {
			if math.Abs(float64(s[i]-d[i])) > 1e-6 {
				t.Fatalf("%s[%d]: solo %g, DoGo(weight 0) %g", name, i, s[i], d[i])
			}
		}
	}
}

// With a positive KD weight the peers must pull on each other: the first
// peer's updates differ from solo.
func TestDoGoWeightChangesUpdates(t *testing.T) {
	b := testBackend(t)
	info := data.Known()["fashion-mnist"]
	const batch = 16
	solo, _ := newTrainer(b, pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 1, batch, 0), info)
	dogo, _ := newTrainer(b, pretrainSpec(job.MethodDoGo, []string{"mlp-s", "cnn-s"}, 1, batch, 100), info)
	soloBatch, dogoBatch := solo.randomBatch(3), dogo.randomBatch(3)
	for step := 0; step < 2; step++ {
		if _, err := solo.step(soloBatch, 1e-3); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; step < 2; step++ {
		ld, err := dogo.step(dogoBatch, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		if ld[2] <= 0 || ld[4] <= 0 {
			t.Fatalf("KD terms %v should be positive", ld)
		}
	}
	sv, dv := variables(t, solo, "/peer0"), variables(t, dogo, "/peer0")
	diff := 0.0
	for name, s := range sv {
		for i := range s {
			diff = math.Max(diff, math.Abs(float64(s[i]-dv[name][i])))
		}
	}
	if diff < 1e-6 {
		t.Fatalf("DoGo with weight 100 made the same updates as solo (max diff %g)", diff)
	}
}

type recorder struct{ recs []job.Record }

func (r *recorder) emit(rec job.Record) { r.recs = append(r.recs, rec) }

func (r *recorder) metric(epoch int, name string) (float64, bool) {
	for _, rec := range r.recs {
		if rec.Type == job.RecMetric && rec.Epoch == epoch && rec.Name == name && rec.Peer == 0 {
			return rec.Value, true
		}
	}
	return 0, false
}

// A short real training on Fashion-MNIST lowers both peers' SSL loss, and the
// CNN peer's kNN accuracy rises above that of the random encoder it started
// from. The MLP peer's does not (measured: 0.726 at the random start, 0.701
// after 3 epochs), as the CPU-scale study in the method notes found: SimCLR
// MLPs fall below a random encoder at this budget; the quickstart uses CNNs.
func TestShortTrainingOnFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two small models")
	}
	train, err := data.Load("fashion-mnist", "train", "")
	if errors.Is(err, fs.ErrNotExist) {
		require.Missing(t, fmt.Sprintf("Fashion-MNIST not installed (make test-deps): %v", err))
	}
	if err != nil {
		t.Fatal(err) // installed but unreadable: a loader regression
	}
	test, err := data.Load("fashion-mnist", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	b := testBackend(t)
	rec := &recorder{}
	spec := pretrainSpec(job.MethodDoGo, []string{"mlp-s", "cnn-s"}, 3, 128, 100)
	spec.Pretrain.TrainSubset, spec.Pretrain.KNNMonitor = 3072, 1000
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: jobdir.Dir(t.TempDir()), Emit: rec.emit}, spec, train, test); err != nil {
		t.Fatal(err)
	}
	for peer := 0; peer < 2; peer++ {
		loss := map[int]float64{}
		knn := map[int]float64{}
		for _, r := range rec.recs {
			if r.Type == job.RecMetric && r.Peer == peer {
				switch r.Name {
				case "ssl_loss":
					loss[r.Epoch] = r.Value
				case "knn_accuracy":
					knn[r.Epoch] = r.Value
				}
			}
		}
		t.Logf("peer %d: SSL loss %.4f -> %.4f; kNN %.3f (random start) -> %.3f", peer, loss[1], loss[3], knn[0], knn[3])
		if !(loss[3] < loss[1]) {
			t.Errorf("peer %d: SSL loss did not fall", peer)
		}
		if peer == 1 && !(knn[3] > knn[0]) {
			t.Errorf("CNN peer: kNN accuracy did not beat the random encoder's")
		}
	}
}

// On harder generated images (where a random encoder's features are poor),
// the kNN monitor finds the trained features better than the random
// encoder's the peers started from.
func TestShortTrainingLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	b := testBackend(t)
	set, test := synthetic(1024, 1), synthetic(1000, 2)
	rec := &recorder{}
	spec := pretrainSpec(job.MethodDoGo, []string{"mlp-s", "cnn-s"}, 6, 64, 100)
	spec.Pretrain.KNNMonitor = 1000
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: jobdir.Dir(t.TempDir()), Emit: rec.emit}, spec, set, test); err != nil {
		t.Fatal(err)
	}
	for peer := 0; peer < 2; peer++ {
		var before, after float64 = -1, -1
		for _, r := range rec.recs {
			if r.Split == "monitor" && r.Peer == peer {
				if r.Epoch == 0 {
					before = r.Value
				}
				if r.Epoch == 6 {
					after = r.Value
				}
			}
		}
		t.Logf("peer %d: kNN monitor %.3f at the random start, %.3f after 6 epochs", peer, before, after)
		if before < 0 || after < 0 || after <= before {
			t.Errorf("peer %d: kNN monitor did not improve", peer)
		}
	}
}

// A job stopped after epoch 1 and restarted must end where an uninterrupted
// run ends: same data order and views from the checkpoint on.
func TestResumeGivesSameResult(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model three times")
	}
	b := testBackend(t)
	set := synthetic(256, 2)
	full := &recorder{}
	two := pretrainSpec(job.MethodDoGo, []string{"mlp-s", "mlp-s"}, 2, 64, 100)
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: jobdir.Dir(t.TempDir()), Emit: full.emit}, two, set, nil); err != nil {
		t.Fatal(err)
	}
	dir := jobdir.Dir(t.TempDir())
	one := pretrainSpec(job.MethodDoGo, []string{"mlp-s", "mlp-s"}, 1, 64, 100)
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: dir, Emit: func(job.Record) {}}, one, set, nil); err != nil {
		t.Fatal(err)
	}
	resumed := &recorder{}
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: dir, Emit: resumed.emit}, two, set, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := resumed.metric(1, "loss"); ok {
		t.Fatal("the resumed job trained epoch 1 again")
	}
	want, _ := full.metric(2, "loss")
	got, ok := resumed.metric(2, "loss")
	if !ok || math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Fatalf("epoch 2 loss: resumed %.6f, uninterrupted %.6f", got, want)
	}
}

// The learning rate set before each step must reach the graph: with lr 0
// the weights stay put, with lr > 0 they move.
func TestLearningRateReachesTheStep(t *testing.T) {
	b := testBackend(t)
	tr, err := newTrainer(b, pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 1, 16, 0), data.Known()["fashion-mnist"])
	if err != nil {
		t.Fatal(err)
	}
	views := tr.randomBatch(5)
	var losses []float64
	for _, lr := range []float64{0, 0, 1e-2, 0} {
		l, err := tr.step(views, lr)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l[0])
	}
	if losses[0] != losses[1] || losses[1] != losses[2] {
		t.Errorf("steps at lr 0 changed the loss: %v", losses)
	}
	if losses[3] == losses[2] {
		t.Errorf("a step at lr 1e-2 left the loss unchanged: %v", losses)
	}
}

// A job asked to stop in the middle of an epoch saves a checkpoint there and,
// restarted, continues from that step: its last step's loss is the
// uninterrupted run's.
func TestStopMidEpochResumesAtTheStep(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model three times")
	}
	b := testBackend(t)
	set := synthetic(256, 4) // 4 steps per epoch at batch 64
	spec := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 2, 64, 0)
	lastStep := func(r *recorder) (int64, float64) {
		var step int64
		var v float64
		for _, rec := range r.recs {
			if rec.Type == job.RecProgress && rec.Step >= step {
				step, v = rec.Step, rec.Value
			}
		}
		return step, v
	}
	full := &recorder{}
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: jobdir.Dir(t.TempDir()), Emit: full.emit}, spec, set, nil); err != nil {
		t.Fatal(err)
	}
	dir := jobdir.Dir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := &recorder{}
	err := pretrainOn(ctx, Env{Backend: b, Dir: dir, Emit: func(r job.Record) {
		stopped.emit(r)
		if r.Type == job.RecProgress && r.Step == 5 { // first step of epoch 2 done
			cancel()
		}
	}}, spec, set, nil)
	if err != context.Canceled {
		t.Fatalf("stopped run returned %v", err)
	}
	resumed := &recorder{}
	if err := pretrainOn(context.Background(), Env{Backend: b, Dir: dir, Emit: resumed.emit}, spec, set, nil); err != nil {
		t.Fatal(err)
	}
	var from float64
	for _, r := range resumed.recs {
		if r.Name == "resumed_from_step" {
			from = r.Value
		}
	}
	if from != 5 {
		t.Fatalf("resumed from step %v, want 5", from)
	}
	ws, wv := lastStep(full)
	gs, gv := lastStep(resumed)
	if ws != 8 || gs != 8 || math.Abs(gv-wv) > 1e-6*math.Abs(wv) {
		t.Fatalf("last step: resumed %d %.6f, uninterrupted %d %.6f", gs, gv, ws, wv)
	}
}

func TestCosineScheduleApplies(t *testing.T) {
	p := grid.Default().Pretrain
	p.LR, p.Schedule = 1e-3, "cosine"
	if got := currentLR(&p, 0, 100); got != 1e-3 {
		t.Errorf("lr at step 0 = %g, want 1e-3", got)
	}
	if got := currentLR(&p, 50, 100); math.Abs(got-5e-4) > 1e-12 {
		t.Errorf("lr at half = %g, want 5e-4", got)
	}
	if got := currentLR(&p, 99, 100); got > 1e-6 {
		t.Errorf("lr at the end = %g, want near 0", got)
	}
	p.Schedule = "constant"
	if got := currentLR(&p, 99, 100); got != 1e-3 {
		t.Errorf("constant lr = %g", got)
	}
}

// BenchmarkStep reports the time of one training step at batch 256 (two
// views per image: 512 images per peer) on the go backend.
func BenchmarkStep(b *testing.B) {
	backend := testBackend(b)
	info := data.Known()["fashion-mnist"]
	const batch = 256
	for _, c := range []struct {
		method string
		archs  []string
	}{
		{job.MethodSolo, []string{"mlp-m"}},
		{job.MethodDoGo, []string{"mlp-m", "mlp-m"}},
		{job.MethodSolo, []string{"cnn-s"}},
		{job.MethodSolo, []string{"cnn-l"}},
		{job.MethodDoGo, []string{"cnn-s", "cnn-s"}},
		{job.MethodDoGo, []string{"cnn-s", "cnn-l"}},
	} {
		name := c.method + "/" + c.archs[0]
		if len(c.archs) == 2 {
			name += "+" + c.archs[1]
		}
		b.Run(name, func(b *testing.B) {
			tr, err := newTrainer(backend, pretrainSpec(c.method, c.archs, 1, batch, 100), info)
			if err != nil {
				b.Fatal(err)
			}
			views := tr.randomBatch(1)
			if _, err := tr.step(views, 1e-3); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tr.step(views, 1e-3); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(tr.stepFLOPs/1e9, "GFLOP/step")
			b.ReportMetric(tr.stepFLOPs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// SimSiam peers, alone, mixed with a SimCLR peer, and paired with another
// SimSiam peer, train: their steps run, report finite losses and move.
func TestSimSiamAndMixedObjectivesTrain(t *testing.T) {
	b := testBackend(t)
	info := data.Known()["fashion-mnist"]
	for _, tc := range []struct {
		name, method, objective string
		archs                   []string
	}{
		{"solo simsiam", job.MethodSolo, "simsiam", []string{"mlp-s"}},
		{"simclr+simsiam pair", job.MethodDoGo, "simclr+simsiam", []string{"mlp-s", "mlp-s"}},
		{"simsiam x simsiam pair", job.MethodDoGo, "simsiam", []string{"mlp-s", "cnn-s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := pretrainSpec(tc.method, tc.archs, 1, 16, 100)
			spec.Objective = tc.objective
			tr, err := newTrainer(b, spec, info)
			if err != nil {
				t.Fatal(err)
			}
			views := tr.randomBatch(2)
			var first, last []float64
			for step := 0; step < 4; step++ {
				l, err := tr.step(views, 1e-3)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range l {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("step %d: losses %v", step, l)
					}
				}
				if step == 0 {
					first = l
				}
				last = l
			}
			// SimSiam's loss is a negative cosine in [-1, 1].
			if tc.objective == "simsiam" && (first[1] < -1 || first[1] > 1) {
				t.Errorf("SimSiam loss %g outside [-1, 1]", first[1])
			}
			if last[0] == first[0] {
				t.Errorf("losses did not move: %v -> %v", first, last)
			}
			if len(tc.archs) == 2 && (last[2] <= 0 || last[4] <= 0) {
				t.Errorf("KD terms %v should be positive", last)
			}
		})
	}
}

// A step's input depends only on the seed and the step: preparing an epoch
// from its third step (a resumed run) gives the same third batch.
func TestStepInputIsSeededPerStep(t *testing.T) {
	b := testBackend(t)
	set := synthetic(64, 3)
	spec := pretrainSpec(job.MethodDoGo, []string{"mlp-s", "mlp-s"}, 1, 16, 100)
	tr, err := newTrainer(b, spec, set.Info)
	if err != nil {
		t.Fatal(err)
	}
	idx := subset(set.N, 0, 1)
	order := permutation(len(idx), 1, 0)
	third := func(first int) stepBatch {
		ch, stop := tr.prepare(set, idx, order, 0, first, 4, 7)
		defer stop()
		var sb stepBatch
		for s := first; s <= 2; s++ {
			sb = <-ch
			sb.images, sb.params, sb.noise = slices.Clone(sb.images), slices.Clone(sb.params), []*tensors.Tensor{cloneTensor(t, sb.noise[0]), cloneTensor(t, sb.noise[1])}
		}
		return sb
	}
	bytes := func(b stepBatch, k int) []uint8 { return tensors.MustCopyFlatData[uint8](b.noise[k]) }
	a, c := third(0), third(2)
	if !slices.Equal(a.images, c.images) || !slices.Equal(a.params, c.params) || !slices.Equal(bytes(a, 0), bytes(c, 0)) || !slices.Equal(bytes(a, 1), bytes(c, 1)) {
		t.Fatal("step 2's input differs when the epoch starts at step 2")
	}
	if a.params[0] == a.params[viewParams] {
		t.Fatal("the two views of image 0 have the same crop")
	}
	if n := 4 * 2 * 16 * set.Info.Pixels(); len(bytes(a, 0)) != n || len(bytes(a, 1)) != n || slices.Equal(bytes(a, 0), bytes(a, 1)) {
		t.Fatalf("the peers' noise: %d and %d bytes (want %d each), or the same for both", len(bytes(a, 0)), len(bytes(a, 1)), n)
	}
	ch, stop := tr.prepare(set, idx, order, 0, 1, 4, 7)
	defer stop()
	if second := <-ch; slices.Equal(bytes(second, 0), bytes(a, 0)) {
		t.Fatal("steps 1 and 2 got the same noise")
	}
}

func cloneTensor(t *testing.T, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	c, err := x.LocalClone()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A precision this build does not know is an error, never silently ignored.
func TestUnknownPrecisionIsAnError(t *testing.T) {
	spec := pretrainSpec(job.MethodSolo, []string{"mlp-s"}, 1, 16, 0)
	spec.Pretrain.Precision = "fp8"
	_, err := newTrainer(testBackend(t), spec, data.Known()["fashion-mnist"])
	if err == nil || !IsPermanent(err) {
		t.Fatalf("fp8: %v", err)
	}
}

func TestExplainStepError(t *testing.T) {
	for _, tc := range []struct {
		err  string
		hint bool
	}{
		{"RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.5GiB", true},
		{"CUDA_ERROR_OUT_OF_MEMORY: out of memory", true},
		{"INVALID_ARGUMENT: shape mismatch", false},
	} {
		base := errors.New(tc.err)
		got := explainStepError(base, 256)
		if !errors.Is(got, base) {
			t.Errorf("%q: the original error is lost", tc.err)
		}
		if hint := strings.Contains(got.Error(), "lower pretrain.batch"); hint != tc.hint {
			t.Errorf("%q: hint %v, want %v: %v", tc.err, hint, tc.hint, got)
		}
	}
}
