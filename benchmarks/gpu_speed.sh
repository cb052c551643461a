#!/usr/bin/env bash
# The GPU check's follow-up on the speed targets it left open (benchmarks/gpu_check.sh measures everything once;
# this one measures only what might close a gap, so it fits what device time is left after it):
#   1. the CUDA tests named in SPEED_TESTS (default: the graph-replay test; SPEED_TESTS="" runs none)
#   2. benchmarks/bench_decode_cuda_options.py --torch-only: the decode stage under torch.compile and a CUDA graph,
#      whole and each half, against plain torch fp16 (SPEED_DECODE=0 skips it; SPEED_AUTOTUNE=1 adds inductor's
#      max-autotune, the next thing to try for the 8 ms decode target, with all the time left)
#   3. benchmarks/bench_gpu.py on the variants in SPEED_VARIANTS (default: the compiled UNet, warmed up at
#      10.24 s only; a variant is skipped when too little time is left), every engine run next to diffusers'
#      AudioLDMPipeline as in the full check, and the parts named in SPEED_PARTS (default none; e.g.
#      SPEED_PARTS=serve_compiled SPEED_VARIANTS='[]': serve --compile's start, compilation and restart alone);
#      SPEED_VARIANTS='[]' with no SPEED_PARTS runs no benchmark, and step 2 gets all the time
# Results in $OUT (or DIR): speed.log, speed_bench.json, tests.xml. Needs .whl/ (scripts/gpu_wheels.sh, run after the
# last change: its project wheel is what runs) sent along.
#
# Usage: bash benchmarks/gpu_speed.sh [DIR]      SPEED_BUDGET_S=S: seconds for all of it (default 400)
#   SPEED_DRY=1 (with SPEED_DECODE=0 SPEED_TESTS=""): the benchmark on the CPU's tiny model, to check the plumbing
#   here before device time is spent on it (tests/test_gpu_check.py)
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-${OUT:-runs/gpu_speed}}
mkdir -p "$DEST"
exec > >(tee -a "$DEST/speed.log") 2>&1
PY=${PYTHON:-python3}
[ "${SPEED_DRY:-0}" = 0 ] || PY=${PYTHON:-.venv/bin/python}
BUDGET=${SPEED_BUDGET_S:-400}
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
mark() { echo "gpu_speed: +$(($(date +%s) - start)) s: $*"; }

if [ "${SPEED_DRY:-0}" = 0 ] && [ -f .whl/wheels.json ]; then
  "$PY" scripts/gpu_wheels.py install .whl /tmp/site || echo "gpu_speed: the wheels did not install"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
"$PY" -c 'import torch; c = torch.cuda.is_available(); print("gpu:", torch.cuda.get_device_name() if c else None, "torch", torch.__version__)'
mark "installed"

tests=${SPEED_TESTS-"tests/test_cuda.py::test_graph_replay_follows_the_scheduler_loop"}
# shellcheck disable=SC2086
[ -z "$tests" ] || timeout -k 5 120 "$PY" -m pytest -m cuda $tests -q -rs -p no:randomly -p no:cacheprovider \
  --junitxml="$DEST/tests.xml" --timeout 110
mark "tests ended with status $?"

variants=${SPEED_VARIANTS:-'[{"name": "compiled", "kwargs": {"compile_unet": true}, "warm_up": {"durations": [10.24]},
  "slow": true, "min_s": 60}]'}
bench=1  # no variant and no part: no benchmark, and the decode options get all the time
[ "$variants" != "[]" ] || [ -n "${SPEED_PARTS:-}" ] || bench=0
dlimit=$(( $(left) < 150 ? $(left) / 2 : 150 ))
[ "$bench" = 1 ] || dlimit=$(( $(left) - 10 ))
[ -z "${SPEED_AUTOTUNE:-}" ] || dlimit=$(( $(left) - 20 ))  # max-autotune compiles for minutes: all that is left
[ "${SPEED_DECODE:-1}" = 0 ] || timeout -k 5 "$dlimit" "$PY" benchmarks/bench_decode_cuda_options.py --torch-only --repeats 50 ${SPEED_AUTOTUNE:+--autotune}
mark "decode options ended with status $?"

[ "$bench" = 1 ] || exit 0
b=$(( $(left) - 15 ))
dry=()
[ "${SPEED_DRY:-0}" = 0 ] || dry=(--dry)
timeout -k 5 "$((b + 10))" "$PY" benchmarks/bench_gpu.py --parts "${SPEED_PARTS:-}" --variants "$variants" --judge compiled \
  --budget-s "$b" --json "$DEST/speed_bench.json" "${dry[@]}"
mark "bench ended with status $?"
