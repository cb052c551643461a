#!/usr/bin/env bash
# The one prepared GPU check: installs the wheels in .whl/ (from scripts/gpu_wheels.sh) into /tmp/site,
# runs every CUDA-marked test and benchmarks/bench_gpu.py, and writes gpu_check.json and gpu_check.log to $OUT
# (without $OUT: to DIR, default runs/gpu_check/). Each phase has its own time limit; all ends within 8 minutes.
#
#   bash benchmarks/gpu_check.sh [DIR]                  # on the GPU machine, with .whl/ beside the tree
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh [DIR]  # on a CPU (--dry): no install, tiny model, 2 steps
#
# onnxruntime-gpu is joined and installed when all its pieces are in /tmp/ort (scripts/gpu_wheels.sh --ort).
# A check that follows an earlier one may narrow the benchmark: GPU_CHECK_VARIANTS (a JSON list, bench_gpu.py's
# --variants) and GPU_CHECK_PARTS (its --parts, comma-separated; "" for none).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${GPU_CHECK_DRY:-0}" = 1 ] || [[ " $* " == *" --dry "* || " $* " == *" --cpu "* ]]; then
  PY=${PYTHON:-.venv/bin/python}
else
  PY=${PYTHON:-python3}
fi
exec "$PY" benchmarks/gpu_check.py "$@"
