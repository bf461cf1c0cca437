package controller

import "github.com/dogo-sweep/dogo-sweep/job"

// resources is the controller's account of free CPU cores, GPU capacity and
// memory. A job takes whole GPUs (gpus: N) or a share of one (gpu_fraction:
// several small jobs pack onto one GPU); without GPUs on the machine, GPU jobs
// run on the CPU.
type resources struct {
	total    int       // CPU cores in all
	cpus     int       // free
	gpu      []float64 // free capacity of each GPU, 1 = idle
	memGB    float64   // free memory, when limited
	memLimit bool
}

func newResources(cpus, gpus int, memGB float64) *resources {
	r := &resources{total: cpus, cpus: cpus, gpu: make([]float64, gpus), memGB: memGB, memLimit: memGB > 0}
	for i := range r.gpu {
		r.gpu[i] = 1
	}
	return r
}

const gpuEps = 1e-9

func (r *resources) take(j *job.Job) (Slot, bool) {
	need := min(max(j.CPUs, 1), r.total)
	if r.cpus < need || (r.memLimit && j.MemoryGB > r.memGB+gpuEps) {
		return Slot{}, false
	}
	s := Slot{CPUs: need, MemoryGB: j.MemoryGB}
	if len(r.gpu) > 0 {
		switch {
		case j.GPUs > 0:
			var got []int
			for i, free := range r.gpu {
				if free >= 1-gpuEps && len(got) < j.GPUs {
					got = append(got, i)
				}
			}
			if len(got) < j.GPUs {
				return Slot{}, false
			}
			for _, i := range got {
				r.gpu[i] = 0
			}
			s.GPUs, s.GPUShare = got, 1
		case j.GPUFraction > 0:
			// Best fit: the busiest GPU that still has room, to keep whole GPUs free.
			best := -1
			for i, free := range r.gpu {
				if free+gpuEps >= j.GPUFraction && (best < 0 || free < r.gpu[best]) {
					best = i
				}
			}
			if best < 0 {
				return Slot{}, false
			}
			r.gpu[best] -= j.GPUFraction
			s.GPUs, s.GPUShare = []int{best}, j.GPUFraction
		}
	}
	r.cpus -= need
	if r.memLimit {
		r.memGB -= j.MemoryGB
	}
	return s, true
}

func (r *resources) give(s Slot) {
	r.cpus += s.CPUs
	for _, i := range s.GPUs {
		r.gpu[i] += s.GPUShare
	}
	if r.memLimit {
		r.memGB += s.MemoryGB
	}
}
