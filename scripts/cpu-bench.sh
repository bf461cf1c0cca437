#!/usr/bin/env bash
# CPU benchmark of the pretraining step (issue: CPU steps against PyTorch's):
# `sweep bench-step` on the Go backend and the same step in PyTorch eager on
# the CPU (scripts/torch_dogo_step.py: same encoders, heads, losses, views made
# in the step, Adam), alternated in rounds in one run: the quickstart's CNNs
# (2x2-grid pooling, batch 64), the global-pool CNNs at batch 256, and the MLP
# pair. Prints each step's median time per round and the ratio GoMLX / PyTorch;
# only ratios measured side by side mean much.
# Needs PyTorch for /usr/bin/python3: apt-get install python3-torch libopenblas0-pthread
# Usage: scripts/cpu-bench.sh [bin/sweep] [rounds] [threads]
# (make bench-cpu: 3 rounds on 1 thread, as the quickstart's jobs run, then on every core)
set -euo pipefail
BIN=${1:-bin/sweep}
ROUNDS=${2:-3}
THREADS=${3:-$(nproc)}
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch is not installed for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2
  exit 2
fi
# PyTorch is measured at its steady speed, configured as it runs best here:
# - glibc's malloc hands PyTorch's large buffers back to the kernel between
#   steps in some processes and not in others (same seed, same step), and on
#   these VMs a fresh page costs microseconds: one PyTorch step (solo cnn-l,
#   batch 256, one thread) took 104-459 ms from process to process (341k page
#   faults against 74k). Holding the buffers (no mmap under 32 MiB, no
#   trimming): 111-112 ms in four runs.
# - Debian's PyTorch runs its matrix products in OpenBLAS, whose own thread
#   pool fights PyTorch's OpenMP threads for the cores: on 2 threads the MLP
#   pair took 100-170 ms with it, 64-65 ms with OpenBLAS on one thread (the
#   convolutions still use both cores through OpenMP).
# TORCH_ENV= (empty) measures PyTorch as it comes.
TORCH_ENV=${TORCH_ENV-env MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=268435456 OPENBLAS_NUM_THREADS=1}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
STEPS="cnn-s-g2+cnn-l-g2:64 cnn-s-g2+cnn-s-g2:64 cnn-s-g2:64 cnn-l-g2:64
  cnn-s+cnn-l:256 cnn-s+cnn-s:256 cnn-s:256 cnn-l:256 mlp-m+mlp-m:256"
for round in $(seq 1 "$ROUNDS"); do
  for step in $STEPS; do
    archs=${step%:*} batch=${step#*:}
    # (grep: GoMLX prints its parallelism setting on stdout)
    GOMAXPROCS=$THREADS "$BIN" bench-step --backend go --archs "$archs" --dataset fashion-mnist --batch "$batch" --steps 20 \
      | grep '^{' | sed "s/^{/{\"round\":$round,/" >> "$OUT"
    OMP_NUM_THREADS=$THREADS $TORCH_ENV "$PY" scripts/torch_dogo_step.py --device cpu --modes eager --threads "$THREADS" \
      --dataset fashion-mnist --archs "$archs" --batch "$batch" --steps 20 | sed "s/^{/{\"round\":$round,/" >> "$OUT"
  done
done
CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "CPU: $CPU ($(nproc) cores, $THREADS threads), $ROUNDS rounds, $(date -u +%Y-%m-%d); PyTorch's settings: ${TORCH_ENV:-as it comes}"
"$PY" - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'step':18} {'batch':>5} {'round':>5} {'GoMLX ms':>9} {'PyTorch ms':>10} {'GoMLX/PyTorch':>13}")
for archs, batch in dict.fromkeys((r["archs"], r["batch"]) for r in rows):
    ratios = []
    for rnd in sorted({r["round"] for r in rows}):
        mine = [r for r in rows if r["archs"] == archs and r["batch"] == batch and r["round"] == rnd]
        g = next(r for r in mine if r["impl"].startswith("gomlx"))
        t = next(r for r in mine if r["impl"].startswith("torch"))
        ratio = g["median_step_s"] / t["median_step_s"]
        ratios.append(ratio)
        print(f"{archs:18} {batch:5d} {rnd:5d} {1000*g['median_step_s']:9.1f} {1000*t['median_step_s']:10.1f} {ratio:13.2f}")
    print(f"{archs:18} {batch:5d} {'range':>5} {'':9} {'':10} {min(ratios):6.2f}-{max(ratios):.2f}")
PY
