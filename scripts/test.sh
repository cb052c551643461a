#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite on the CPU. No weights or data are downloaded: the tests build
# tiny random models on the spot.
#   bash scripts/test.sh           the whole suite, with ruff and mypy first (what CI runs)
#   bash scripts/test.sh --fast    the quick lane before a commit: ruff, then the tests marked fast (tests/conftest.py
#                                  lists them: the request model, geometry, protocol, sidecars, one generate)
# Other arguments go to pytest and come last (`-n 0` runs the tests in this process; `-k WORDS` narrows them).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
if [ "$fast" = 1 ]; then
  exec .venv/bin/python -m pytest -q -n auto -m fast "$@"
fi
.venv/bin/python -m mypy  # the type check ([tool.mypy] in pyproject.toml)
# On pytest-xdist workers, one per core, at most four (tests/conftest.py picks the count for `-n auto` and gives each
# worker its share of the cores).
.venv/bin/python -m pytest -q -n auto "$@"
