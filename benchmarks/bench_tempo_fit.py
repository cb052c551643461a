"""Do clips made at a tempo play at it? The bundled model's clips with tempo fitting off and on.

For each prompt and tempo (2 bars, one seed) the clip is made twice, with ``fit`` off (the clip made before
fitting existed, at the same seed) and on, and judged by estimators other than the fitting's (librosa's beat
tracker and mel-band onset strength, and the level of each hit). All work on the delivered clip alone;
the requested tempo only names the octave they search (a clip at twice or half the tempo passes, as the
target says):

- tempo A, autocorrelation: of an energy-flux envelope (half-wave rectified difference of the log RMS of
  4 ms frames every 2 ms), its peak nearest the requested tempo, its double or its half (parabolic
  interpolation). Sensitive to hits wandering around the beat, as the model's do.
- tempo B, beat grid: the tempo within half an octave of the requested one (so one of each tempo, its
  double and its half) whose best-placed grid collects the most of that envelope per line, searched in
  steps of 0.05%. Over a 2-bar clip a 2% error moves the last lines by a hit's width, so it is precise.
- tempo C and the first beat, hits: each hit's perceptual onset (where its RMS, 10 ms frames every 1 ms,
  is 15 dB below its peak on the way up, after at least 5 ms below that), and the beat grid the hits sit
  on (of the grids through each hit with a period within 3% of tempo B's, the one the most hit level lies
  near, refined by a level-weighted line through the hits within 15 ms of it): its period is tempo C,
  and the distance from the clip start to its nearest beat the first-beat offset, at the requested beat
  and at the clip's own beat (the tempo it was fitted to, twice the requested one where the material's
  pulse was: a clip at double time may start on either half of a requested beat).

- tempo D, a beat tracker from another library: the least-squares line through the beats of essentia's
  multifeature tracker (``RhythmExtractor2013``, at 44.1 kHz). Its own tempo figure is the median beat
  interval, on its 11.6 ms frame grid (178.2 or 184.6 bpm, never 180), too coarse for 2%; the line through
  its beats is not. essentia is a benchmark-only tool, not a dependency of the package (AGPL-3.0):
  ``.venv/bin/pip install essentia==2.1b6.dev1389``; without it D is left out.

The first beat is read from hits' grid (C's) started from D's period where D is there (the tempo among D's,
its double and its half nearest the judged beat), else from B's: B is the one taken in by an even stream of
hits (below), which then puts C's grid, and its first beat, on a 4:5 lattice of the clip's hits. The
column "own beat, from B" keeps the grid started from B, as the earlier reports read it.

C reads a hit's start by the fitting's definition (15 dB below its peak: Vos and Rasch's perceptual onset),
but with its own code (RMS frames and prominent peaks, not a sliding level around tracked beats). B, and C
which starts from B's period, can take an even stream of hits (the model often plays one, four to a beat)
for a tempo 4:5 or 4:3 off: every multiple of the hits' spacing has a hit on each of its lines, and a
log-level envelope weighs a soft hit as much as a loud one.

A clip counts as within 2% when the tempo is within 2% of the requested one, its double or its half.
Rhythmic prompts are drum captions of the bundled model's dataset; non-rhythmic ones (pads, held notes,
speech, wind) show where the pulse-clarity threshold falls. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_tempo_fit.py [--model DIR] [--prompts N] \\
        [--tempi 90 124 140] [--steps 25] [--save DIR]
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
ONSET_DB = -15.0  # a hit's perceptual onset: this far below its peak, on the way up
ONSET_FRAME_S = 0.01  # the RMS frames that onset is read from (every millisecond)
TOLERANCE = 0.02
FIRST_BEAT_MS = 10.0


def frames_rms(audio: np.ndarray, sr: int, hop_s: float, frame_s: float | None = None) -> tuple[np.ndarray, float]:
    """RMS of frames ``frame_s`` long (twice ``hop_s`` without it) every ``hop_s``, and their rate."""
    hop = max(1, round(hop_s * sr))
    frame = 2 * hop if frame_s is None else max(1, round(frame_s * sr))
    n = 1 + max(0, len(audio) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    return np.sqrt(np.mean(np.asarray(audio, dtype=np.float64)[idx] ** 2, axis=1) + 1e-12), sr / hop


def flux_envelope(audio: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Half-wave rectified difference of the log RMS (frames of 4 ms every 2 ms), and its frame rate."""
    rms, fps = frames_rms(audio, sr, HOP_S)
    db = 20 * np.log10(rms)
    return np.maximum(0.0, np.diff(db, prepend=db[0])), fps


def autocorr_tempo(env: np.ndarray, fps: float, bpm: float) -> float:
    """Tempo A: the envelope's autocorrelation peak nearest ``bpm``, its double or its half (parabolic
    interpolation)."""
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


def grid_tempo(env: np.ndarray, fps: float, bpm: float) -> float:
    """Tempo B: of the tempi within half an octave of ``bpm`` (0.05% apart), the one whose best-placed beat
    grid collects the most envelope per grid line."""
    e = np.convolve(env, np.ones(3) / 3, mode="same")
    x = np.arange(len(e))
    best, best_score = bpm, -math.inf
    for tempo in bpm * 2.0 ** np.arange(-0.5, 0.5, math.log2(1.0005)):
        period = 60.0 * fps / tempo
        lines = np.arange(0, math.ceil(period))[:, None] + period * np.arange(int((len(e) - 1) // period) + 1)
        inside = lines <= len(e) - 1
        score = (np.interp(np.where(inside, lines, 0), x, e) * inside).sum(1) / np.maximum(inside.sum(1), 1)
        if score.max() > best_score:
            best, best_score = float(tempo), float(score.max())
    return best


def hit_onsets(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(perceptual onset times in seconds, peak levels) of the clip's hits: RMS peaks standing 12 dB above
    the dips around them, each onset where the RMS on the way up is :data:`ONSET_DB` below the peak. A hit
    already above that at the clip start is left out: its onset is at or before the start, not measured."""
    from scipy.signal import find_peaks

    rms, fps = frames_rms(audio, sr, 0.001, ONSET_FRAME_S)
    db = 20 * np.log10(rms)
    peaks, _ = find_peaks(db, prominence=12.0, distance=max(1, round(0.06 * fps)))
    quiet = round(0.005 * fps)  # a dip shorter than this is within the hit
    times, levels = [], []
    for p in peaks:
        lo = max(0, p - round(0.08 * fps))
        below = np.concatenate([[False], db[lo : p + 1] < db[p] + ONSET_DB, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(below))
        runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= quiet]
        if not runs or lo + runs[-1][1] <= quiet:
            continue
        times.append((lo + runs[-1][1]) / fps + ONSET_FRAME_S / 2)  # a frame's time: its centre
        levels.append(rms[p])
    return np.asarray(times), np.asarray(levels)


def hit_grid(times: np.ndarray, weights: np.ndarray, period: float) -> tuple[float, float] | None:
    """The beat grid the hits sit on, near ``period`` seconds: (seconds per beat, time of its beat nearest the
    clip start). Of the grids through each hit with a period within 3% of ``period`` (0.1% apart), the one
    that the most hit level lies near (a Gaussian of 10 ms around each line), then refined by a
    level-weighted least-squares line through the hits within 15 ms of it. None with fewer than 4 hits."""
    if len(times) < 4:
        return None
    best, best_score = (period, 0.0), -1.0
    for per in period * (1 + np.arange(-0.03, 0.0305, 0.001)):
        for phase in times:
            off = times - phase - np.round((times - phase) / per) * per
            score = float(np.sum(weights * np.exp(-0.5 * (off / 0.01) ** 2)))
            if score > best_score:
                best, best_score = (float(per), float(phase)), score
    per, phase = best
    k = np.round((times - phase) / per)
    near = np.abs(times - phase - k * per) <= 0.015
    if near.sum() >= 3 and len(np.unique(k[near])) >= 3:
        per, phase = (float(v) for v in np.polyfit(k[near], times[near], 1, w=np.sqrt(weights[near])))
    return per, phase - round(phase / per) * per


def first_beat_ms(line: tuple[float, float] | None, finer: float = 1.0) -> float:
    """The distance (ms) from the clip start to the nearest beat of ``line``, its beat divided by ``finer``."""
    if line is None:
        return math.nan
    per, phase = line[0] / finer, line[1] % (line[0] / finer)
    return 1000 * min(phase, per - phase)


def tracker_tempo(audio: np.ndarray, sr: int) -> float:
    """Tempo D: the line through essentia's multifeature beat tracker's beats (NaN without essentia, or
    with fewer than 3 beats)."""
    try:
        import essentia
        import essentia.standard as es
    except ImportError:
        return math.nan
    essentia.log.infoActive = False
    from scipy.signal import resample_poly

    g = math.gcd(int(sr), 44100)  # the tracker's models assume 44.1 kHz
    x = resample_poly(np.asarray(audio, dtype=np.float64), 44100 // g, int(sr) // g).astype(np.float32)
    # a second of silence after the clip: without it the tracker drops the last beats of a clip this short
    # and, on a 5 s clip, can settle on a 2:3 tempo (120 for 180)
    x = np.concatenate([x, np.zeros(44100, np.float32)])
    beats = np.asarray(es.RhythmExtractor2013(method="multifeature")(x)[1], dtype=np.float64)
    if len(beats) < 3:
        return math.nan
    k = np.round((beats - beats[0]) / float(np.median(np.diff(beats))))
    return 60.0 / float(np.polyfit(k, beats, 1)[0])


def nearest_octave(tempo: float, bpm: float) -> float:
    """``tempo``, its double or its half: the one nearest ``bpm`` on a log scale."""
    return min((tempo * k for k in (0.5, 1.0, 2.0)), key=lambda t: abs(math.log(t / bpm)))


def judge(audio: np.ndarray, sr: int, bpm: float, own_bpm: float | None = None) -> dict[str, float]:
    """Every estimate for one delivered clip: tempo A, B, C and D, and the first-beat offset on the hits'
    grid at the requested beat and at the clip's own beat: ``own_bpm``, the tempo it was fitted to (twice
    the requested one where the material's pulse was twice as fast), or the requested beat. The grid is
    started from D's period (from B's without D); ``first_own_b`` is the own beat's from B's."""
    env, fps = flux_envelope(audio, sr)
    a, b, d = autocorr_tempo(env, fps, bpm), grid_tempo(env, fps, bpm), tracker_tempo(audio, sr)
    times, levels = hit_onsets(audio, sr)
    own = max(bpm, own_bpm or bpm)

    def grids(tempo: float) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        """The hits' grid started from ``tempo``'s period, at the requested beat and at the clip's own."""
        at_bpm = hit_grid(times, levels, 60.0 / tempo)
        return at_bpm, (hit_grid(times, levels, 60.0 / tempo * bpm / own) if own > bpm else at_bpm)

    line, own_b = grids(b)
    at_bpm, at_own = (line, own_b) if math.isnan(d) else grids(nearest_octave(d, bpm))
    return {
        "a": a,
        "b": b,
        "c": 60.0 / line[0] if line else math.nan,
        "d": d,
        "first": first_beat_ms(at_bpm),
        "first_own": first_beat_ms(at_own),
        "first_own_b": first_beat_ms(own_b),
    }


def within(tempo: float, bpm: float, tol: float = TOLERANCE) -> bool:
    return math.isfinite(tempo) and any(abs(tempo / (bpm * k) - 1) <= tol for k in (0.5, 1.0, 2.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "audioldm-daw-mini"))
    ap.add_argument("--prompts", type=int, default=len(RHYTHMIC))
    ap.add_argument("--others", type=int, default=len(NON_RHYTHMIC))
    ap.add_argument("--tempi", type=float, nargs="+", default=[90.0, 124.0, 140.0])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--save", type=Path, help="folder to keep each clip pair in (.npz), to judge again later")
    args = ap.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)

    from audioldm_daw.engine import Engine, GenerateRequest

    engine = Engine.load(args.model)
    started = time.perf_counter()
    rows = []
    for bpm in args.tempi:
        for kind, prompts in (("rhythmic", RHYTHMIC[: args.prompts]), ("other", NON_RHYTHMIC[: args.others])):
            for i, prompt in enumerate(prompts):
                clips = {}
                for fit in (False, True):
                    req = GenerateRequest(prompt, bpm=bpm, bars=2, steps=args.steps, seed=args.seed + i, fit=fit)
                    t = time.perf_counter()
                    clips[fit] = engine.generate(req)
                    clips[fit, "s"] = time.perf_counter() - t
                record = clips[True].tempo_fit or {}
                if args.save:
                    np.savez(
                        args.save / f"{bpm:g}-{kind}-{i:02d}.npz", before=clips[False].audio, after=clips[True].audio,
                        sr=clips[True].sample_rate, bpm=bpm, prompt=prompt, to_bpm=record.get("to_bpm") or 0.0,
                        fitted=bool(record.get("fitted")),
                    )  # fmt: skip
                before = judge(clips[False].audio, clips[False].sample_rate, bpm)
                after = judge(clips[True].audio, clips[True].sample_rate, bpm, record.get("to_bpm"))
                row = {"bpm": bpm, "kind": kind, "prompt": prompt, "fitted": bool(record.get("fitted")),
                       "record": record, "before": before, "after": after}  # fmt: skip
                rows.append(row)
                print(
                    f"{bpm:5.0f} {kind:8s} fit={int(row['fitted'])} clarity={record.get('clarity', 0):.2f} "
                    f"from={record.get('from_bpm') or 0:6.1f} to={record.get('to_bpm') or 0:5.0f} "
                    f"anchors={record.get('anchors') or 0:2d} | tempo A {before['a']:6.1f} -> {after['a']:6.1f} "
                    f"B {before['b']:6.1f} -> {after['b']:6.1f} C {before['c']:6.1f} -> {after['c']:6.1f} "
                    f"D {before['d']:6.1f} -> {after['d']:6.1f} "
                    f"| first beat {before['first']:5.1f} -> {after['first']:5.1f} ms "
                    f"(own beat {before['first_own']:5.1f} -> {after['first_own']:5.1f}, "
                    f"from B {after['first_own_b']:5.1f}) "
                    f"| {clips[False, 's']:.1f} s / {clips[True, 's']:.1f} s  {prompt}",
                    flush=True,
                )
    report(rows, args)
    print(f"{time.perf_counter() - started:.0f} s in all")


def report(rows: list[dict], args: argparse.Namespace) -> None:
    """The per-tempo table (Markdown) and the clarity spread."""

    def share(rs: list[dict], when: str, key: str) -> str:
        ok = sum(within(r[when][key], r["bpm"]) for r in rs)
        measured = any(math.isfinite(r[when][key]) for r in rs)  # D is NaN throughout without essentia
        return f"{ok}/{len(rs)}" if measured else "-"

    def most(rs: list[dict], when: str) -> str:
        """Clips that more than half of the estimators that ran put within 2%: each one alone has a way of
        failing (A's peak pulled by wandering hits, B and C taken in by an even stream, D's frame grid)."""

        def agreed(r: dict) -> bool:
            ran = [r[when][k] for k in "abcd" if math.isfinite(r[when][k]) or k != "d"]
            return 2 * sum(within(t, r["bpm"]) for t in ran) > len(ran)

        return f"{sum(agreed(r) for r in rs)}/{len(rs)}"

    def first(rs: list[dict], when: str, key: str = "first") -> str:
        vals = [r[when][key] for r in rs if math.isfinite(r[when][key])]
        if not vals:
            return "-"
        ok = sum(v <= FIRST_BEAT_MS for v in vals)
        return f"{statistics.median(vals):.1f} ms, {ok}/{len(rs)}"

    print()
    print(f"model {args.model}, 2 bars, {args.steps} steps, seed {args.seed} + prompt index")
    print("judges: tempo A autocorrelation, B beat grid (both of a log-RMS flux envelope), C the grid of the")
    print("hits' perceptual onsets, D the line through essentia's beats; first beat: the beat nearest the clip")
    print(f"start of the hits' grid started from D's period (median, and clips within {FIRST_BEAT_MS:g} ms); from B:")
    print("started from B's; most estimators: more than half of those that ran within 2%. Before: fit off;")
    print("after: fit on. Counts are of the clips judged rhythmic (fitted).")
    print()
    print(
        "| bpm | rhythmic prompts fitted | within 2%, A before / after | B before / after | C before / after "
        "| D before / after | most estimators, before / after | first beat before | first beat after "
        "| after, on the clip's own beat | own beat, from B | other prompts fitted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    groups = [(f"{bpm:g}", [r for r in rows if r["bpm"] == bpm]) for bpm in args.tempi]
    groups.append(("all", rows))
    for name, group in groups:
        rh = [r for r in group if r["kind"] == "rhythmic"]
        fitted = [r for r in rh if r["fitted"]]
        other = [r for r in group if r["kind"] == "other"]
        print(
            f"| {name} | {len(fitted)}/{len(rh)} | {share(fitted, 'before', 'a')} / {share(fitted, 'after', 'a')} "
            f"| {share(fitted, 'before', 'b')} / {share(fitted, 'after', 'b')} "
            f"| {share(fitted, 'before', 'c')} / {share(fitted, 'after', 'c')} "
            f"| {share(fitted, 'before', 'd')} / {share(fitted, 'after', 'd')} "
            f"| {most(fitted, 'before')} / {most(fitted, 'after')} "
            f"| {first(fitted, 'before')} | {first(fitted, 'after')} | {first(fitted, 'after', 'first_own')} "
            f"| {first(fitted, 'after', 'first_own_b')} "
            f"| {sum(r['fitted'] for r in other)}/{len(other)} |"
        )
    rh = [r for r in rows if r["kind"] == "rhythmic"]
    other = [r for r in rows if r["kind"] == "other"]
    clar = lambda rs: sorted(r["record"].get("clarity", 0.0) for r in rs)  # noqa: E731
    if rh and other:
        print()
        print(
            f"pulse clarity, rhythmic prompts: min {clar(rh)[0]:.2f}, median {statistics.median(clar(rh)):.2f}; "
            f"other prompts: max {clar(other)[-1]:.2f}, median {statistics.median(clar(other)):.2f}"
        )
    reasons = [r["record"].get("reason") for r in rh if not r["fitted"]]
    if reasons:
        print("rhythmic prompts left one-shot:", "; ".join(str(x) for x in reasons))


if __name__ == "__main__":
    main()
