# dogo-sweep: the single entry point. CI runs the same targets (.ci/run).
#
#   make demo    run the Fashion-MNIST quickstart end to end on CPU
#   make test    install what the tests need, then run them all
#   make bench   print the benchmarks' figures (bench-cpu: the step against PyTorch's)
#   make lint    gofmt, go vet, staticcheck

# GoMLX v0.28.16 needs Go 1.27: the go command fetches this toolchain from
# the module proxy on first use. simd turns on the Go backend's AVX kernels.
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd

GO       ?= go
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DUCKDB   := $(CURDIR)/.cache/duckdb
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build build-xla demo data test test-deps test-short bench bench-cpu lint dashboards clean

all: build

build:
	$(GO) build -o bin/sweep ./cmd/sweep

# A binary that can also run on NVIDIA GPUs through XLA (needs cgo; see docs/gpu.md).
build-xla:
	$(GO) build -tags xla -o bin/sweep-xla ./cmd/sweep

# Debian's Fashion-MNIST package: /usr/share/datasets/fashion-mnist.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		echo "installing dataset-fashion-mnist"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	fi

demo: data build
	./bin/sweep launch configs/quickstart.yaml

# What the tests need: the real data set, Prometheus and its Pushgateway
# (integration tests, promtool), Slurm and munge (a real single-node cluster,
# which the tests start and stop themselves), and DuckDB from npm (an
# independent Parquet reader). Each is installed only when missing; go test
# itself installs nothing.
test-deps: data
	@if ! command -v prometheus >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then \
		echo "installing prometheus"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway; \
	fi
	@if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then \
		echo "installing slurm"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null; \
	fi
	@if [ ! -d $(DUCKDB)/node_modules/@duckdb/node-api ] && command -v npm >/dev/null; then \
		echo "installing DuckDB (npm)"; \
		mkdir -p $(DUCKDB) && npm install --prefix $(DUCKDB) --no-audit --no-fund --silent @duckdb/node-api@1.5.6-r.1; \
	fi

# SWEEP_REQUIRE_ALL: a test whose requirement (root, a tmpfs, Slurm,
# Prometheus, DuckDB, the data set) is missing fails instead of skipping.
test: test-deps
	$(GO) vet ./...
	SWEEP_REQUIRE_ALL=1 SWEEP_DUCKDB=$(DUCKDB) $(GO) test -count=1 -timeout 40m ./...

# The fast subset: no training, no integration with external services.
test-short:
	$(GO) test -short -count=1 ./...

bench:
	@echo "CPU: $$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) ($$(nproc) cores)"
	$(GO) test -run '^$$' -bench . -benchtime 10x ./runner/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./probe/ ./results/
	$(GO) test -run '^$$' -bench . -cpu 1 ./internal/matmul/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./sweep/grid/
	$(GO) test -run '^$$' -bench Controller -benchtime 1x ./cmd/sweep/
	@$(MAKE) --no-print-directory bench-cpu

# The training step against PyTorch's on this CPU, side by side (needs
# python3-torch; prints how to install it otherwise). A benchmark, never a test.
# On one thread (as the quickstart's jobs run: two jobs of one core each),
# then on every core.
bench-cpu: build
	@if /usr/bin/python3 -c 'import torch' 2>/dev/null; then scripts/cpu-bench.sh bin/sweep 3 1 && scripts/cpu-bench.sh bin/sweep 3; \
	else echo "bench-cpu: PyTorch is not installed: $(SUDO) apt-get install -y python3-torch libopenblas0-pthread"; fi

# The XLA build (cgo, -tags xla) is compiled and vetted too, so that the GPU
# path cannot break unseen on machines without a GPU.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) build -tags xla ./...
	$(GO) vet -tags xla ./...
	$(GO) run $(STATICCHECK) ./...

dashboards:
	$(GO) run ./dashboards/gen

clean:
	rm -rf bin
