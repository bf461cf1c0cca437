#!/usr/bin/env bash
# CPU benchmark of the pretraining step (issue: CPU steps against PyTorch's):
# `sweep bench-step` on the Go backend and the same step in PyTorch eager on
# the CPU (scripts/torch_dogo_step.py: same encoders, heads, losses, views made
# in the step, Adam), alternated in rounds in one run, on the pairs the
# quickstart trains and the MLP pair. Prints each step's median time per round
# and the ratio GoMLX / PyTorch; only ratios measured side by side mean much.
# Needs PyTorch for /usr/bin/python3: apt-get install python3-torch libopenblas0-pthread
# Usage: scripts/cpu-bench.sh [bin/sweep] [rounds] [threads]
set -euo pipefail
BIN=${1:-bin/sweep}
ROUNDS=${2:-3}
THREADS=${3:-$(nproc)}
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch is not installed for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2
  exit 2
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for archs in cnn-s+cnn-l cnn-s+cnn-s cnn-s cnn-l mlp-m+mlp-m; do
    GOMAXPROCS=$THREADS "$BIN" bench-step --backend go --archs "$archs" --dataset fashion-mnist --batch 256 --steps 20 \
      | sed "s/^{/{\"round\":$round,/" >> "$OUT"
    OMP_NUM_THREADS=$THREADS "$PY" scripts/torch_dogo_step.py --device cpu --modes eager --threads "$THREADS" \
      --dataset fashion-mnist --archs "$archs" --batch 256 --steps 20 | sed "s/^{/{\"round\":$round,/" >> "$OUT"
  done
done
"$PY" - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'step (batch 256)':16} {'round':>5} {'GoMLX ms':>9} {'PyTorch ms':>10} {'GoMLX/PyTorch':>13}")
for archs in dict.fromkeys(r["archs"] for r in rows):
    ratios = []
    for rnd in sorted({r["round"] for r in rows}):
        g = next(r for r in rows if r["archs"] == archs and r["round"] == rnd and r["impl"].startswith("gomlx"))
        t = next(r for r in rows if r["archs"] == archs and r["round"] == rnd and r["impl"].startswith("torch"))
        ratio = g["median_step_s"] / t["median_step_s"]
        ratios.append(ratio)
        print(f"{archs:16} {rnd:5d} {1000*g['median_step_s']:9.1f} {1000*t['median_step_s']:10.1f} {ratio:13.2f}")
    print(f"{archs:16} {'range':>5} {'':9} {'':10} {min(ratios):6.2f}-{max(ratios):.2f}")
PY
