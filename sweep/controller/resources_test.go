package controller

import (
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
)

func TestResourcesPacking(t *testing.T) {
	type want struct {
		ok   bool
		gpus []int
	}
	for _, tc := range []struct {
		name       string
		cpus, gpus int
		memGB      float64
		jobs       []job.Job
		want       []want
	}{
		{"cpu slots", 2, 0, 0, []job.Job{{CPUs: 1}, {CPUs: 1}, {CPUs: 1}}, []want{{true, nil}, {true, nil}, {false, nil}}},
		{"a job never asks for more cores than exist", 2, 0, 0, []job.Job{{CPUs: 8}}, []want{{true, nil}}},
		{"whole gpus", 8, 2, 0, []job.Job{{CPUs: 1, GPUs: 1}, {CPUs: 1, GPUs: 1}, {CPUs: 1, GPUs: 1}}, []want{{true, []int{0}}, {true, []int{1}}, {false, nil}}},
		{"fractions pack onto one gpu first", 8, 2, 0,
			[]job.Job{{CPUs: 1, GPUFraction: 0.5}, {CPUs: 1, GPUFraction: 0.25}, {CPUs: 1, GPUFraction: 0.25}, {CPUs: 1, GPUs: 1}, {CPUs: 1, GPUFraction: 0.5}},
			[]want{{true, []int{0}}, {true, []int{0}}, {true, []int{0}}, {true, []int{1}}, {false, nil}}},
		{"no gpu on the machine: gpu jobs run on cpu", 2, 0, 0, []job.Job{{CPUs: 1, GPUs: 1}}, []want{{true, nil}}},
		{"memory", 8, 0, 10, []job.Job{{CPUs: 1, MemoryGB: 6}, {CPUs: 1, MemoryGB: 6}, {CPUs: 1, MemoryGB: 4}}, []want{{true, nil}, {false, nil}, {true, nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResources(tc.cpus, tc.gpus, tc.memGB)
			for i, j := range tc.jobs {
				s, ok := r.take(&j)
				if ok != tc.want[i].ok {
					t.Fatalf("job %d: took=%v, want %v", i, ok, tc.want[i].ok)
				}
				if ok && len(s.GPUs) != len(tc.want[i].gpus) || ok && len(s.GPUs) > 0 && s.GPUs[0] != tc.want[i].gpus[0] {
					t.Fatalf("job %d: gpus %v, want %v", i, s.GPUs, tc.want[i].gpus)
				}
			}
		})
	}
	// Giving back restores the capacity.
	r := newResources(2, 1, 0)
	a, _ := r.take(&job.Job{CPUs: 1, GPUFraction: 0.5})
	b, _ := r.take(&job.Job{CPUs: 1, GPUFraction: 0.5})
	if _, ok := r.take(&job.Job{CPUs: 1, GPUFraction: 0.5}); ok {
		t.Fatal("a full GPU took a third half")
	}
	r.give(a)
	r.give(b)
	if s, ok := r.take(&job.Job{CPUs: 2, GPUs: 1}); !ok || s.CPUs != 2 {
		t.Fatalf("after give: %v %v", s, ok)
	}
}
