"""``audioldm-daw generate PROMPT`` and the manipulations: one command per request mode.

Each command's arguments are derived from the request parameters (bridge/cli/options.py), its request is
checked before the model loads (a bad argument answers at once), and it writes a WAV with a JSON sidecar
that regenerates it exactly.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audioldm_daw.bridge.cli.options import (
    add_model_options,
    add_request_arguments,
    cli_error,
    load_engine,
    takes_from_args,
)
from audioldm_daw.engine.errors import InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.engine import Engine, GenerateRequest, RenderResult

HELP = "text-to-audio: render PROMPT to a WAV file with a JSON sidecar for exact recall"


def output_path(out: str | None, stem: str) -> Path:
    """--out as given (must end in .wav), else a fresh name in the clips folder."""
    if out is None:
        from audioldm_daw.engine.output import default_clips_dir, path_in_folder

        return path_in_folder(default_clips_dir(), stem)
    path = Path(out).expanduser()
    if path.suffix.lower() != ".wav":
        raise InvalidRequest(f"--out: expected a path ending in .wav, got {out!r}")
    return path


def result_json(result: RenderResult, engine: Engine, elapsed: float = 0.0) -> dict:
    """The object ``--json`` prints: the keys of ``audioldm-daw send --json`` (a script reads either), plus
    what only a local render knows (model, decoder, candidate scores)."""
    clip = result.clip
    path = Path(result.path).resolve()
    return {
        "path": str(path),
        "sidecar": str(path.with_suffix(".json")),
        "seconds": clip.seconds,
        "sample_rate": clip.sample_rate,
        "seed": clip.request.seed,
        "warnings": list(clip.warnings),
        "elapsed": round(elapsed, 3),
        "mode": clip.request.mode,
        "prompt": clip.request.prompt,
        "model": str(engine.model.model_id),
        "decoder": engine.decoder.name,
        "vocoder": engine.model.vocoder_name,
        "candidate_scores": [float(s) for s in clip.candidate_scores or ()],
    }


def report(result: RenderResult, engine: Engine, as_json: bool = False, elapsed: float = 0.0) -> None:
    """One line for people and scripts: where the clip is and what made it (or with ``as_json`` one JSON
    object); warnings on stderr."""
    clip = result.clip
    if as_json:
        import json

        print(json.dumps(result_json(result, engine, elapsed)), flush=True)
        for warning in clip.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return
    print(
        f"wrote {result.path} ({clip.seconds:.3f} s, {clip.sample_rate} Hz, seed {clip.request.seed}, "
        f"model {engine.model.model_id}, decoder {engine.decoder.name}, vocoder {engine.model.vocoder_name})"
    )
    if clip.candidate_scores:
        scores = ", ".join(f"{s:.3f}" for s in clip.candidate_scores)
        print(f"candidates (CLAP score): {scores}; kept #{clip.chosen + 1}")
    for warning in clip.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def render_and_report(
    engine: Engine, request: GenerateRequest, out: Path, label: str = "denoising", as_json: bool = False
) -> int:
    """Render with a progress bar on stderr, then print where the clip went; the exit status."""
    import time

    from audioldm_daw.bridge.cli.progress import StepBar

    bar = StepBar(label)
    t0 = time.perf_counter()
    try:
        result = engine.render(request, out, progress=bar)
    except InvalidRequest as exc:
        raise cli_error(exc) from None
    finally:
        bar.close()
    report(result, engine, as_json, time.perf_counter() - t0)
    return 0


def add_output_options(p: argparse.ArgumentParser) -> None:
    """--out and --json, as every command that writes a clip takes them."""
    p.add_argument("--out", default=None, help="output WAV path (default: the clips folder)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per clip (path, sidecar, seconds, sample_rate, seed, warnings, ...) "
        "instead of the sentence",
    )


def start_loading(args: argparse.Namespace) -> Any:
    """Say what happens first (loading the model; one-off ONNX export or calibration when they run) and
    start the clock whose total the command prints at the end."""
    from audioldm_daw.bridge.cli.progress import Stopwatch, announce_loading

    clock = Stopwatch()
    announce_loading(args.model, args.device)
    return clock


@dataclass(frozen=True)
class RequestCommand:
    """The command for one request mode: its help line, arguments, and how it names its output."""

    mode: str
    HELP: str

    def configure(self, p: argparse.ArgumentParser) -> None:
        add_request_arguments(p, self.mode)
        add_output_options(p)
        add_model_options(p)

    def run(self, args: argparse.Namespace) -> int:
        takes = takes_from_args(args, self.mode)
        first = takes[0]
        if first.input_path is None:
            stem = first.prompt[:40] or "clip"
        else:
            stem = f"{Path(first.input_path).stem}-{self.mode}"
        outs = [output_path(args.out, stem)]
        for i in range(1, len(takes)):  # takes 2.. beside the first: name-2.wav, name-3.wav ...
            outs.append(output_path(None if args.out is None else _numbered(args.out, i + 1), f"{stem}-{i + 1}"))
        from audioldm_daw.engine.input_audio import check_request_input

        try:
            check_request_input(first)  # a missing input or a span past its end fails before the model loads
            clock = start_loading(args)
            engine = load_engine(args)  # what needs the model (clap/ for candidates) is checked by render
        except InvalidRequest as exc:
            raise cli_error(exc) from None
        label = "denoising" if self.mode == "generate" else self.mode
        for i, (request, out) in enumerate(zip(takes, outs, strict=True)):
            many = label if len(takes) == 1 else f"{label} {i + 1}/{len(takes)}"
            render_and_report(engine, request, out, many, as_json=getattr(args, "json", False))
        clock.done()
        return 0


def _numbered(out: str, n: int) -> str:
    path = Path(out)
    return str(path.with_name(f"{path.stem}-{n}{path.suffix}"))


GENERATE = RequestCommand("generate", HELP)
configure = GENERATE.configure
run = GENERATE.run
