#!/usr/bin/env bash
# Train the bundled model's recipe (scripts/train_bundled.sh) on a GPU machine lent for one command of at most
# ten minutes, from what scripts/pack_gpu_training.sh packed into .gpu-train/, and leave in $OUT what comes back:
#   model-audio.tar.gz  the assembled model, LDM on CLAP audio embeddings (unpacks to WORK_DIR/model)
#   model-text.tar.gz   the same with the LDM on caption text embeddings (WORK_DIR/ldm-text/model)
#   runs.tar.gz         every stage's config, summary and losses, and the scoring CLAP the evaluation needs
#   gpu_train.log       this script's output
# Weights travel as float16 (scripts/unpack_gpu_training.sh widens them again).
# Nothing is evaluated here: that runs afterwards where the full dataset is (scripts/unpack_gpu_training.sh).
#
# The time plan (seconds from the start, default settings; train_bundled.sh runs the stages in two lanes):
#   0-30      wheels installed, GPU checked, dataset unpacked
#   lane 1    vae and clap side by side, 60 s of training each; then ldm-audio, ldm-text and vae-decoder (the
#             VAE's decoder, encoder frozen) side by side until the deadline (about 320 s each)
#   lane 2    vocoder-rec 45 s, clap-eval 45 s, then the adversarial vocoder until the deadline (about 270 s)
#   470       the deadline (BUDGET_S - RESERVE_S): every stage still training checkpoints and exports
#   470-510   both models assembled side by side, then packed with the logs
# Each stage also spends time starting and preparing its data outside its own limit (docs/benchmarks.md); the
# deadline covers that, and a hard stop at BUDGET_S - 20 s keeps the packing from being cut off should anything overrun.
#
# Usage: bash scripts/gpu_train.sh [DEST]     (default DEST: $OUT)
#   BUDGET_S=S        wall-clock seconds this script may take in all (default 540, inside a 600 s command)
#   RESERVE_S=S       of those, the seconds kept after training to assemble and pack the models (default 70):
#                     every stage stops by BUDGET_S - RESERVE_S after the start (train_bundled.sh's FINISH_BY)
#   STAGE_LIMITS      per-stage budgets (default "vae=60 clap=60 vocoder-rec=45 clap-eval=45"); the others get
#                     TIME_LIMIT (default 3600), so they train until the deadline
#   STEP_PCT, BATCH_X as in train_bundled.sh (default 1000 and 8: the time limits, not the steps, end the stages)
#   DEVICE=cuda|cpu   where to train (default cuda; the tests run the whole script on the CPU)
#   INSTALL=0         install no wheels: PYTHON already has this package and its dependencies (the tests)
#   PYTHON=PATH       the Python to use (default python3); SITE=DIR where the wheels go (default /tmp/site)
#   PACK=DIR          what pack_gpu_training.sh packed (default .gpu-train)
#   WORK=DIR          the run folder on this machine (default /tmp/audioldm-gpu-run)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
DEST=${1:-${OUT:-}}
if [ -z "$DEST" ]; then
  echo "gpu_train: no destination: expected \$OUT (set on the GPU machine) or a folder as the argument" >&2
  exit 2
fi
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
exec > >(tee -a "$DEST/gpu_train.log") 2>&1
PACK=${PACK:-.gpu-train}
W=${WORK:-/tmp/audioldm-gpu-run}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-540}
RESERVE_S=${RESERVE_S:-70}
for n in BUDGET_S RESERVE_S; do
  if ! [[ "${!n}" =~ ^[0-9]+$ ]]; then
    echo "gpu_train: $n must be a whole number of seconds, got '${!n}'" >&2
    exit 2
  fi
done
if ((RESERVE_S >= BUDGET_S)); then
  echo "gpu_train: RESERVE_S ($RESERVE_S) must be less than BUDGET_S ($BUDGET_S)" >&2
  exit 2
fi
[ -f "$PACK/data.tar.gz" ] || {
  echo "gpu_train: $PACK/data.tar.gz is missing: run scripts/pack_gpu_training.sh first and carry $PACK" >&2
  exit 2
}
mark() { echo "gpu_train: +$(($(date +%s) - start)) s: $*"; }

if [ "${INSTALL:-1}" = 1 ]; then
  [ -f "$PACK/whl/wheels.json" ] || {
    echo "gpu_train: no $PACK/whl/wheels.json (expected the wheels scripts/pack_gpu_training.sh gathers)" >&2
    exit 2
  }
  SITE=${SITE:-/tmp/site}
  "$PY" scripts/gpu_wheels.py install "$PACK/whl" "$SITE"
  export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
  mark "wheels installed into $SITE"
fi
"$PY" - "$DEVICE" <<'EOF'
import sys

import diffusers, soundfile, torch, transformers  # noqa: E401 (what the stages need, checked before they start)

print(f"python {sys.version.split()[0]}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
      f"transformers {transformers.__version__}, soundfile {soundfile.__version__}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("gpu_train: DEVICE=cuda, but torch sees no GPU (expected the lent machine's; DEVICE=cpu trains here)")
    print(f"gpu: {torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
EOF
mkdir -p "$W"
"$PY" -m audioldm_daw.workbench.training.transfer unpack-data "$PACK/data.tar.gz" "$W/data" --jobs "$(nproc)"
mark "unpacked the dataset into $W/data"

# Training: every stage stops by FINISH_BY; a hard stop shortly before the budget ends keeps the packing below
# from being cut off, should a stage overrun anyway (then only the logs come back).
finish_by=$((start + BUDGET_S - RESERVE_S))
hard_stop=$((start + BUDGET_S - 20 - $(date +%s)))
status=0
timeout -k 5 "$hard_stop" env SETUP=0 RENDER=0 EVALUATE=0 PYTHON="$PY" DEVICE="$DEVICE" \
  STEP_PCT="${STEP_PCT:-1000}" BATCH_X="${BATCH_X:-8}" TIME_LIMIT="${TIME_LIMIT:-3600}" \
  STAGE_LIMITS="${STAGE_LIMITS:-vae=60 clap=60 vocoder-rec=45 clap-eval=45}" FINISH_BY="$finish_by" \
  OUT_MODEL="$W/model" EVAL_DIR="$W/eval" bash scripts/train_bundled.sh "$W" || status=$?
mark "training and assembly ended with status $status"
"$PY" - "$W" <<'EOF' || true
import json, sys
from pathlib import Path

for name in ("vae", "vae-decoder", "clap", "vocoder-rec", "vocoder", "clap-eval", "ldm-audio", "ldm-text"):
    f = Path(sys.argv[1]) / name / "summary.json"
    if f.is_file():
        s = json.loads(f.read_text())
        print(f"  {name:12s} {s['steps']:6d} steps, batch {s['batch_size']}, {s['steps_per_second']:.2f} steps/s, "
              f"stopped by time: {s['stopped_by_time_limit']}, running loss {s['final_running_loss']:.4f}")
EOF

# What comes back: the two models, and the logs with the scoring CLAP.
pack() { "$PY" -m audioldm_daw.workbench.training.transfer pack "$W" "$DEST/$1" "${@:2}" || status=$?; }
[ ! -f "$W/model/model_index.json" ] || pack model-audio.tar.gz model
[ ! -f "$W/ldm-text/model/model_index.json" ] || pack model-text.tar.gz ldm-text/model
logs=()
for s in vae vae-decoder clap vocoder-rec vocoder clap-eval ldm-audio ldm-text; do
  for f in config.json summary.json losses.jsonl; do [ ! -f "$W/$s/$f" ] || logs+=("$s/$f"); done
done
for d in clap-eval/clap clap-eval/tokenizer; do [ ! -d "$W/$d" ] || logs+=("$d"); done
((${#logs[@]} == 0)) || pack runs.tar.gz "${logs[@]}"
mark "packed into $DEST: $(cd "$DEST" && ls -l --block-size=K | awk 'NR > 1 { printf "%s %s  ", $9, $5 }')"
if ((status != 0)); then
  echo "gpu_train: failed (status $status); $DEST holds what there was" >&2
fi
exit "$status"
