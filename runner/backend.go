package runner

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
)

// BackendConfig resolves a grid's backend setting: "auto" picks "xla:cuda"
// when this build has XLA and a GPU is visible, else the pure-Go backend;
// GOMLX_BACKEND overrides it. Plugins are never downloaded
// (GOMLX_NO_AUTO_INSTALL is set unless the user set it).
func BackendConfig(setting string, cpus int) string {
	if env := os.Getenv("GOMLX_BACKEND"); env != "" {
		return env
	}
	if os.Getenv("GOMLX_NO_AUTO_INSTALL") == "" {
		os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	}
	goCfg := "go"
	if cpus > 0 {
		goCfg = fmt.Sprintf("go:parallelism=%d", cpus)
	}
	switch {
	case setting == "auto":
		if xlaBuilt && gpuVisible() {
			return "xla:cuda"
		}
		return goCfg
	case setting == "go":
		return goCfg
	}
	return setting
}

// gpuVisible reports whether nvidia-smi lists a GPU (respecting CUDA_VISIBLE_DEVICES).
func gpuVisible() bool {
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok && strings.TrimSpace(v) == "" {
		return false
	}
	out, err := exec.Command("nvidia-smi", "--query-gpu=index", "--format=csv,noheader").Output()
	return err == nil && len(strings.TrimSpace(string(out))) > 0
}

// NewBackend creates the compute backend for a configuration string.
func NewBackend(cfg string) (compute.Backend, error) {
	if strings.HasPrefix(cfg, "xla") && !xlaBuilt {
		return nil, permanent(fmt.Errorf("backend %q: this binary was built without XLA (build with -tags xla, see docs/gpu.md)", cfg))
	}
	b, err := compute.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg, err)
	}
	return b, nil
}
