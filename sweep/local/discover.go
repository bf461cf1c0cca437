package local

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/internal/gpus"
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

// DiscoverGPUs lists the GPU indices jobs may use (gpus.Visible).
func DiscoverGPUs() []string { return gpus.Visible() }
