#!/usr/bin/env bash
# GPU benchmark of the DoGo step (issue 3): GoMLX on XLA CUDA against PyTorch
# eager and torch.compile, same model, loss and batch, on the same GPU.
# Needs an NVIDIA GPU, JAX's CUDA PJRT plugin (pip jax[cuda13]) and, for the
# comparison, PyTorch with torchvision. Build the binary first: make build-xla.
# Usage: scripts/gpu-bench.sh [bin/sweep-xla] [out-dir]
set -euo pipefail
BIN=${1:-bin/sweep-xla}
OUT=${2:-.}
PLUGIN=$(python3 -c 'import jax_plugins.xla_cuda13 as p, os; print(os.path.join(os.path.dirname(p.__file__), "xla_cuda_plugin.so"))')
export GOMLX_NO_AUTO_INSTALL=1
RES="$OUT/gpu-bench.jsonl"
: > "$RES"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
for archs in resnet18+resnet18 resnet18+resnet50; do
  for prec in float32 bf16; do
    GOMLX_BACKEND="xla:$PLUGIN" "$BIN" bench-step --archs "$archs" --dataset cifar10 --batch 256 --steps 20 --precision "$prec" | tee -a "$RES"
  done
  if [ "$archs" = resnet18+resnet18 ]; then
    # The first step is mostly XLA's convolution autotuning: its cost and worth.
    GOMLX_BACKEND="xla:$PLUGIN" XLA_FLAGS=--xla_gpu_autotune_level=0 "$BIN" bench-step --archs "$archs" --dataset cifar10 --batch 256 --steps 20 \
      | sed 's/"impl":"gomlx float32"/"impl":"gomlx fp32 no-autotune"/' | tee -a "$RES"
  fi
  if python3 -c 'import torch, torchvision' 2>/dev/null; then
    python3 scripts/torch_dogo_step.py --archs "$archs" --batch 256 --steps 20 | tee -a "$RES"
  fi
done
python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# TFLOP/s: the step's matrix products (counted by GoMLX; PyTorch's step does
# the same products) times steps/s.
print(f"{'archs':22} {'impl':24} {'steps/s':>8} {'TFLOP/s':>8} {'first step s':>12} {'gomlx fp32 / this':>17}")
for archs in dict.fromkeys(r["archs"] for r in rows):
    g = next((r for r in rows if r["archs"] == archs and r["impl"] == "gomlx float32"), None)
    for r in rows:
        if r["archs"] == archs:
            ratio = g["steps_per_s"] / r["steps_per_s"] if g else float("nan")
            tflops = g["gflop_per_step"] * r["steps_per_s"] / 1000 if g else float("nan")
            print(f"{archs:22} {r['impl']:24} {r['steps_per_s']:8.2f} {tflops:8.1f} {r['first_step_s']:12.1f} {ratio:17.2f}")
PY
