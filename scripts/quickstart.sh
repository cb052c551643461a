#!/usr/bin/env bash
# Set up, then generate one clip with the bundled model (models/audioldm-daw-mini, offline) and print where it
# went; without that folder (it is not committed yet), with a random-weight tiny model, which makes noise.
# Usage: bash scripts/quickstart.sh ["your prompt"] [more audioldm-daw generate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
prompt=${1:-"a piano plays a slow, low melody"}
shift || true
model=models/audioldm-daw-mini
if [ ! -f "$model/model_index.json" ]; then
  model=.cache/random-tiny-model
  echo "quickstart: the bundled model is not in this checkout; building a RANDOM-WEIGHT tiny model"
  echo "quickstart: at $model instead. It exercises the whole engine but its audio is noise, not music."
  [ -f "$model/model_index.json" ] || .venv/bin/audioldm-daw build-random-model "$model" --preset tiny
fi
.venv/bin/audioldm-daw generate "$prompt" --model "$model" --duration 5 --steps 50 --seed 1 "$@"
