"""Edits of long takes cost what they change, not the take: a short take against a three-minute one, per mode,
on one model, each case in a fresh process so that its peak memory is its own.

- inpaint and continue: a 4 s span in the middle of a 20 s take and of a 3-minute take; 4 s added after each.
  Both read the same window of the take around the span (before the end) and stream the rest of it from the file
  into the result: the targets are a time ratio long/short of at most 1.5 and at most 200 MB above the loaded
  model.
- transfer and upsample: a 20 s take (heard in one piece) against a 3-minute one (heard in overlapping windows
  of 20 s, joined as each is finished): the time per second of input should stay about the same (the windows
  overlap, so a little more), and so should the peak memory.

Each case loads the model, warms up with one render of a short take of its mode (imports, kernels, the
allocator), then times ``--repeats`` renders written to disk in the take's format; it reports the median time
and the peak resident memory above the loaded model over the whole process (warm-up included).

    .venv/bin/python benchmarks/bench_edit_windows.py                 # a tiny random model, on the CPU
    .venv/bin/python benchmarks/bench_edit_windows.py --modes inpaint --steps 3 --repeats 1
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
SHORT_S, LONG_S, WARM_S = 20.0, 180.0, 6.0
MODES = ("inpaint", "continue", "transfer", "upsample")
WINDOWED = ("inpaint", "continue")  # the modes held to the 1.5x time and 200 MB targets
BAND_HZ = 4000.0  # the upsample's takes are band-limited here, as an old recording is


def _rss_mb() -> float:
    """Resident memory now (Linux: /proc), MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_take(path: Path, seconds: float, band_hz: float | None = None) -> None:
    """A stereo PCM_24 take: a pad with a noisy pulse, written in 5 s pieces (no whole-take array here); each
    piece band-limited to ``band_hz`` where given."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", SR, 2, subtype="PCM_24") as f:
        for i in range(int(np.ceil(seconds / 5))):
            n = int(min(5.0, seconds - 5 * i) * SR)
            t = (np.arange(n) + i * 5 * SR) / SR
            pad = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.9)
            if band_hz is not None:
                spec = np.fft.rfft(pad)
                spec[np.fft.rfftfreq(n, 1 / SR) > band_hz] = 0
                pad = np.fft.irfft(spec, n)
            f.write(np.stack([pad, 0.8 * pad], axis=1).astype(np.float32))


def request_values(mode: str, take: str, seconds: float, steps: int) -> dict[str, object]:
    values: dict[str, object] = {"input_path": take, "steps": steps, "seed": 1}
    if mode == "inpaint":
        start = seconds / 2 - SPAN_S / 2
        values |= {"start": start, "end": start + SPAN_S}
    elif mode == "continue":
        values |= {"seconds": SPAN_S}
    elif mode == "transfer":
        values |= {"prompt": "a string quartet", "strength": 0.5}
    return values


def run_case(args: argparse.Namespace) -> None:
    """One case in this process: load, render a short take once to warm up, then time ``repeats`` renders."""
    from audioldm_daw.engine import Engine
    from audioldm_daw.engine.request import build_request

    engine = Engine.load(args.model, device=args.device)
    base = _rss_mb()  # the loaded model
    out = Path(args.out)
    engine.render(build_request(args.case, request_values(args.case, args.warm, WARM_S, args.steps)), out / "warm.wav")
    request = build_request(args.case, request_values(args.case, args.take, args.seconds, args.steps))
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
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, among {', '.join(MODES)}")
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--take", help=argparse.SUPPRESS)
    p.add_argument("--warm", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        run_case(args)
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        p.error(f"--modes: {', '.join(unknown)} is not a mode this benchmark runs; expected some of {', '.join(MODES)}")
    with tempfile.TemporaryDirectory(prefix="bench-edit-") as tmp:
        d = Path(tmp)
        if args.model is None:
            from audioldm_daw.engine.architecture import build_random_folder

            args.model = str(build_random_folder(d / "tiny", "tiny", seed=0))
        for mode in modes:
            band = BAND_HZ if mode == "upsample" else None
            warm = d / f"{mode}-warm.wav"
            write_take(warm, WARM_S, band)
            results = {}
            for name, seconds in (("short", SHORT_S), ("long", LONG_S)):
                take = d / f"{mode}-{name}.wav"
                write_take(take, seconds, band)
                out = d / f"out-{mode}-{name}"
                out.mkdir()
                cmd = [sys.executable, __file__, "--case", mode, "--take", str(take), "--seconds", str(seconds)]
                cmd += ["--warm", str(warm), "--out", str(out), "--model", args.model, "--device", args.device]
                cmd += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
                r = subprocess.run(cmd, capture_output=True, text=True, check=True)
                results[name] = json.loads(r.stdout.strip().splitlines()[-1])
                print(
                    f"{mode:8s} {name:5s} take {seconds:5.0f} s: {results[name]['seconds']:.2f} s, "
                    f"peak {results[name]['peak_above_model_mb']:.0f} MB above the model"
                )
            short, long = results["short"], results["long"]
            memory = long["peak_above_model_mb"] / short["peak_above_model_mb"]
            if mode in WINDOWED:
                ratio = long["seconds"] / short["seconds"]
                print(f"{mode:8s} time ratio long/short: {ratio:.2f} (target at most 1.5)")
                print(
                    f"{mode:8s} peak memory above the model, long take: {long['peak_above_model_mb']:.0f} MB "
                    f"(target 200); long/short {memory:.2f}"
                )
            else:
                ratio = (long["seconds"] / LONG_S) / (short["seconds"] / SHORT_S)
                per_second = f"time per second of input, long/short: {ratio:.2f}"
                print(f"{mode:8s} {per_second}; peak memory, long/short: {memory:.2f}")


if __name__ == "__main__":
    main()
