#!/usr/bin/env bash
# Wheels for a GPU machine without internet (CPython 3.12, Linux x86_64) that has torch, transformers and the
# CPU onnxruntime but not diffusers, python-osc, soundfile, ...: downloads them at .venv's versions into .whl/,
# with this project's wheel built from the checkout and .whl/wheels.json, which benchmarks/gpu_check.sh installs.
#
#   bash scripts/gpu_wheels.sh          # .whl/ (about 16 MB): send it along with the tree
#   bash scripts/gpu_wheels.sh --ort    # also onnxruntime-gpu (255 MB) in $PIECE_MB-MiB pieces (40) in .whl-ort/
#
# Where about 64 MiB travel at a time (the tree is about 20 MiB), the pieces go one per transfer, each copied to
# /tmp/ort there (--ort prints the commands, in order); gpu_check.sh joins and installs them once all are there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PIECE_MB=${PIECE_MB:-40}
ORT=0
for arg in "$@"; do
  case "$arg" in
    --ort) ORT=1 ;;
    *) echo "usage: bash scripts/gpu_wheels.sh [--ort]" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" scripts/gpu_wheels.py gather "$tmp/whl" --stamp "$(python3 benchmarks/gpu_check.py --source-stamp)"
rm -rf .whl
mv "$tmp/whl" .whl
ls -1 .whl
echo "gpu_wheels: .whl holds $(du -sb .whl | cut -f1) bytes ($(du -sh .whl | cut -f1))"

if [ "$ORT" = 1 ]; then
  version=$("$PY" -c 'import importlib.metadata as m; print(m.version("onnxruntime-gpu"))')
  if "$PY" scripts/gpu_wheels.py ort-kept "$version"; then
    echo "gpu_wheels: .whl-ort already holds onnxruntime-gpu $version"
  else
    mkdir -p "$tmp/ort"
    echo "gpu_wheels: downloading onnxruntime-gpu==$version (about 250 MB)"
    "$PY" scripts/gpu_wheels.py download "$tmp/ort" "onnxruntime-gpu==$version"
    wheel=$(cd "$tmp/ort" && ls onnxruntime_gpu-*.whl)
    (cd "$tmp/ort" && split -b "${PIECE_MB}M" -d -a 2 "$wheel" "$wheel.part")
    "$PY" scripts/gpu_wheels.py ort-pieces "$tmp/ort" "$wheel"
    rm "$tmp/ort/$wheel"
    rm -rf .whl-ort
    mv "$tmp/ort" .whl-ort
  fi
  ls -l .whl-ort
  echo "gpu_wheels: onnxruntime-gpu in $(ls .whl-ort/*.part* | wc -l) pieces; each goes with MANIFEST.json, in order:"
  pieces=(.whl-ort/*.part*)
  for piece in "${pieces[@]}"; do
    if [ "$piece" = "${pieces[-1]}" ]; then  # the small last piece travels with .whl and the check itself
      echo "  $piece + .whl: mkdir -p /tmp/ort && cp .whl-ort/MANIFEST.json $piece /tmp/ort/ &&" \
        "bash benchmarks/gpu_check.sh"
    else
      echo "  $piece: mkdir -p /tmp/ort && cp .whl-ort/MANIFEST.json $piece /tmp/ort/"
    fi
  done
fi
