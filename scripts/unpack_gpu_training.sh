#!/usr/bin/env bash
# After a GPU run (scripts/gpu_train.sh), here: unpack the models and logs it brought back into WORK_DIR, float32
# again, and evaluate both models as scripts/train_bundled.sh does (its TRAIN=0 setting: the same command,
# held-out prompts, scoring CLAP and classifier recipe), so the figures compare with the bundled model's card
# (models/audioldm-daw-mini/README.md). The full dataset lives here (WORK_DIR/data, as packed or rendered anew).
#
# Usage: bash scripts/unpack_gpu_training.sh FROM [WORK_DIR]
#   FROM              the folder holding what the GPU call wrote to $OUT (model-audio.tar.gz, model-text.tar.gz,
#                     runs.tar.gz, gpu_train.log)
#   WORK_DIR          where the run goes (default runs/gpu, the folder scripts/pack_gpu_training.sh packed from)
#   EVAL_DIR=DIR      held-out prompts, classifier and report (default WORK_DIR/eval); a classifier.pt there is
#                     reused, else one is trained on WORK_DIR/data (seeded: the same data gives the same one)
#   CLASSIFIER=FILE   copy this classifier into EVAL_DIR first, e.g. the one the card's figures were measured with
#   EVALUATE=0        unpack only
#   EVAL_STEPS, EVAL_LIMIT, DEVICE, PYTHON, SETUP   as in scripts/train_bundled.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "unpack_gpu_training: $*" >&2; exit 2; }
FROM=${1:-}
[ -n "$FROM" ] || fail "expected the folder the GPU call's files came back in as the first argument"
W=${2:-runs/gpu}
EVAL_DIR=${EVAL_DIR:-$W/eval}
PY=${PYTHON:-.venv/bin/python}
[[ "${EVALUATE:-1}" =~ ^[01]$ ]] || fail "EVALUATE must be 0 or 1, got '${EVALUATE}'"
for f in model-audio.tar.gz model-text.tar.gz runs.tar.gz; do
  [ -f "$FROM/$f" ] || fail "$FROM/$f is missing (expected the files scripts/gpu_train.sh writes; see its gpu_train.log)"
done
if [ -n "${CLASSIFIER:-}" ] && [ ! -f "$CLASSIFIER" ]; then
  fail "CLASSIFIER=$CLASSIFIER is not a file (expected a classifier.pt written by audioldm-daw evaluate)"
fi
[ "${SETUP:-1}" = 0 ] || bash scripts/setup.sh

# The models replace any earlier ones in WORK_DIR whole, so no file of another run stays among them.
mkdir -p "$W" "$EVAL_DIR"
rm -rf "$W/model" "$W/ldm-text/model" "$W/clap-eval/clap" "$W/clap-eval/tokenizer"
for f in model-audio.tar.gz model-text.tar.gz runs.tar.gz; do
  "$PY" -m audioldm_daw.workbench.training.transfer unpack "$FROM/$f" "$W"
done
[ ! -f "$FROM/gpu_train.log" ] || cp "$FROM/gpu_train.log" "$W/gpu_train.log"
echo "unpack_gpu_training: models in $W/model (LDM on CLAP audio embeddings) and $W/ldm-text/model (on text)"
[ -z "${CLASSIFIER:-}" ] || cp "$CLASSIFIER" "$EVAL_DIR/classifier.pt"
[ "${EVALUATE:-1}" = 1 ] || exit 0

committed=models/audioldm-daw-mini-eval/heldout_prompts.jsonl
if [ -f "$committed" ] && [ -f "$W/data/heldout_prompts.jsonl" ] && ! cmp -s "$committed" "$W/data/heldout_prompts.jsonl"
then
  echo "unpack_gpu_training: note: $W/data's held-out prompts differ from $committed (another dataset size or" \
    "seed), so the figures will not compare with the card's" >&2
fi
SETUP=0 TRAIN=0 PYTHON="$PY" OUT_MODEL="$W/model" EVAL_DIR="$EVAL_DIR" bash scripts/train_bundled.sh "$W"
echo "unpack_gpu_training: the report is $EVAL_DIR/evaluation.json"
