#!/usr/bin/env bash
# Rewrite constraints.txt from what .venv holds: the exact versions that scripts/setup.sh installs.
#
# constraints.txt is what makes a setup next month install what the tests passed with this month: pyproject.toml
# says which versions the code accepts (ranges), constraints.txt which ones were tested together (exact).
# To move to newer releases:
#
#   AUDIOLDM_DAW_UNPINNED=1 bash scripts/test.sh   # setup takes the newest versions pyproject.toml accepts
#   bash scripts/lock.sh                           # then, once that passed, pin them
#
# and commit constraints.txt with whatever the new versions needed.
set -euo pipefail
cd "$(dirname "$0")/.."

{
  echo "# The versions the test suite passed with, together (Linux x86_64, CPython $(.venv/bin/python -c 'import platform; print(platform.python_version())')); scripts/setup.sh installs"
  echo "# these. pyproject.toml holds the ranges the code accepts; scripts/lock.sh writes this file from .venv."
  echo "# Packages that a platform does not need (CUDA's, triton on macOS) are only constraints: nothing installs them."
  .venv/bin/python -m pip freeze --exclude-editable --all | grep -v -i -E '^pip=='  # setup.sh upgrades pip itself
} > constraints.txt
echo "lock: constraints.txt pins $(grep -c '==' constraints.txt) packages"
