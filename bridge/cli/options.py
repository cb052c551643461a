"""Command-line options, derived from the one declaration of request parameters (engine/params.py).

Every command that makes a clip gets the same options with the same ranges as the OSC server and the
Python API, because all three read :data:`~audioldm_daw.engine.params.PARAMS`. An option that means
nothing for a command (``--loop`` on ``inpaint``) is still recognised, hidden from ``--help``, and
refused with a message that says which commands it applies to. Only options the user typed reach the
request, so a conflict (``--bpm``/``--bars`` with ``--duration``) is refused rather than resolved.

Nothing here imports torch: ``--help`` and a refused argument answer at once.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING

from audioldm_daw.bridge.param_text import converter
from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.params import FLAG, OFF, PARAMS, Param
from audioldm_daw.engine.request import SOURCES, GenerateRequest, build_takes

if TYPE_CHECKING:
    from audioldm_daw.engine import Engine


def cli_name(field: str) -> str:
    """How the command line spells a request field: ``--sr`` for an option, ``start_s`` for a positional."""
    param = PARAMS.get(field)
    if param is None:
        return field
    return param.name if param.positional else f"--{param.name}"


def cli_error(exc: InvalidRequest) -> InvalidRequest:
    """The same error, with every parameter named as it is typed on the command line."""
    return InvalidRequest(exc.message(cli_name))


def _help(param: Param) -> str:
    if param.kind == FLAG and param.default:  # a switch that is on: --no-NAME turns it off
        return f"{param.doc} (on unless --no-{param.name} is given)"
    if param.kind == FLAG:  # a bare switch here; the "0 or 1" of the table is OSC's form
        return f"{param.doc} (off unless given)"
    default = param.default_text()
    tail = f"{param.expected()}; default {default}" if default else param.expected()
    return f"{param.doc} ({tail})"


def add_request_arguments(p: argparse.ArgumentParser, mode: str) -> None:
    """The positional arguments of ``mode`` (input, span, prompt) and every request option."""
    for f in fields(SOURCES[mode]):
        param = PARAMS[f.name]
        if param.positional:
            optional = f.default is not MISSING
            p.add_argument(
                param.field,
                metavar=param.name,
                type=converter(param),
                nargs="?" if optional else None,
                default=argparse.SUPPRESS,
                help=f"{param.doc} (optional: {param.when_optional})" if optional else param.doc,
            )
    for param in PARAMS.values():
        if param.positional:
            continue
        shown = _help(param) if param.applies_to(mode) else argparse.SUPPRESS
        if param.kind == FLAG and param.default:
            p.add_argument(
                f"--{param.name}",
                dest=param.field,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=shown,
            )
        elif param.kind == FLAG:
            p.add_argument(
                f"--{param.name}",
                dest=param.field,
                action="store_const",
                const=True,
                default=argparse.SUPPRESS,
                help=shown,
            )
        else:
            p.add_argument(
                f"--{param.name}",
                dest=param.field,
                type=converter(param),
                default=argparse.SUPPRESS,
                metavar=param.name.upper(),
                help=shown,
            )
    if PARAMS["normalize_db"].applies_to(mode):
        p.add_argument(
            "--no-normalize",
            dest="normalize_db",
            action="store_const",
            const=None,
            default=argparse.SUPPRESS,
            help=f"keep the model's level (same as --normalize {OFF})",
        )


def takes_from_args(args: argparse.Namespace, mode: str) -> list[GenerateRequest]:
    """The requests the user typed (only the options given; ``--count`` takes with consecutive seeds),
    checked; errors use the command line's names."""
    values = {name: getattr(args, name) for name in PARAMS if hasattr(args, name)}
    if isinstance(values.get("input_path"), str):
        from pathlib import Path

        values["input_path"] = str(Path(values["input_path"]).expanduser().resolve())
    try:
        return build_takes(mode, values)
    except InvalidRequest as exc:
        raise cli_error(exc) from None


def add_vocoder_option(p: argparse.ArgumentParser) -> None:
    """--vocoder, as the model-loading commands and ``evaluate`` take it (engine/vocoders.py's choices, listed
    here so that parsing options imports no torch)."""
    p.add_argument(
        "--vocoder",
        default="auto",
        choices=["auto", "hifigan", "griffin-lim"],
        help="mel to audio: the model's HiFi-GAN or Griffin-Lim (keeps steady notes in tune where a small HiFi-GAN "
        "cannot); auto: what the model folder asks for (decode.json), else the HiFi-GAN",
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model/--device/--dtype/--decoder, as every model-loading command takes them."""
    p.add_argument(
        "--model",
        default=None,
        help="model folder (diffusers AudioLDM layout) or hub id such as cvssp/audioldm-s-full-v2 "
        "(default: $AUDIOLDM_DAW_MODEL, else the bundled model)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"], help="default: fp16 on GPU, fp32 on CPU")
    p.add_argument(
        "--decoder",
        default="auto",
        choices=["auto", "torch", "onnx"],
        help="decode backend: auto picks whichever measured faster on this machine",
    )
    add_vocoder_option(p)
    p.add_argument(
        "--graphs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="replay the denoising steps from CUDA graphs (default: on with a CUDA GPU; --no-graphs runs "
        "the same steps uncaptured)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the UNet and the torch decoder (GPU; docs/benchmarks.md has what it gains). Each new "
        "clip length compiles once, cached across runs: serve compiles in the background, serving that length "
        "uncompiled meanwhile; a one-shot command compiles first. With --decoder auto it decodes in torch. "
        "Default: on for serve with a CUDA GPU where Triton is installed (torch.compile's GPU code generator), "
        "off otherwise",
    )


def compile_choice(args: argparse.Namespace, server: bool) -> tuple[bool, str | None]:
    """Whether ``--compile`` is on, and, where the default decided, the line that says so. The default is on for a
    server on a CUDA GPU: it is ready as fast either way and, once a clip length is compiled (in the background,
    from inductor's cache after a first run), its clips render faster (docs/benchmarks.md). Without Triton (torch's
    Windows wheels) every compilation would fail, so it stays off, saying why. A one-shot command would wait the
    compilation out for a single clip: off unless asked."""
    if args.compile is not None:
        return bool(args.compile), None
    if not server:
        return False, None
    import importlib.util

    from audioldm_daw.engine.model import pick_device

    device, _ = pick_device(args.device, args.dtype)
    if device.type != "cuda":
        return False, None
    if importlib.util.find_spec("triton") is None:
        return False, (
            "compile: off: torch.compile needs Triton for a CUDA GPU and this Python has none (pip install "
            "triton, or triton-windows on Windows); clips run uncompiled"
        )
    return True, "compile: on, the default with a CUDA GPU (--no-compile turns it off)"


def load_engine(args: argparse.Namespace, compile_in_background: bool = False) -> Engine:
    """Load the engine the options ask for, with the decode backend chosen by ``--decoder``.
    ``compile_in_background``: ``--compile``'s new shapes compile on a thread of their own (a server)."""
    from audioldm_daw.engine.model import default_model

    model = args.model or default_model()  # no model anywhere: said before the heavy imports
    from audioldm_daw.bridge.cli.backends import decoder_factory
    from audioldm_daw.engine.engine import Engine

    return Engine.load(
        model,
        device=args.device,
        dtype=args.dtype,
        decoder_factory=None if args.compile and args.decoder == "auto" else decoder_factory(args.decoder),
        graphs=args.graphs,
        compile_unet=bool(args.compile),
        compile_decode=bool(args.compile),
        compile_in_background=compile_in_background,
        vocoder=args.vocoder,
    )
