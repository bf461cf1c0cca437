package runner

import (
	"fmt"
	"os"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/internal/gpus"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
)

// BackendConfig resolves a grid's backend setting: "auto" picks "xla:cuda"
// when this build has XLA and a GPU is visible, else the pure-Go backend;
// GOMLX_BACKEND overrides it. Plugins are never downloaded
// (GOMLX_NO_AUTO_INSTALL is set unless the user set it).
func BackendConfig(setting string) string {
	return backendConfig(setting, xlaBuilt, gpuVisible)
}

func backendConfig(setting string, xla bool, gpu func() bool) string {
	if env := os.Getenv("GOMLX_BACKEND"); env != "" {
		return env
	}
	if os.Getenv("GOMLX_NO_AUTO_INSTALL") == "" {
		os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	}
	switch {
	case setting == "auto":
		if xla && gpu() {
			return "xla:cuda"
		}
		return goConfig
	case setting == "go":
		return goConfig
	}
	return setting
}

// goConfig is the Go backend's setting: as many threads as GOMAXPROCS,
// which the launchers set to the job's cpus. parallelism=-1 is what makes
// a matrix product use them all: with a bounded pool (the default, 2x
// GOMAXPROCS, or parallelism=N) the node running the product holds a slot,
// so at N=2 the product ran on one thread and at 4 on three goroutines
// sharing 2 cores (1024^3 at 158 and 164 GFLOP/s with 2 cores, 236 at -1;
// a CNN step 184 ms vs 126 ms).
const goConfig = "go:parallelism=-1"

// OpenBackend creates the backend for a grid's setting (see BackendConfig)
// and returns it with its configuration. When "auto" chose xla:cuda but the
// CUDA plugin cannot be opened (not installed, wrong driver), it falls back
// to the Go backend and says why in warning: the job still runs, slowly.
func OpenBackend(setting string) (b compute.Backend, cfg, warning string, err error) {
	return openBackend(setting, BackendConfig(setting), NewBackend)
}

func openBackend(setting string, cfg string, open func(string) (compute.Backend, error)) (compute.Backend, string, string, error) {
	b, err := open(cfg)
	if err == nil {
		return b, cfg, "", nil
	}
	if setting != "auto" || os.Getenv("GOMLX_BACKEND") != "" || !strings.HasPrefix(cfg, "xla") {
		return nil, cfg, "", err
	}
	if b, gerr := open(goConfig); gerr == nil {
		return b, goConfig, fmt.Sprintf("backend auto: a GPU is visible but %s failed (%v); running on the Go backend, far slower: install JAX's CUDA plugin and set GOMLX_BACKEND=xla:/path/xla_cuda_plugin.so (docs/gpu.md)", cfg, err), nil
	}
	return nil, cfg, "", err
}

// gpuVisible reports whether this process may use a GPU (gpus.Visible).
func gpuVisible() bool { return len(gpus.Visible()) > 0 }

// NewBackend creates the compute backend for a configuration string.
func NewBackend(cfg string) (compute.Backend, error) {
	if strings.HasPrefix(cfg, "xla") && !xlaBuilt {
		return nil, job.Permanent(fmt.Errorf("backend %q: this binary was built without XLA (build with -tags xla, see docs/gpu.md)", cfg))
	}
	b, err := compute.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg, err)
	}
	return b, nil
}
