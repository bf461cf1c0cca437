// Package gpus finds the NVIDIA GPUs this process may use: those
// CUDA_VISIBLE_DEVICES names when it is set (as Slurm sets it; empty or -1
// means none), else those nvidia-smi lists; none without a GPU or driver.
package gpus

import (
	"os"
	"os/exec"
	"strings"
)

// Visible lists the GPU indices (or UUIDs) this process may use.
func Visible() []string {
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" && s != "-1" {
				out = append(out, s)
			}
		}
		return out
	}
	b, err := exec.Command("nvidia-smi", "--query-gpu=index", "--format=csv,noheader").Output()
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
