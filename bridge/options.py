"""Command-line options shared by the subcommands that load a model or make a clip."""

from __future__ import annotations

import argparse
from typing import Any

from audioldm_daw.engine.request import OUTPUT_SAMPLE_RATES, SAMPLE_FORMATS, SCHEDULERS


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


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    """The request parameters a clip is made from (see GenerateRequest)."""
    p.add_argument("--duration", type=float, default=10.0, help="seconds, 0.5..60 (default 10)")
    p.add_argument("--bpm", type=float, default=None, help="tempo; with --bars sets the duration exactly")
    p.add_argument("--bars", type=float, default=None, help="length in bars at --bpm")
    p.add_argument("--beats", type=float, default=4.0, help="beats per bar (default 4)")
    p.add_argument("--steps", type=int, default=50, help="denoising steps, 1..1000 (default 50)")
    p.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance, 0..20 (default 2.5)")
    p.add_argument("--seed", type=int, default=None, help="random seed (drawn and reported when absent)")
    p.add_argument("--negative", default="", help="negative prompt (the unconditional branch)")
    p.add_argument("--scheduler", default="ddim", choices=SCHEDULERS, help="sampler (default ddim)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta, 0..1 (default 0)")
    p.add_argument("--candidates", type=int, default=1, help="generate K, keep the best by CLAP score (1..8)")
    p.add_argument("--sr", type=int, default=48000, choices=OUTPUT_SAMPLE_RATES, help="output rate (default 48000)")
    p.add_argument("--format", default="float32", choices=SAMPLE_FORMATS, help="WAV sample format")
    p.add_argument("--normalize", type=float, default=-1.0, help="peak level in dBFS (default -1)")
    p.add_argument("--no-normalize", action="store_true", help="keep the model's level")
    p.add_argument("--loop", action="store_true", help="seamless loop (the end flows into the start)")


def request_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """GenerateRequest keyword arguments from parsed options."""
    return {
        "duration": args.duration,
        "bpm": args.bpm,
        "bars": args.bars,
        "beats_per_bar": args.beats,
        "steps": args.steps,
        "guidance": args.guidance,
        "seed": args.seed,
        "negative": args.negative,
        "scheduler": args.scheduler,
        "eta": args.eta,
        "candidates": args.candidates,
        "sample_rate": args.sr,
        "sample_format": args.format,
        "normalize_db": None if args.no_normalize else args.normalize,
        "loop": args.loop,
    }


def load_engine(args: argparse.Namespace) -> Any:
    """Load the engine the options ask for, with the decode backend chosen by ``--decoder``."""
    from audioldm_daw.bridge.backends import decoder_factory
    from audioldm_daw.engine import Engine, default_model

    return Engine.load(
        args.model or default_model(),
        device=args.device,
        dtype=args.dtype,
        decoder_factory=decoder_factory(args.decoder),
    )
