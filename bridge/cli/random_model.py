"""``audioldm-daw build-random-model OUT``: a model folder with random weights.

For benchmarks (``--preset s-full`` has the public AudioLDM-S-full shapes) and for trying the tool
before any model is available. Its audio is noise: it is not a trained model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audioldm_daw.bridge.cli.train import PRESET_NAMES

HELP = "write a model folder with RANDOM weights (benchmarks, smoke tests; it makes noise, not music)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to create")
    p.add_argument(
        "--preset", default="tiny", choices=PRESET_NAMES, help="architecture size (default tiny; see train --help)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-clap", action="store_true", help="leave out the clap/ audio tower")


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine.architecture import build_random_folder  # torch: only when a folder is built

    out = build_random_folder(Path(args.out), args.preset, seed=args.seed, with_clap=not args.no_clap)
    print(f"wrote random-weight {args.preset} model folder {out}")
    return 0
