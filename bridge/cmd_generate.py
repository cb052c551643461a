"""``audioldm-daw generate PROMPT``: render one clip (and its recall sidecar) to a WAV file."""

from __future__ import annotations

import argparse
from pathlib import Path

from audioldm_daw.bridge.options import add_model_options, add_sampling_options, load_engine, request_kwargs
from audioldm_daw.bridge.progress import StepBar
from audioldm_daw.engine import Engine, RenderResult
from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.output import default_clips_dir, path_in_folder
from audioldm_daw.engine.request import GenerateRequest

HELP = "text-to-audio: render PROMPT to a WAV file with a JSON sidecar for exact recall"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="what the clip should sound like")
    p.add_argument("--out", default=None, help="output WAV path (default: the clips folder, named after the prompt)")
    add_model_options(p)
    add_sampling_options(p)


def output_path(out: str | None, stem: str) -> Path:
    """--out as given (must end in .wav), else a fresh name in the clips folder."""
    if out is None:
        return path_in_folder(default_clips_dir(), stem)
    path = Path(out).expanduser()
    if path.suffix.lower() != ".wav":
        raise InvalidRequest(f"--out: expected a path ending in .wav, got {out!r}")
    return path


def report(result: RenderResult, engine: Engine) -> None:
    """One line for people and scripts: where the clip is and what made it."""
    clip = result.clip
    print(
        f"wrote {result.path} ({clip.seconds:.3f} s, {clip.sample_rate} Hz, seed {clip.request.seed}, "
        f"model {engine.model.model_id}, decoder {engine.decoder.name})"
    )
    if clip.candidate_scores:
        scores = ", ".join(f"{s:.3f}" for s in clip.candidate_scores)
        print(f"candidates (CLAP score): {scores}; kept #{clip.chosen + 1}")


def render_and_report(engine: Engine, request: GenerateRequest, out: Path, label: str = "denoising") -> int:
    """Render with a progress bar on stderr, then print where the clip went; the exit status."""
    bar = StepBar(label)
    try:
        result = engine.render(request, out, progress=bar)
    finally:
        bar.close()
    report(result, engine)
    return 0


def run(args: argparse.Namespace) -> int:
    request = GenerateRequest(args.prompt, **request_kwargs(args)).resolved()
    out = output_path(args.out, args.prompt[:40] or "clip")
    return render_and_report(load_engine(args), request, out)
