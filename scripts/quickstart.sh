#!/usr/bin/env bash
# Set up, then generate one clip with the bundled model (offline) and print where it went.
# Usage: bash scripts/quickstart.sh ["your prompt"] [more audioldm-daw generate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
prompt=${1:-"a piano plays a slow, low melody"}
shift || true
# No --model: the default is the bundled model in models/audioldm-daw-mini (or $AUDIOLDM_DAW_MODEL).
.venv/bin/audioldm-daw generate "$prompt" --duration 5 --steps 50 --seed 1 "$@"
