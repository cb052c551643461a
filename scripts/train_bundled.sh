#!/usr/bin/env bash
# Retrain the bundled model (models/audioldm-daw-mini) from nothing, offline, on the CPU:
# render the synthetic dataset, train CLAP, VAE, vocoder and the LDM on CLAP audio embeddings (the `micro`
# preset), assemble the model folder, train the same LDM on CLAP text embeddings and a second CLAP for
# scoring (the paper's comparison), and evaluate both models on the held-out prompts.
#
# Usage: bash scripts/train_bundled.sh [WORK_DIR]     (default WORK_DIR: runs/bundled)
#   OUT_MODEL=DIR  where the model goes (default models/audioldm-daw-mini)
#   EVAL_DIR=DIR   classifier, held-out prompts and report (default models/audioldm-daw-mini-eval)
# On two CPU cores this takes about five hours. Every stage resumes from its newest checkpoint
# when the script is run again after an interruption, and finished stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
W=${1:-runs/bundled}
OUT_MODEL=${OUT_MODEL:-models/audioldm-daw-mini}
EVAL_DIR=${EVAL_DIR:-models/audioldm-daw-mini-eval}
A=.venv/bin/audioldm-daw
COMMON=(--preset micro --threads 1 --cpu --warmup 100 --checkpoint-every 250 --keep-checkpoints 2 --resume --quiet)
mkdir -p "$W" "$EVAL_DIR"

# One stage, unless its run folder already holds a finished result.
stage() { local out=$1; shift; [ -f "$out/summary.json" ] || $A train "$@" --out "$out" "${COMMON[@]}"; }

[ -f "$W/data/dataset.json" ] || .venv/bin/python -m audioldm_daw.engine.dataset "$W/data" --n-train 1120 --n-test 140
D=$W/data/train

# CLAP, VAE and vocoder do not depend on each other: two at a time, one thread each.
stage "$W/vae" vae --data "$D" --steps 1500 --batch-size 16 --seconds 1.28 &
vae=$!
stage "$W/clap" clap --data "$D" --steps 2000 --batch-size 32 --text-noise 0.15
# The vocoder in two phases: reconstruction losses only, then HiFi-GAN's discriminators on top.
stage "$W/vocoder-rec" vocoder --data "$D" --steps 1000 --batch-size 8 --lr 4e-4
stage "$W/vocoder" vocoder --data "$D" --init "$W/vocoder-rec" --adversarial --steps 6000 --batch-size 8 \
  --lr 2e-4 --warmup 50
wait $vae

# The LDM on CLAP audio embeddings (the paper's recipe: no captions needed) and, for the comparison, on
# CLAP text embeddings of the captions, side by side.
# v-prediction with min-SNR weighting and a moving average: an epsilon model at this budget samples latents
# twice too loud (see engine/training/ldm.py).
LDM=(--data "$D" --vae "$W/vae" --clap "$W/clap" --vocoder "$W/vocoder" --steps 5000 --batch-size 8 --seconds 2.56
  --lr 3e-4 --prediction v_prediction --snr-gamma 5 --ema 0.999 --keep-checkpoints 3)
stage "$W/ldm-audio" ldm "${LDM[@]}" --condition audio &
audio=$!
stage "$W/ldm-text" ldm "${LDM[@]}" --condition text
wait $audio

# The scoring CLAP: one caption per clip and no text noise, so it is a different model from the
# conditioning CLAP; it is used only to measure text-audio similarity.
.venv/bin/python -c "
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
root = os.path.abspath(os.path.dirname(sys.argv[1]))
with open(sys.argv[2], 'w') as f:
    f.writelines(json.dumps({'file': os.path.join(root, r['file']), 'caption': r['caption']}) + '\\n' for r in rows)
" "$D/metadata.jsonl" "$W/one-caption.jsonl"
stage "$W/clap-eval" clap --data "$D" --captions "$W/one-caption.jsonl" --steps 1500 --batch-size 32

$A train assemble --clap "$W/clap" --vae "$W/vae" --vocoder "$W/vocoder" --ldm "$W/ldm-audio" --out "$OUT_MODEL"
cp "$W/data/heldout_prompts.jsonl" "$EVAL_DIR/heldout_prompts.jsonl"
$A evaluate --model "$OUT_MODEL" --model "$W/ldm-text/model" --prompts "$EVAL_DIR/heldout_prompts.jsonl" \
  --data "$W/data" --classifier "$EVAL_DIR/classifier.pt" --eval-clap "$W/clap-eval" \
  --steps 25 --out "$EVAL_DIR/evaluation.json"
