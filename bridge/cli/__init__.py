"""``audioldm-daw``: one command with subcommands, each living in its own module of this package.

This package is the command line and nothing else: it may use the OSC server (``serve``), the clients (``send``,
``inbox``) and the contract, and nothing in the bridge imports it. ``python -m audioldm_daw.bridge.cli`` runs
:func:`main` through ``__main__.py``.

Every subcommand module exposes ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``
(or a ``COMMANDS`` dict of such objects, for families like the manipulations). :data:`SUBCOMMANDS` lists
them explicitly, and a module that fails to import is an error, never a silently missing command.

Building the parser imports every command module, so those modules import torch, diffusers,
transformers and onnxruntime only inside ``run``: ``--help`` and a refused argument then answer in a
fraction of a second instead of after a second or more of imports (tests/test_startup.py holds this).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from audioldm_daw import __version__

# Command name -> ``module`` (a module with HELP/configure/run) or ``module:key`` (one of its COMMANDS).
# The synthetic dataset is not a command: it renders with ``python -m audioldm_daw.workbench.dataset``.
SUBCOMMANDS: dict[str, str] = {
    "generate": "audioldm_daw.bridge.cli.generate",
    "regenerate": "audioldm_daw.bridge.cli.regenerate",
    "serve": "audioldm_daw.bridge.cli.serve",
    "export-onnx": "audioldm_daw.bridge.cli.export",
    "train": "audioldm_daw.bridge.cli.train",
    "finetune": "audioldm_daw.bridge.cli.finetune",
    "evaluate": "audioldm_daw.bridge.cli.evaluate",
    "build-random-model": "audioldm_daw.bridge.cli.random_model",
    "convert": "audioldm_daw.bridge.cli.convert",
    "variation": "audioldm_daw.bridge.cli.manipulate:variation",
    "transfer": "audioldm_daw.bridge.cli.manipulate:transfer",
    "inpaint": "audioldm_daw.bridge.cli.manipulate:inpaint",
    "upsample": "audioldm_daw.bridge.cli.manipulate:upsample",
    "continue": "audioldm_daw.bridge.cli.manipulate:continue",
    "send": "audioldm_daw.bridge.cli.send",
    "inbox": "audioldm_daw.bridge.cli.inbox",
    "models": "audioldm_daw.bridge.cli.models",
    "engines": "audioldm_daw.bridge.cli.engines",
    "farm": "audioldm_daw.bridge.cli.farm",
}

# Libraries whose loggers and progress bars are quieted unless --verbose: (module, verbosity variable).
_NOISY_LIBRARIES = (("diffusers", "DIFFUSERS_VERBOSITY"), ("transformers", "TRANSFORMERS_VERBOSITY"))


def load_command(name: str) -> Any:
    """The object behind command ``name`` (HELP, configure, run); import errors propagate."""
    modname, _, key = SUBCOMMANDS[name].partition(":")
    mod = importlib.import_module(modname)
    return mod.COMMANDS[key] if key else mod


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs check)."""
    from audioldm_daw.bridge.cli.suggest import SuggestingParser  # every subcommand's parser is one too

    parser = SuggestingParser(
        prog="audioldm-daw",
        description="Local AudioLDM text-to-audio engine for DAWs, Max/MSP and Pure Data.",
    )
    parser.add_argument("--version", action="version", version=f"audioldm-daw {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        cmd = load_command(name)
        p = sub.add_parser(name, help=cmd.HELP, description=cmd.HELP)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``audioldm-daw`` console script; returns the process exit status."""
    from audioldm_daw.engine.errors import EngineError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    _quiet_libraries(args.verbose)
    try:
        return int(args._run(args) or 0)
    except EngineError as exc:
        print(f"audioldm-daw {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _quiet_libraries(verbose: bool) -> None:
    """diffusers/transformers print deprecation and dtype notes and a bar on every load; users need none of it.

    Importing them here would cost every command a second or more (even ``--help`` and a refused
    argument), so this only sets the environment variables they read when a command first imports them,
    and quiets directly those already imported (an in-process caller such as the tests).
    ``HF_HUB_DISABLE_PROGRESS_BARS`` is what transformers' progress-bar switch sets at import.
    """
    if verbose:
        return
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for module, variable in _NOISY_LIBRARIES:
        os.environ.setdefault(variable, "error")
        lib = sys.modules.get(module)
        if lib is not None:
            lib.utils.logging.set_verbosity_error()
            lib.utils.logging.disable_progress_bar()
