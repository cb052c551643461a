"""Engine vs diffusers' AudioLDMPipeline on the same real-size AudioLDM-S-full model (random weights:
speed does not depend on them), same settings, one run; prints both and the ratio.

    .venv/bin/python benchmarks/bench_generate.py --steps 5 --repeats 2          # CPU
    .venv/bin/python benchmarks/bench_generate.py --device cuda --steps 200      # GPU (fp16)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def build(device: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """The engine and the reference pipeline sharing one set of S-full modules."""
    from audioldm_daw.engine import Engine
    from audioldm_daw.engine.architecture import PRESETS, SCHEDULER_CONFIG, build_components, train_tokenizer
    from audioldm_daw.engine.model import AudioLDMModel
    from audioldm_daw.engine.schedulers import make_scheduler

    arch = PRESETS["s-full"]
    with tempfile.TemporaryDirectory() as tmp:
        tok = train_tokenizer(Path(tmp), max_tokens=arch.max_tokens)
    parts = build_components(arch, vocab_size=50265, seed=0)
    for p in parts.values():
        p.to(device, dtype).eval().requires_grad_(False)
    model = AudioLDMModel(
        model_id="random-s-full",
        path=Path("."),
        content_hash="random",
        unet=parts["unet"],
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=tok,
        vocoder=parts["vocoder"],
        scheduler_config=dict(SCHEDULER_CONFIG),
        device=torch.device(device),
        dtype=dtype,
    )
    return Engine(model), pipeline(model, make_scheduler("ddim", model.scheduler_config))


def pipeline(model: Any, scheduler: Any) -> Any:
    """diffusers' AudioLDMPipeline over the modules of a loaded model (shared, not copied), quiet."""
    from diffusers import AudioLDMPipeline

    pipe = AudioLDMPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=scheduler,
        vocoder=model.vocoder,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=10.24)
    ap.add_argument("--guidance", type=float, default=2.5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32

    from audioldm_daw.engine import GenerateRequest

    engine, pipe = build(args.device, dtype)
    req = GenerateRequest(
        "a dog barks",
        duration=args.duration,
        steps=args.steps,
        guidance=args.guidance,
        seed=0,
        sample_rate=16000,
        normalize_db=None,
    )

    def run_engine() -> None:
        engine.generate(req)

    def run_pipe() -> None:
        pipe(
            "a dog barks",
            audio_length_in_s=args.duration,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator("cpu").manual_seed(0),
        )

    def timed(fn: Callable[[], None]) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    timed(run_engine), timed(run_pipe)  # warm-up (allocator, kernels)
    ours, theirs = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine state
        ours.append(timed(run_engine))
        theirs.append(timed(run_pipe))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"device {args.device} ({torch.get_num_threads()} threads), S-full random weights, "
        f"{args.duration} s clip, {args.steps} DDIM steps, guidance {args.guidance}, {dtype}"
    )
    print(f"audioldm-daw engine        : {a:8.3f} s (median of {args.repeats})")
    print(f"diffusers AudioLDMPipeline : {b:8.3f} s (median of {args.repeats})")
    print(f"ratio pipeline / engine    : {b / a:8.3f}x")


if __name__ == "__main__":
    main()
