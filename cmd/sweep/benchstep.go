package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/runner"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
	"github.com/urfave/cli/v2"
)

func benchStepCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-step",
		Usage:  "time pretraining steps (DoGo pair or solo) on random images: first step (compile) and steps/s",
		Hidden: true,
		Description: `Prints one JSON line (on the Go backend after GoMLX's own line about its
parallelism). scripts/gpu-bench.sh runs it beside PyTorch on a GPU, scripts/cpu-bench.sh on a CPU.

Examples:
   sweep bench-step --archs resnet18+resnet50 --dataset cifar10 --batch 256 --backend xla:cuda
   sweep bench-step --archs resnet18+resnet18 --precision bf16 --backend xla:cuda
   sweep bench-step --archs mlp-m+mlp-m --dataset fashion-mnist --backend go

The step includes making the views, in the graph, as PyTorch's step in
scripts/torch_dogo_step.py does on the GPU. gflop_per_step counts the step's
matrix products (layers forward and backward, losses, views); tflop_per_s,
their rate, is what to compare with the device's peak.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "archs", Value: "resnet18+resnet18", Usage: "small+large for a DoGo pair, one name for solo"},
			&cli.StringFlag{Name: "objective", Value: "simclr"},
			&cli.StringFlag{Name: "dataset", Value: "cifar10", Usage: "gives the image shape"},
			&cli.IntFlag{Name: "batch", Value: 256},
			&cli.IntFlag{Name: "steps", Value: 20},
			&cli.StringFlag{Name: "backend", Value: "auto"},
			&cli.StringFlag{Name: "precision", Value: "float32", Usage: "float32, or bf16 (mixed precision: float32 weights and losses)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the steady-state steps to this file (go tool pprof)"},
		},
		Action: benchStep,
	}
}

// benchStep times the steps bench-step asks for and prints them as JSON.
func benchStep(c *cli.Context) error {
	info, ok := data.Known()[c.String("dataset")]
	if !ok {
		return usageError{fmt.Errorf("unknown --dataset %q", c.String("dataset"))}
	}
	archs := strings.Split(c.String("archs"), "+")
	method := job.MethodSolo
	if len(archs) == 2 {
		method = job.MethodDoGo
	}
	p := grid.Default().Pretrain
	p.Batch, p.Precision = c.Int("batch"), c.String("precision")
	spec := job.Spec{Kind: job.KindPretrain, Dataset: info.Name, Method: method, Objective: c.String("objective"), Archs: archs, Pretrain: &p}
	backend, cfg, warning, err := runner.OpenBackend(c.String("backend"))
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, warning)
	}
	defer backend.Finalize()
	var profile io.Writer
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		profile = f
	}
	tm, err := runner.BenchStep(backend, spec, info, c.Int("steps"), profile)
	if err != nil {
		return err
	}
	return json.NewEncoder(c.App.Writer).Encode(map[string]any{
		"impl": "gomlx " + p.Precision, "backend": cfg, "archs": c.String("archs"), "batch": p.Batch,
		"first_step_s": tm.FirstStep.Seconds(), "steps_per_s": tm.StepsPerSec, "images_per_s": tm.StepsPerSec * float64(p.Batch),
		"mean_step_s": 1 / tm.StepsPerSec, "median_step_s": tm.MedianStep.Seconds(),
		"gflop_per_step": tm.FLOPs / 1e9, "tflop_per_s": tm.FLOPs * tm.StepsPerSec / 1e12,
	})
}
