package runner

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dogo-sweep/sweep/data"
	"github.com/dogo-sweep/sweep/sweep"
	"github.com/gomlx/compute"
)

// StepTiming is what BenchStep measures.
type StepTiming struct {
	FirstStep   time.Duration // graph build, compile (and autotuning on XLA), one step
	StepsPerSec float64
	Steps       int
}

// BenchStep times training steps of a pretraining spec on random views of
// the data set's image shape: the first step (which compiles) apart, then
// steps at steady state.
func BenchStep(backend compute.Backend, spec sweep.Spec, info data.Info, steps int) (StepTiming, error) {
	t, err := newTrainer(backend, spec, info)
	if err != nil {
		return StepTiming{}, err
	}
	defer t.exec.Finalize()
	rng := rand.New(rand.NewPCG(1, 2))
	views := make([][]float32, len(t.peers))
	for k := range views {
		views[k] = make([]float32, 2*spec.Pretrain.Batch*info.Pixels())
		for i := range views[k] {
			views[k][i] = float32(rng.NormFloat64())
		}
	}
	start := time.Now()
	if _, err := t.step(views, spec.Pretrain.LR); err != nil {
		return StepTiming{}, fmt.Errorf("first step: %w", err)
	}
	first := time.Since(start)
	start = time.Now()
	for i := 0; i < steps; i++ {
		if _, err := t.step(views, spec.Pretrain.LR); err != nil {
			return StepTiming{}, err
		}
	}
	return StepTiming{FirstStep: first, StepsPerSec: float64(steps) / time.Since(start).Seconds(), Steps: steps}, nil
}
