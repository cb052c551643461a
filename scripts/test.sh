#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite on the CPU. No weights or data are downloaded:
# the tests build tiny random models on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy  # the type check ([tool.mypy] in pyproject.toml); about a minute the first time
# Two or more cores: the tests run on pytest-xdist workers, up to four (AUDIOLDM_DAW_TEST_WORKERS sets the count;
# 1 runs them in this process). Many tests wait on processes they start (serve, the command line, g++), and
# tests/conftest.py gives each worker its share of the cores: on two cores the suite took 791 s on two workers
# against 1214-1284 s in one process (1032 s on two workers with torch's default threads, oversubscribed).
# Arguments after the script's name go to pytest and come last, so `-n 0` there also turns it off.
cores=$(.venv/bin/python -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)')
workers=${AUDIOLDM_DAW_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
if [ "$workers" -gt 1 ]; then dist=(-n "$workers"); else dist=(-n 0); fi
.venv/bin/python -m pytest -q "${dist[@]}" "$@"
