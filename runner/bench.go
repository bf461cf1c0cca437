package runner

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
)

// StepTiming is what BenchStep measures.
type StepTiming struct {
	FirstStep   time.Duration // graph build, compile (and autotuning on XLA), one step
	StepsPerSec float64
	// MedianStep is the median time of one steady-state step.
	MedianStep time.Duration
	Steps      int
	// FLOPs of one step's matrix products (see flops.go): FLOPs *
	// StepsPerSec is the arithmetic rate to compare with the device's peak.
	FLOPs float64
}

// BenchStep times training steps of a pretraining spec on random images of
// the data set's shape (views made in the step, as in training): the first
// step (which compiles) apart, then steps at steady state, whose CPU
// profile goes to profile unless it is nil.
func BenchStep(backend compute.Backend, spec job.Spec, info data.Info, steps int, profile io.Writer) (StepTiming, error) {
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
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return StepTiming{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	times := make([]time.Duration, steps)
	var total time.Duration
	for i := range times {
		t0 := time.Now()
		if _, err := t.step(batch, spec.Pretrain.LR); err != nil {
			return StepTiming{}, err
		}
		times[i] = time.Since(t0)
		total += times[i]
	}
	slices.Sort(times)
	return StepTiming{FirstStep: first, StepsPerSec: float64(steps) / total.Seconds(), MedianStep: times[steps/2], Steps: steps, FLOPs: t.stepFLOPs}, nil
}

// randomBatch is a step's input of random images with views drawn as in
// training.
func (t *trainer) randomBatch(seed uint64) stepBatch {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := t.newBatch()
	for i := range b.images {
		b.images[i] = uint8(rng.IntN(256))
	}
	t.drawViews(b, seed, 0)
	return b
}
