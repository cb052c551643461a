"""``audioldm-daw``: one command with subcommands, each living in its own module.

Every subcommand module exposes ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``
(or a ``COMMANDS`` dict of such objects, for families like the manipulations). Modules import their
heavy dependencies inside ``run``, so listing the commands stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from audioldm_daw import __version__

SUBCOMMANDS: dict[str, str] = {
    "generate": "audioldm_daw.bridge.cmd_generate",
    "regenerate": "audioldm_daw.bridge.cmd_regenerate",
    "serve": "audioldm_daw.bridge.cmd_serve",
    "export-onnx": "audioldm_daw.bridge.cmd_export",
    "train": "audioldm_daw.bridge.cmd_train",
    "finetune": "audioldm_daw.bridge.cmd_finetune",
    "dataset": "audioldm_daw.bridge.cmd_dataset",
    "evaluate": "audioldm_daw.bridge.cmd_evaluate",
    "build-random-model": "audioldm_daw.bridge.cmd_random_model",
    "variation": "audioldm_daw.bridge.cmd_manipulate:variation",
    "transfer": "audioldm_daw.bridge.cmd_manipulate:transfer",
    "inpaint": "audioldm_daw.bridge.cmd_manipulate:inpaint",
    "upsample": "audioldm_daw.bridge.cmd_manipulate:upsample",
    "continue": "audioldm_daw.bridge.cmd_manipulate:continue",
}


def _available() -> dict[str, object]:
    """Subcommand objects by name; ``module:key`` entries pick one of a module's ``COMMANDS``."""
    mods: dict[str, object] = {}
    for name, target in SUBCOMMANDS.items():
        modname, _, key = target.partition(":")
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue
        mods[name] = mod.COMMANDS[key] if key else mod
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs check)."""
    parser = argparse.ArgumentParser(
        prog="audioldm-daw",
        description="Local AudioLDM text-to-audio engine for DAWs, Max/MSP and Pure Data.",
    )
    parser.add_argument("--version", action="version", version=f"audioldm-daw {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, mod in _available().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.configure(p)
        p.set_defaults(_run=mod.run)
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
    """diffusers/transformers print deprecation and dtype notes on every load; users need none of it."""
    if verbose:
        return
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        import diffusers
        import transformers

        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - both are dependencies
        pass


if __name__ == "__main__":
    sys.exit(main())
