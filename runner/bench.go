package runner

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
)

// StepTiming is what BenchStep measures.
type StepTiming struct {
	FirstStep   time.Duration // graph build, compile (and autotuning on XLA), one step
	StepsPerSec float64
	Steps       int
	// FLOPs of one step's matrix products (see flops.go): FLOPs *
	// StepsPerSec is the arithmetic rate to compare with the device's peak.
	FLOPs float64
}

// BenchStep times training steps of a pretraining spec on random images of
// the data set's shape (views made in the step, as in training): the first
// step (which compiles) apart, then steps at steady state.
func BenchStep(backend compute.Backend, spec job.Spec, info data.Info, steps int) (StepTiming, error) {
	t, err := newTrainer(backend, spec, info)
	if err != nil {
		return StepTiming{}, err
	}
	defer t.exec.Finalize()
	batch := t.randomBatch(1)
	start := time.Now()
	if _, err := t.step(batch, spec.Pretrain.LR); err != nil {
		return StepTiming{}, fmt.Errorf("first step: %w", err)
	}
	first := time.Since(start)
	start = time.Now()
	for i := 0; i < steps; i++ {
		if _, err := t.step(batch, spec.Pretrain.LR); err != nil {
			return StepTiming{}, err
		}
	}
	return StepTiming{FirstStep: first, StepsPerSec: float64(steps) / time.Since(start).Seconds(), Steps: steps, FLOPs: t.stepFLOPs}, nil
}

// randomBatch is a step's input of random images with views drawn as in
// training.
func (t *trainer) randomBatch(seed uint64) stepBatch {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := stepBatch{
		images: make([]uint8, t.batch*t.info.Pixels()),
		params: make([]float32, len(t.peers)*2*t.batch*viewParams),
		seed:   int64(seed),
	}
	for i := range b.images {
		b.images[i] = uint8(rng.IntN(256))
	}
	t.drawViews(b.params, seed, 0)
	return b
}
