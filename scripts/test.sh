#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite on the CPU. No weights or data are downloaded:
# the tests build tiny random models on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy  # the type check ([tool.mypy] in pyproject.toml); about a minute the first time
.venv/bin/python -m pytest -q "$@"
