"""Do clips made at a tempo play at it? The bundled model's clips with tempo fitting off and on.

For each prompt and tempo (2 bars, 25 steps, one seed) the clip is made twice, with ``fit`` off (today's clip)
and on, and judged by an estimator other than the fitting's (librosa's beat tracker): the autocorrelation of an
energy-flux envelope (half-wave rectified difference of the log RMS, 2 ms hop) with parabolic interpolation
at the peak nearest the requested tempo or its double or half; a clip counts as within 2% when that tempo is
within 2% of the requested one, its double or its half. The first-beat offset is where a grid at the requested
beat, fitted to the same envelope (the phase collecting the most flux), lies from the clip start.

Rhythmic prompts are the drum captions of the bundled model's dataset; non-rhythmic ones (pads, held notes,
speech) show where the pulse-clarity threshold falls. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_tempo_fit.py [--model DIR] [--prompts N] [--tempi 90 124 140]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

RHYTHMIC = [
    "a drummer playing kick drum and snare quickly and softly",
    "a drummer playing kick drum, snare and hi-hat quickly and loudly",
    "a drummer playing kick drum and snare quickly and loudly",
    "fast, soft percussion with kick drum and hi-hat",
    "slow, loud percussion with kick drum and hi-hat",
    "a drummer playing kick drum and snare slowly and softly",
    "a drummer playing kick drum and hi-hat quickly and loudly",
    "a drummer playing kick drum, snare and hi-hat slowly and softly",
    "fast, loud percussion with kick drum, snare and hi-hat",
    "a drummer playing kick drum and snare slowly and loudly",
    "a drum loop",
    "a funk drum groove",
    "a drummer playing kick drum and hi-hat slowly and softly",
    "slow, soft percussion with kick drum, snare and hi-hat",
    "fast, loud percussion with kick drum and snare",
    "a drummer playing kick drum, snare and hi-hat quickly and softly",
    "a steady drum beat with kick and snare",
    "loud drums: kick, snare and hi-hat",
    "soft percussion with kick drum and snare",
    "a drummer playing hi-hat and kick drum loudly",
]
NON_RHYTHMIC = [
    "a warm synth pad",
    "high notes on a string ensemble: a slow chord progression, staying level, played softly",
    "an organ holding a low chord softly",
    "a man speaking",
    "wind blowing",
]
HOP_S = 0.002


def flux_envelope(audio: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Half-wave rectified difference of the log RMS (frames of 4 ms every 2 ms), and its frame rate."""
    hop = max(1, round(HOP_S * sr))
    frame = 2 * hop
    n = 1 + max(0, len(audio) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(np.asarray(audio, dtype=np.float64)[idx] ** 2, axis=1) + 1e-12)
    env = np.maximum(0.0, np.diff(20 * np.log10(rms), prepend=20 * np.log10(rms[0])))
    return env, sr / hop


def judged_tempo(env: np.ndarray, fps: float, bpm: float) -> float:
    """The envelope's autocorrelation peak nearest ``bpm``, its double or its half (parabolic interpolation)."""
    x = env - env.mean()
    n = len(x)
    ac = np.correlate(x, x, mode="full")[n - 1 :] / (n - np.arange(n))
    best, best_val = bpm, -math.inf
    for target in (bpm / 2, bpm, bpm * 2):
        lag = 60.0 * fps / target
        lo, hi = max(2, int(lag * 0.9)), min(n // 2, int(lag * 1.1) + 1)
        if hi <= lo + 1:
            continue
        i = lo + int(np.argmax(ac[lo:hi]))
        if ac[i] <= best_val or not 1 <= i < n - 1:
            continue
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        best, best_val = 60.0 * fps / (i + shift), b
    return best


def grid_offset_ms(env: np.ndarray, fps: float, bpm: float) -> float:
    """Distance from the clip start to the beat grid (requested period) that collects the most flux."""
    step = 60.0 * fps / bpm
    lines = np.arange(0.0, len(env) - 1, step)
    phases = np.arange(0, math.ceil(step))
    scores = [np.interp(lines + p, np.arange(len(env)), env, right=0.0).sum() for p in phases]
    phase = phases[int(np.argmax(scores))] / fps
    period = 60.0 / bpm
    return 1000 * min(phase, period - phase)


def within(tempo: float, bpm: float, tol: float = 0.02) -> bool:
    return any(abs(tempo / (bpm * k) - 1) <= tol for k in (0.5, 1.0, 2.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "audioldm-daw-mini"))
    ap.add_argument("--prompts", type=int, default=len(RHYTHMIC))
    ap.add_argument("--tempi", type=float, nargs="+", default=[90.0, 124.0, 140.0])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from audioldm_daw.engine import Engine, GenerateRequest

    engine = Engine.load(args.model)
    started = time.perf_counter()
    rows = []
    for bpm in args.tempi:
        for kind, prompts in (("rhythmic", RHYTHMIC[: args.prompts]), ("other", NON_RHYTHMIC)):
            for i, prompt in enumerate(prompts):
                seed = args.seed + i
                judged = {}
                for fit in (False, True):
                    req = GenerateRequest(prompt, bpm=bpm, bars=2, steps=args.steps, seed=seed, fit=fit)
                    clip = engine.generate(req)
                    env, fps = flux_envelope(clip.audio, clip.sample_rate)
                    judged[fit] = (judged_tempo(env, fps, bpm), grid_offset_ms(env, fps, bpm), clip)
                record = judged[True][2].tempo_fit or {}
                row = {
                    "bpm": bpm,
                    "kind": kind,
                    "prompt": prompt,
                    "fitted": bool(record.get("fitted")),
                    "clarity": record.get("clarity", 0.0),
                    "from": record.get("from_bpm"),
                    "before": judged[False][0],
                    "after": judged[True][0],
                    "off_before": judged[False][1],
                    "off_after": judged[True][1],
                }
                rows.append(row)
                print(
                    f"{bpm:5.0f} {kind:8s} fit={int(row['fitted'])} clarity={row['clarity']:.2f} "
                    f"tracked={row['from'] or 0:6.1f} judged before={row['before']:6.1f} after={row['after']:6.1f} "
                    f"offset before={row['off_before']:5.1f} ms after={row['off_after']:5.1f} ms  {prompt}",
                    flush=True,
                )
    print()
    print(f"model {args.model}, 2 bars, {args.steps} steps, {time.perf_counter() - started:.0f} s in all")
    print("judge: autocorrelation of a log-RMS flux envelope (not the fitting's beat tracker)")
    print(
        "| bpm | rhythmic prompts: fitted | one-shot | within 2% before (fit off) | within 2% after (fitted) "
        "| median first-beat offset before / after | other prompts fitted |"
    )
    print("|---|---|---|---|---|---|---|")
    for bpm in args.tempi:
        rh = [r for r in rows if r["bpm"] == bpm and r["kind"] == "rhythmic"]
        fitted = [r for r in rh if r["fitted"]]
        other = [r for r in rows if r["bpm"] == bpm and r["kind"] == "other"]
        share = lambda rs, key, bpm=bpm: sum(within(r[key], bpm) for r in rs) / max(1, len(rs))  # noqa: E731
        med = lambda rs, key: statistics.median(r[key] for r in rs) if rs else float("nan")  # noqa: E731
        print(
            f"| {bpm:g} | {len(fitted)} | {len(rh) - len(fitted)} | {share(fitted, 'before'):.0%} "
            f"| {share(fitted, 'after'):.0%} | {med(fitted, 'off_before'):.1f} / {med(fitted, 'off_after'):.1f} ms "
            f"| {sum(r['fitted'] for r in other)} of {len(other)} |"
        )
    rh = [r for r in rows if r["kind"] == "rhythmic"]
    other = [r for r in rows if r["kind"] == "other"]
    print(
        f"pulse clarity, rhythmic prompts: min {min(r['clarity'] for r in rh):.2f}, "
        f"median {statistics.median(r['clarity'] for r in rh):.2f}; other prompts: "
        f"max {max(r['clarity'] for r in other):.2f}, median {statistics.median(r['clarity'] for r in other):.2f}"
    )


if __name__ == "__main__":
    main()
