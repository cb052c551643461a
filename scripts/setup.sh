#!/usr/bin/env bash
# Set up everything audioldm-daw needs on a fresh Debian/Ubuntu machine: system packages (when run as
# root or with sudo), a virtual environment in .venv, and the package with its test and cluster extras.
# Safe to run again: each step is skipped or cheap when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# lua5.4 and nodejs run the REAPER and Bitwig scripts (daw/) under stub host APIs in the tests; g++ is what
# torch.compile (--compile) builds its CPU kernels with.
APT_PACKAGES=(libsndfile1 libportaudio2 puredata-core liblo-tools jackd2 fluidsynth timgm6mb-soundfont espeak-ng sox lua5.4 nodejs g++)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "setup: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # jackd2 asks about real-time priority unless told not to.
  echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# What the install depends on: the declared and pinned versions and the list of modules (the strict editable
# install links each module file, so a new or moved one needs it again). Unchanged since the last install: done.
stamp_file=.venv/.audioldm-daw-setup
stamp=$( { cat pyproject.toml constraints.txt; echo "unpinned=${AUDIOLDM_DAW_UNPINNED:-0}";
  { find importroot engine bridge export workbench -name '*.py' 2>/dev/null || true; } | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && .venv/bin/python -c "import audioldm_daw" 2>/dev/null
then
  echo "setup: done (already installed; nothing changed since)"
  exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: installing audioldm-daw and its dependencies into .venv (first time: a few minutes)"
# Strict editable mode: a link tree under build/ maps audioldm_daw.{engine,bridge,export} onto the top-level
# folders, which type checkers and editors follow (an import hook they would not); a new module needs this
# script to run again, which every test run does.
# constraints.txt: the exact versions the tests passed with (scripts/lock.sh); AUDIOLDM_DAW_UNPINNED=1 takes the
# newest that pyproject.toml accepts instead, to try an upgrade.
if [ "${AUDIOLDM_DAW_UNPINNED:-0}" = 1 ]; then
  pins=(--upgrade --upgrade-strategy eager)
  echo "setup: AUDIOLDM_DAW_UNPINNED=1: the newest versions pyproject.toml accepts, not constraints.txt's"
else
  pins=(--constraint constraints.txt)
fi
# setuptools warns at every strict editable install that the link tree under build/ must stay (it does: build/ is
# ignored, not cleaned); the warning's filter keeps that box out of the quick start's output, nothing else.
PYTHONWARNINGS="ignore:Editable installation" \
  .venv/bin/python -m pip install -q -e ".[test,cluster]" "${pins[@]}" --config-settings editable_mode=strict
echo "$stamp" > "$stamp_file"
echo "setup: done"
