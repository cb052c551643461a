"""Inpainting a span of a long take costs the span, not the take: a 4 s span in a 3-minute take against the
same span in a 20 s take, on one model, each case in a fresh process so that its peak memory is its own.

Prints the time of each case (median of ``--repeats`` renders, written to disk in the take's format), the peak
resident memory each case adds above the loaded model, and the long/short ratios (the edits read a window of
the take around the span: the target is a time ratio of at most 1.5 and at most 200 MB above the model).

    .venv/bin/python benchmarks/bench_edit_windows.py                 # a tiny random model, on the CPU
    .venv/bin/python benchmarks/bench_edit_windows.py --model cvssp/audioldm-s-full-v2 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 44100
SPAN_S = 4.0


def _rss_mb() -> float:
    """Resident memory now (Linux: /proc), MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_take(path: Path, seconds: float) -> None:
    """A stereo PCM_24 take: a pad with a noisy pulse, written in pieces (no whole-take array here)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", SR, 2, subtype="PCM_24") as f:
        for i in range(int(np.ceil(seconds / 5))):
            n = int(min(5.0, seconds - 5 * i) * SR)
            t = (np.arange(n) + i * 5 * SR) / SR
            pad = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.9)
            f.write(np.stack([pad, 0.8 * pad], axis=1).astype(np.float32))


def run_case(args: argparse.Namespace) -> None:
    """One case in this process: load, render once to warm up, then time ``repeats`` renders."""
    from audioldm_daw.engine import Engine
    from audioldm_daw.engine.request import build_request

    engine = Engine.load(args.model, device=args.device)
    base = _rss_mb()  # the loaded model
    start = args.seconds / 2 - SPAN_S / 2
    values = {"input_path": args.take, "start": start, "end": start + SPAN_S, "steps": args.steps, "seed": 1}
    request = build_request("inpaint", values)
    out = Path(args.out)
    engine.render(request, out / "warm.wav")
    times = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        engine.render(request, out / f"take-{i}.wav")
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(times), "peak_above_model_mb": _peak_mb() - base}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder or hub id (default: a tiny random model)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--take", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        run_case(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-edit-") as tmp:
        d = Path(tmp)
        if args.model is None:
            from audioldm_daw.engine.architecture import build_random_folder

            args.model = str(build_random_folder(d / "tiny", "tiny", seed=0))
        results = {}
        for name, seconds in (("short", 20.0), ("long", 180.0)):
            take = d / f"{name}.wav"
            write_take(take, seconds)
            out = d / f"out-{name}"
            out.mkdir()
            cmd = [sys.executable, __file__, "--case", name, "--take", str(take), "--seconds", str(seconds)]
            cmd += ["--out", str(out), "--model", args.model, "--device", args.device]
            cmd += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[name] = json.loads(r.stdout.strip().splitlines()[-1])
            print(
                f"{name:5s} take {seconds:5.0f} s, {SPAN_S:g} s span: {results[name]['seconds']:.2f} s, "
                f"peak {results[name]['peak_above_model_mb']:.0f} MB above the model"
            )
        ratio = results["long"]["seconds"] / results["short"]["seconds"]
        print(f"time ratio long/short: {ratio:.2f} (target at most 1.5)")
        print(f"peak memory above the model, long take: {results['long']['peak_above_model_mb']:.0f} MB (target 200)")


if __name__ == "__main__":
    main()
