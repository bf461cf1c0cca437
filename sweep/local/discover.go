package local

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// DiscoverMemoryGB returns the memory available for jobs (MemAvailable in
// /proc/meminfo), or 0 when it cannot be read.
func DiscoverMemoryGB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err == nil {
				return kb / (1 << 20)
			}
		}
	}
	return 0
}

// DiscoverGPUs lists the GPU indices jobs may use: CUDA_VISIBLE_DEVICES when
// set (as Slurm sets it), else what nvidia-smi lists; none without a GPU.
func DiscoverGPUs() []string {
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
