#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite on the CPU. No weights or data are downloaded:
# the tests build tiny random models on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy  # the type check ([tool.mypy] in pyproject.toml); about a minute the first time
# On pytest-xdist workers, one per core, at most four (tests/conftest.py picks the count for `-n auto` and gives
# each worker its share of the cores; PYTEST_XDIST_AUTO_NUM_WORKERS=N sets the count, 0 runs the tests in this
# process). Many tests wait on processes they start (serve, the command line, g++): on two cores the suite took
# 791 s on two workers against 1214-1284 s in one process. Arguments after the script's name go to pytest and
# come last, so `-n 0` there also turns it off.
.venv/bin/python -m pytest -q -n auto "$@"
