#!/usr/bin/env bash
# Prepare a training run for a GPU machine lent for a few minutes (scripts/gpu_train.sh runs there, then
# scripts/unpack_gpu_training.sh here): render the synthetic dataset if needed and pack into .gpu-train/ its
# training split, the wheels that machine lacks (its Python has torch, transformers and accelerate, not
# diffusers or soundfile) and a wheel of this project. That machine has no fluidsynth or espeak-ng to render
# the data, and what travels to it, the working tree plus .gpu-train/, may take 64 MiB in all: the clips
# are stored losslessly where that fits and as Ogg Vorbis where it does not (workbench/training/transfer.py says
# how they are chosen), and the script refuses (exit 2) when even so it does not fit.
#
# Usage: bash scripts/pack_gpu_training.sh [WORK_DIR]     (default WORK_DIR: runs/gpu)
#   DATA=DIR          a rendered dataset to pack (default WORK_DIR/data, rendered there by scripts/train_bundled.sh
#                     when missing, N_TRAIN/N_TEST sizing it); WORK_DIR/data then links to it for the evaluation
#   PACK=DIR          the folder to fill, ignored by git (default .gpu-train; carry names it)
#   CARRY_MIB=N       what may travel in all, working tree included (default 64)
#   MARGIN_MIB=N      room left for edits to the working tree before the call (default 2)
#   WHEELS=0          pack no wheels (for a target whose Python already has everything; the tests)
#   JOBS=N            encoding threads (default: one per core)
#   SETUP=0           skip scripts/setup.sh (the environment is already there)
#   PYTHON=PATH       the Python with this package installed (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SETUP:-1}" = 0 ] || bash scripts/setup.sh
W=${1:-runs/gpu}
PACK=${PACK:-.gpu-train}
PY=${PYTHON:-.venv/bin/python}
case $PY in /*) ;; */*) PY=$PWD/$PY ;; esac # the wheel is built in another folder
fail() { echo "pack_gpu_training: $*" >&2; exit 2; }
for n in CARRY_MIB MARGIN_MIB; do
  v=${!n:-}
  [ -z "$v" ] || [[ "$v" =~ ^[0-9]+$ ]] || fail "$n must be a whole number of MiB, got '$v'"
done
[[ "${WHEELS:-1}" =~ ^[01]$ ]] || fail "WHEELS must be 0 or 1, got '${WHEELS}'"
LIMIT=$((${CARRY_MIB:-64} * 1048576))
MARGIN=$((${MARGIN_MIB:-2} * 1048576))
# The pack must not travel as part of the working tree as well, nor be committed.
# (An absolute PACK outside the repository cannot travel; the tests use one.)
if [ -z "$PACK" ] || [[ "/$PACK/" == */../* || "$PACK" == . ]]; then
  fail "PACK must name a folder inside the repository (or an absolute path, for tests), got '$PACK'"
fi
if [[ "$PACK" != /* ]] && git rev-parse --git-dir >/dev/null 2>&1 && ! git check-ignore -q "$PACK/"; then
  fail "$PACK is not ignored by git (expected a line for it in .gitignore): it would travel twice"
fi

# The dataset: the one named, or WORK_DIR/data (rendered by the training script's own code when missing).
mkdir -p "$W"
if [ -n "${DATA:-}" ]; then
  [ -f "$DATA/dataset.json" ] || fail "DATA=$DATA is not a rendered dataset (expected $DATA/dataset.json)"
  if [ ! -e "$W/data" ]; then
    ln -s "$(cd "$DATA" && pwd)" "$W/data"
  elif [ "$(cd "$W/data" && pwd -P)" != "$(cd "$DATA" && pwd -P)" ]; then
    fail "$W/data already holds another dataset than DATA=$DATA (expected one or the other)"
  fi
else
  DATA=$W/data
  [ -f "$DATA/dataset.json" ] || SETUP=0 TRAIN=0 EVALUATE=0 PYTHON="$PY" EVAL_DIR="$W/eval" bash scripts/train_bundled.sh "$W"
fi

# Bytes of the working tree that travel with every call: tracked and untracked files git does not ignore.
tree_bytes() {
  git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null |
    awk '{ s += $1 } END { print s + 0 }'
}
dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

# What an earlier run packed goes (only that: anything else found there still counts towards the limit).
rm -rf "$PACK/whl" "$PACK/data.tar.gz" "$PACK/data.tar.gz.tmp" "$PACK/pack.json"
mkdir -p "$PACK/whl"
if [ "${WHEELS:-1}" = 1 ]; then
  # What the engine needs that the machine lacks, at the versions this environment runs, and this project's
  # wheel: the same set as the GPU check's (scripts/gpu_wheels.py); gpu_train.sh installs what it lacks.
  "$PY" scripts/gpu_wheels.py gather "$PACK/whl"
fi

tree=$(tree_bytes)
wheels=$(dir_bytes "$PACK")
budget=$((LIMIT - tree - wheels - MARGIN))
if ((budget <= 0)); then
  fail "no room for the dataset: the working tree ($(mib "$tree") MiB) and the wheels ($(mib "$wheels") MiB)" \
    "leave $(mib $((budget + MARGIN))) MiB of the $(mib "$LIMIT") MiB that may travel, less the $(mib "$MARGIN") MiB margin"
fi
echo "pack_gpu_training: working tree $(mib "$tree") MiB, wheels $(mib "$wheels") MiB, $(mib "$budget") MiB for the data"
"$PY" -m audioldm_daw.workbench.training.transfer pack-data "$DATA" "$PACK/data.tar.gz" --budget "$budget" \
  --jobs "${JOBS:-$(nproc)}" --report "$PACK/pack.json"

total=$((tree + $(dir_bytes "$PACK")))
if ((total > LIMIT)); then
  fail "$PACK ($(mib $((total - tree))) MiB) and the working tree ($(mib "$tree") MiB) come to $(mib "$total") MiB," \
    "over the $(mib "$LIMIT") MiB that may travel"
fi
echo "pack_gpu_training: $PACK holds $(mib $((total - tree))) MiB; with the working tree $(mib "$total") of $(mib "$LIMIT") MiB"
echo "pack_gpu_training: next, on the GPU machine: bash scripts/gpu_train.sh   (carry: [\"$PACK\"])"
