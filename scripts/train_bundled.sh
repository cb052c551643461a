#!/usr/bin/env bash
# Train the project's small model (models/audioldm-daw-mini) from nothing, offline: render the synthetic
# dataset, train CLAP, VAE, vocoder and the LDM on CLAP audio embeddings with the `micro` preset (about 4 M
# parameters; the folder is named after the model, and the `mini` preset is a larger size), assemble the model
# folder, train the same LDM on CLAP text embeddings and a second CLAP for scoring (the paper's comparison),
# and evaluate both models on the held-out prompts.
#
# Usage: bash scripts/train_bundled.sh [WORK_DIR]     (default WORK_DIR: runs/bundled)
#   OUT_MODEL=DIR     where the model goes (default models/audioldm-daw-mini)
#   EVAL_DIR=DIR      classifier, held-out prompts and report (default models/audioldm-daw-mini-eval)
#   DEVICE=cpu|cuda   where to train (default: cuda when torch sees a GPU, else cpu with one thread per stage)
#   TIME_LIMIT=S      wall-clock budget of each training stage in seconds; a stage past it checkpoints,
#                     exports and counts as finished (default: none, every stage runs its steps)
#   STAGE_LIMITS="S=SECONDS ..."  budgets of the stages named (run folder names: vae vae-decoder clap vocoder-rec
#                     vocoder clap-eval ldm-audio ldm-text), instead of TIME_LIMIT for those, e.g. "vae=60 clap=60"
#   FINISH_BY=T       a moment (seconds since the epoch, as `date +%s` prints) by which every stage still
#                     training stops, checkpoints and exports, whatever its own budget (a lent machine's slot)
#   STEP_PCT=N        every stage's steps scaled to N percent (default 100; a quick trial: 5; a smoke
#                     test of the script itself: 0.2)
#   BATCH_X=N         every stage's batch size multiplied by N (default 1)
#   N_TRAIN, N_TEST   dataset size (default 1120 and 140 clips)
#   PRESET=NAME       architecture preset (default micro)
#   EVAL_STEPS, EVAL_LIMIT   denoising steps and number of held-out prompts in the evaluation
#                     (default 25 and all of them)
#   SETUP=0           skip scripts/setup.sh (the environment is already there)
#   RENDER=0          never render the dataset: WORK_DIR/data must already hold it (a machine without fluidsynth
#                     and espeak-ng, where scripts/gpu_train.sh unpacks a packed copy)
#   TRAIN=0           train and assemble nothing: evaluate the models already in OUT_MODEL and
#                     WORK_DIR/ldm-text/model (brought back from a GPU by scripts/unpack_gpu_training.sh);
#                     with EVALUATE=0 too, the script only renders the dataset
#   EVALUATE=0        stop once both models are assembled (the evaluation runs elsewhere afterwards)
#   CONTINUE="S ..."  stages (run folder names, e.g. "vocoder ldm-audio ldm-text") that stopped at their time
#                     limit, or short of this run's step count (a larger STEP_PCT), train on from their newest
#                     checkpoint under this run's limits instead of being skipped; the others stay as they are (a
#                     VAE or CLAP that trains on would change what the LDMs were trained on; vae-decoder, the VAE's
#                     decoder trained on with its encoder frozen, does not, so it can always train on)
# The full recipe takes hours on a CPU (docs/benchmarks.md). Every stage resumes from its newest checkpoint
# when the script is run again after an interruption, and finished stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SETUP:-1}" = 0 ] || bash scripts/setup.sh
W=${1:-runs/bundled}
OUT_MODEL=${OUT_MODEL:-models/audioldm-daw-mini}
EVAL_DIR=${EVAL_DIR:-models/audioldm-daw-mini-eval}
PY=${PYTHON:-.venv/bin/python}
A=("$PY" -m audioldm_daw.bridge.cli)
# Refuse a setting that is not a positive number before anything runs: "positive NAME VALUE UNIT".
positive() {
  if ! [[ "$2" =~ ^[0-9]*\.?[0-9]+$ ]] || awk -v v="$2" 'BEGIN { exit !(v <= 0) }'; then
    echo "train_bundled: $1 must be a positive number of $3, got '$2'" >&2
    exit 2
  fi
}
PCT=${STEP_PCT:-100}
positive STEP_PCT "$PCT" percent
[ -z "${TIME_LIMIT:-}" ] || positive TIME_LIMIT "$TIME_LIMIT" seconds
# Budgets per stage: "STAGE=SECONDS" items naming the run folders below.
STAGES=(vae vae-decoder clap vocoder-rec vocoder clap-eval ldm-audio ldm-text)
declare -A LIMIT=()
read -ra items <<<"${STAGE_LIMITS:-}"
for item in "${items[@]}"; do
  name=${item%%=*} value=${item#*=}
  if [[ "$item" != *=* || " ${STAGES[*]} " != *" $name "* || ! "$value" =~ ^[0-9]*\.?[0-9]+$ ]] ||
    awk -v v="$value" 'BEGIN { exit !(v <= 0) }'; then
    echo "train_bundled: STAGE_LIMITS takes STAGE=SECONDS items, STAGE one of ${STAGES[*]} and SECONDS a" \
      "positive number; got '$item'" >&2
    exit 2
  fi
  LIMIT[$name]=$value
done
[ -z "${FINISH_BY:-}" ] || positive FINISH_BY "$FINISH_BY" "seconds since the epoch"
for flag in RENDER TRAIN EVALUATE; do
  if ! [[ "${!flag:-1}" =~ ^[01]$ ]]; then
    echo "train_bundled: $flag must be 0 or 1, got '${!flag}'" >&2
    exit 2
  fi
done
BX=${BATCH_X:-1}
if ! [[ "$BX" =~ ^[1-9][0-9]*$ ]]; then
  echo "train_bundled: BATCH_X must be a whole number, 1 or more, got '$BX'" >&2
  exit 2
fi
DEVICE=${DEVICE:-$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')}
case $DEVICE in
  # One thread per stage on the CPU: the stages that run side by side share the cores.
  cpu) WHERE=(--cpu --threads 1) ;;
  cuda) WHERE=() ;;
  *) echo "train_bundled: DEVICE must be cpu or cuda, got '$DEVICE'" >&2; exit 2 ;;
esac
COMMON=(--preset "${PRESET:-micro}" "${WHERE[@]}" --warmup 100 --checkpoint-every 250 --keep-checkpoints 2 --resume
  --quiet)
mkdir -p "$W" "$EVAL_DIR"

# The recipe's step count for a stage, scaled by STEP_PCT (at least one step).
steps() { awk -v n="$1" -v p="$PCT" 'BEGIN { s = int(n * p / 100); print (s < 1 ? 1 : s) }'; }
# One stage, unless its run folder already holds a finished result (or CONTINUE names a stage that its time
# limit stopped, or that stopped short of the steps now asked: "unfinished OUT STEPS").
unfinished() {
  [[ " ${CONTINUE:-} " == *" $(basename "$1") "* ]] &&
    "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1]))
sys.exit(not (s.get("stopped_by_time_limit") or int(s.get("steps", 0)) < int(sys.argv[2])))' "$1/summary.json" "$2"
}
# Its budget: STAGE_LIMITS' entry for it, else TIME_LIMIT; and FINISH_BY for all.
stage() {
  local out=$1; shift
  local args=("$@") want=0 i
  for ((i = 0; i < ${#args[@]} - 1; i++)); do [ "${args[i]}" != --steps ] || want=${args[i + 1]}; done
  if [ -f "$out/summary.json" ] && ! unfinished "$out" "$want"; then return 0; fi
  local limit=${LIMIT[$(basename "$out")]:-${TIME_LIMIT:-}} bound=()
  [ -z "$limit" ] || bound+=(--time-limit "$limit")
  [ -z "${FINISH_BY:-}" ] || bound+=(--deadline "$FINISH_BY")
  "${A[@]}" train "$@" --out "$out" "${COMMON[@]}" "${bound[@]}"
}

if [ ! -f "$W/data/dataset.json" ]; then
  if [ "${RENDER:-1}" = 0 ]; then
    echo "train_bundled: RENDER=0, but $W/data holds no dataset (expected $W/data/dataset.json and train/)" >&2
    exit 2
  fi
  "$PY" -m audioldm_daw.workbench.dataset "$W/data" --n-train "${N_TRAIN:-1120}" --n-test "${N_TEST:-140}" \
    --prompts "$W/data/heldout_prompts.jsonl"
fi
D=$W/data/train

# Both models on the held-out prompts: classifier accuracy, FD, KL and the scoring CLAP's similarity.
evaluate() {
  cp "$W/data/heldout_prompts.jsonl" "$EVAL_DIR/heldout_prompts.jsonl"
  local limit=()
  [ -z "${EVAL_LIMIT:-}" ] || limit=(--limit "$EVAL_LIMIT")
  "${A[@]}" evaluate --model "$OUT_MODEL" --model "$W/ldm-text/model" --prompts "$EVAL_DIR/heldout_prompts.jsonl" \
    --data "$W/data" --classifier "$EVAL_DIR/classifier.pt" --eval-clap "$W/clap-eval" \
    --steps "${EVAL_STEPS:-25}" "${limit[@]}" --device "$DEVICE" --out "$EVAL_DIR/evaluation.json"
}
if [ "${TRAIN:-1}" = 0 ]; then
  [ "${EVALUATE:-1}" = 1 ] || exit 0
  for m in "$OUT_MODEL" "$W/ldm-text/model"; do
    if [ ! -f "$m/model_index.json" ]; then
      echo "train_bundled: TRAIN=0 evaluates the models already there, but $m holds none (no model_index.json)" >&2
      exit 2
    fi
  done
  evaluate
  exit 0
fi

# When a stage fails, stop the ones still running beside it (each background job is a shell around one
# training process) rather than leave them training alone.
stop_jobs() { for p in $(jobs -p); do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; true; }
trap stop_jobs EXIT

# The vocoder depends on nothing else, so it trains in a lane of its own beside everything else: in two phases,
# reconstruction losses only, then HiFi-GAN's discriminators on top. The scoring CLAP trains in that lane between
# the two, so that the GAN phase can run on to the end where the stages share one deadline (FINISH_BY): one caption
# per clip and no text noise, so it is a different model from the conditioning CLAP; it is used only to measure
# text-audio similarity.
"$PY" -c "
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
root = os.path.abspath(os.path.dirname(sys.argv[1]))
with open(sys.argv[2], 'w') as f:
    f.writelines(json.dumps({'file': os.path.join(root, r['file']), 'caption': r['caption']}) + '\\n' for r in rows)
" "$D/metadata.jsonl" "$W/one-caption.jsonl"
(
  stage "$W/vocoder-rec" vocoder --data "$D" --steps "$(steps 1000)" --batch-size $((8 * BX)) --lr 4e-4
  stage "$W/clap-eval" clap --data "$D" --captions "$W/one-caption.jsonl" --steps "$(steps 1500)" \
    --batch-size $((32 * BX))
  stage "$W/vocoder" vocoder --data "$D" --init "$W/vocoder-rec" --adversarial --steps "$(steps 6000)" \
    --batch-size $((8 * BX)) --lr 2e-4 --warmup 50
) &
vocoder_lane=$!

# CLAP and VAE, side by side; then the LDM on CLAP audio embeddings (the paper's recipe: no captions needed)
# and, for the comparison, on CLAP text embeddings of the captions, side by side.
# v-prediction with min-SNR weighting and a moving average: an epsilon model at this budget samples latents
# twice too loud (see workbench/training/ldm.py).
stage "$W/vae" vae --data "$D" --steps "$(steps 1500)" --batch-size $((16 * BX)) --seconds 1.28 &
vae=$!
stage "$W/clap" clap --data "$D" --steps "$(steps 2000)" --batch-size $((32 * BX)) --text-noise 0.15
wait $vae
# The VAE's decoder trains on, its encoder frozen, beside the LDMs: the latents the LDMs learn stay the same,
# and the decoder that turns theirs into mels keeps improving (the VAE's short first stage caps every clip).
stage "$W/vae-decoder" vae --data "$D" --init "$W/vae" --decoder-only --steps "$(steps 6000)" \
  --batch-size $((16 * BX)) --seconds 1.28 &
decoder=$!
LDM=(--data "$D" --vae "$W/vae" --clap "$W/clap" --steps "$(steps 5000)" --batch-size $((8 * BX)) --seconds 2.56
  --lr 3e-4 --prediction v_prediction --snr-gamma 5 --ema 0.999 --keep-checkpoints 3)
# The LDM on audio embeddings conditions each 2.56 s crop on its whole clip's embedding (the CLAP learned on whole
# 5.12 s clips and embeds a lone crop poorly) moved by noise (--cond-noise: the text embeddings it is sampled with
# sit off the audio ones); see workbench/training/ldm.py.
stage "$W/ldm-audio" ldm "${LDM[@]}" --condition audio --cond-seconds 5.12 --cond-noise 1.2 &
audio=$!
stage "$W/ldm-text" ldm "${LDM[@]}" --condition text
wait $audio
wait $decoder
wait $vocoder_lane

# The bundled model, and the text-conditioned model for the comparison, from the same CLAP, VAE and vocoder
# (side by side: on a lent GPU machine the seconds after training count).
ASSEMBLE=("${A[@]}" train assemble --clap "$W/clap" --vae "$W/vae-decoder" --vocoder "$W/vocoder")
"${ASSEMBLE[@]}" --ldm "$W/ldm-audio" --out "$OUT_MODEL" &
assembled=$!
"${ASSEMBLE[@]}" --ldm "$W/ldm-text" --out "$W/ldm-text/model"
wait $assembled
# The audio-trained UNet is sampled with text: its folder gets the CLAP's text-to-audio offset, measured on the
# CLAP's own captioned clips (workbench/training/modality.py; the UNet itself never saw a caption).
"${A[@]}" train text-offset --model "$OUT_MODEL" --data "$D" --captions "$W/one-caption.jsonl"
[ "${EVALUATE:-1}" = 0 ] || evaluate
