#!/usr/bin/env bash
# Train the bandwidth extension's envelope network (engine/bandwidth.py) and write its weights into the package
# (engine/data/bandwidth.safetensors), from the recordings workbench/training/bandwidth.py names: the synthetic set
# rendered at 48 kHz, notes rendered from FluidR3 and the samples of Debian's sonic-pi-samples and hydrogen-drumkits
# (installed here when missing, as root or with sudo). Nothing else: the benchmark's recordings stay held out.
#
# Usage: bash scripts/train_bandwidth.sh [WORK_DIR]      (default WORK_DIR: runs/bandwidth)
#   OUT=FILE          where the weights go (default engine/data/bandwidth.safetensors)
#   TIME_LIMIT=S      seconds of training, then checkpoint and export (default 1200)
#   STEPS=N           optimisation steps at most (default 10000)
#   THREADS=N         torch threads (default 2)
# Run again after an interruption, it resumes: renders, features and the checkpoint are kept in WORK_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/bandwidth}
PACKAGES=(sonic-pi-samples fluid-soundfont-gm hydrogen-drumkits)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "train_bandwidth: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  echo "train_bandwidth: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m audioldm_daw.workbench.training.bandwidth --work "$WORK" \
  --out "${OUT:-engine/data/bandwidth.safetensors}" --time-limit "${TIME_LIMIT:-1200}" --steps "${STEPS:-10000}" \
  --threads "${THREADS:-2}"
