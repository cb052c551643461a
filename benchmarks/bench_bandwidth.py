"""Does the bandwidth extension bring back the band above 8 kHz? Measured on real recordings it never trained on.

The recordings come from Debian packages the training (workbench/training/bandwidth.py) does not use, downloaded
and unpacked by this script into ``--cache`` (``apt-get download`` and ``dpkg-deb -x``: nothing is installed), in
two sets (:data:`SETS`): "lossless", PCM recordings whose band reaches the Nyquist frequency (Hydrogen's own two
kits, Tux Paint's effects, the spoken recordings of ALSA, SuperCollider and Pd), and "lossy", mostly LMMS's Ogg
Vorbis samples (drums, loops, instruments, effects), whose band ends near 16 kHz. Each recording at 44.1 kHz or
more (its first ``--seconds``, mixed to mono) is band-limited to 8 kHz the way a model's clip is (resampled to
16 kHz and back by the engine's resampler), then:

- (a) left as it is (what every clip was before the extension),
- (b) put through the signal-processing baseline, a harmonic exciter (``engine.bandwidth.exciter``),
- (c) put through the stage (``engine.bandwidth.extend_band``, the shipped weights, as the engine calls it), and,
  for comparison, the exciter and the stage stopped at 16 kHz, the stage up to the Nyquist frequency, and its
  envelope over noise alone and over the translated low band alone.

Per category and overall: the log-spectral distance to the original (STFT 2048/512, log10 power, eps 1e-10)
above and below 8 kHz, and the level of the band above 8 kHz relative to the band below, the original's and
each result's (median over clips). The stage's cost is timed against a 25-step generation of a clip of the same
length with the bundled model on this CPU. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_bandwidth.py [--sets lossless,lossy] [--out FILE] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LMMS = "usr/share/lmms/samples"
H2 = "usr/share/hydrogen/data/drumkits"
#: set -> (Debian packages, category -> folders under the unpacked packages whose recordings belong to it).
#: "lossy": mostly LMMS's Ogg Vorbis samples, as sample libraries hold them; their encoder left most bins above
#: 16 kHz empty, so a distance to them counts any band up there as an error. "lossless": PCM recordings whose
#: band reaches the Nyquist frequency (Hydrogen's own two kits, which the training's hydrogen-drumkits does not
#: hold, Tux Paint's effects, the spoken recordings); none of these packages has lossless loops or instruments.
SETS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "lossy": (
        ("lmms-common", "alsa-utils", "supercollider-common"),
        {
            "drums": (f"{LMMS}/drums",),
            "loops": (f"{LMMS}/beats", f"{LMMS}/bassloops"),
            "speech": ("usr/share/sounds/alsa", "usr/share/SuperCollider/sounds"),
            "instruments": (f"{LMMS}/instruments", f"{LMMS}/basses", f"{LMMS}/stringsnpads", f"{LMMS}/latin"),
            "effects": (f"{LMMS}/effects", f"{LMMS}/misc"),
        },
    ),
    "lossless": (
        ("hydrogen-data", "tuxpaint-data", "puredata-doc", "alsa-utils", "supercollider-common"),
        {
            "drums": (f"{H2}/GMRockKit", f"{H2}/TR808EmulationKit"),
            "speech": ("usr/share/sounds/alsa", "usr/share/SuperCollider/sounds", "usr/share/puredata/doc/sound"),
            "effects": ("usr/share/tuxpaint/sounds",),
        },
    ),
}
CATEGORY_ORDER = ("drums", "loops", "speech", "instruments", "effects")
SKIP = {"Noise.wav", "a11wlk01-44_1.aiff", "SinedPink.aiff", "bell.aiff"}  # a test noise, a copy, a tone, an instrument
MIN_RATE = 44100
MIN_SECONDS = 0.1
EDGE = 8000.0


def unpack(cache: Path, packages: tuple[str, ...]) -> Path:
    """The packages' files under ``cache/root`` (each downloaded and unpacked once)."""
    root = cache / "root"
    done = cache / "unpacked"
    have = set(done.read_text().split()) if done.is_file() else set()
    missing = [p for p in packages if p not in have]
    if not missing:
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True, capture_output=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    done.write_text("\n".join(sorted(have | set(missing))) + "\n")
    return root


def clips(root: Path, seconds: float, categories: dict[str, tuple[str, ...]]) -> list[tuple[str, str, np.ndarray, int]]:
    """(category, name, mono audio, rate) of every usable recording."""
    import soundfile as sf

    found = []
    for category, folders in categories.items():
        for folder in folders:
            for path in sorted((root / folder).glob("*")):
                if path.name in SKIP or not path.is_file():
                    continue
                try:
                    info = sf.info(str(path))
                    if info.samplerate < MIN_RATE or info.duration < MIN_SECONDS:
                        continue
                    data, sr = sf.read(str(path), frames=int(seconds * info.samplerate), dtype="float32")
                except (RuntimeError, OSError, ValueError):
                    continue  # LMMS ships a few files libsndfile cannot read
                mono = data.mean(axis=1) if data.ndim > 1 else data
                if np.max(np.abs(mono)) < 1e-4:
                    continue
                found.append((category, path.name, mono.astype(np.float32), int(sr)))
    return found


def level_db(x: np.ndarray, rate: int) -> float:
    """Energy above 8 kHz relative to below, in dB."""
    s = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10((s[f >= EDGE].sum() + 1e-20) / (s[f < EDGE].sum() + 1e-20)))


def own_envelope(original: np.ndarray) -> Any:
    """An envelope function for ``extend_band`` that returns ``original``'s own band powers (the bound)."""
    import torch

    from audioldm_daw.engine.bandwidth import high_targets, stft

    def envelope(features: torch.Tensor, ref: torch.Tensor, bands: Any) -> torch.Tensor:
        power = stft(torch.from_numpy(np.ascontiguousarray(original)), bands.n_fft).abs().square()
        return torch.nan_to_num(high_targets(power, bands), nan=-30.0)[:, : ref.shape[-1]]

    return envelope


def timing(seconds: float) -> dict[str, float]:
    """Seconds of a 25-step generation of a ``seconds`` clip with the bundled model on the CPU (extension off),
    and of the extension of that clip at 48 kHz (the better of three runs each for the extension)."""
    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.engine.bandwidth import extend_band
    from audioldm_daw.engine.output import resample

    engine = Engine.load(ROOT / "models" / "audioldm-daw-mini", device="cpu")
    req = GenerateRequest("a drum loop", duration=seconds, steps=25, seed=0, full_band=False)
    engine.generate(GenerateRequest("warm-up", duration=seconds, steps=2, seed=0, full_band=False))
    t0 = time.perf_counter()
    clip = engine.generate(req)
    generate = time.perf_counter() - t0
    wave = resample(clip.audio, 48000, 16000)  # the model's own rate, as the engine has it before finishing
    wave48 = resample(wave, 16000, 48000)
    stage = []
    for i in range(3):
        t0 = time.perf_counter()
        extend_band(wave48, 48000, EDGE, 48000, seed=i)
        stage.append(time.perf_counter() - t0)
    return {"generate": generate, "stage": min(stage)}


VARIANTS = ("a", "b", "b16", "c", "c16", "full", "noise", "translated", "oracle")
CAP_HZ = 16000.0  # where lossy originals end: the capped variants stop here


def measure(found: list[tuple[str, str, np.ndarray, int]], say: Any) -> list[dict[str, Any]]:
    """Every variant of every recording: LSD above 8 kHz (to Nyquist), below it, the level above 8 kHz, LSD 8-16 kHz."""
    from audioldm_daw.engine.bandwidth import exciter, extend_band
    from audioldm_daw.engine.output import resample
    from audioldm_daw.workbench.training.bandwidth import lsd

    rows: list[dict[str, Any]] = []
    for i, (category, name, x, sr) in enumerate(found):
        lim = resample(resample(x, sr, 16000), 16000, sr)[: len(x)]
        out = {
            "a": lim,
            "b": exciter(lim, sr, EDGE),
            "b16": exciter(lim, sr, EDGE, top_hz=CAP_HZ),
            "c": extend_band(lim, sr, EDGE, sr, seed=i),
            "c16": extend_band(lim, sr, EDGE, sr, seed=i, top_hz=CAP_HZ),
            "noise": extend_band(lim, sr, EDGE, sr, seed=i, noise_share=1.0),
            "translated": extend_band(lim, sr, EDGE, sr, seed=i, noise_share=0.0),
            "oracle": extend_band(lim, sr, EDGE, sr, seed=i, envelope=own_envelope(x)),
        }
        out["full"] = out["c"]  # the stage's default top is the Nyquist frequency: the same call, not made twice
        row: dict[str, Any] = {"category": category, "name": name, "rate": sr, "level": level_db(x, sr)}
        for v in VARIANTS:
            y = out[v][: len(x)]
            row[v] = (
                lsd(x, y, sr, EDGE, sr / 2),
                lsd(x, y, sr, 0.0, EDGE),
                level_db(y, sr),
                lsd(x, y, sr, EDGE, CAP_HZ),
            )
        rows.append(row)
        say(
            f"{category:11s} {name:28s} {sr} Hz {len(x) / sr:5.2f} s  level {row['level']:6.1f} dB  LSD above/below "
            + "  ".join(f"{v} {row[v][0]:.2f}/{row[v][1]:.2f}" for v in ("a", "b", "c"))
            + f"  level c {row['c'][2]:6.1f} dB"
        )
    return rows


def report(rows: list[dict[str, Any]], say: Any) -> None:
    """The per-category tables of one set."""
    groups = [(c, [r for r in rows if c in ("overall", r["category"])]) for c in [*CATEGORY_ORDER, "overall"]]
    groups = [(c, rs) for c, rs in groups if rs]
    mean = lambda rs, v, k: statistics.mean(r[v][k] for r in rs)  # noqa: E731
    say()
    say(
        "| category | clips | LSD above 8 kHz: (a) band-limited / (b) exciter / (c) stage | (c) vs (a) | (c) vs (b) "
        "| LSD below 8 kHz: (a) / (b) / (c) | level above 8 kHz, median: original / (b) / (c) | (c) - original |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for category, rs in groups:
        hi = {v: mean(rs, v, 0) for v in VARIANTS}
        lo = {v: mean(rs, v, 1) for v in VARIANTS}
        lev = {v: statistics.median(r[v][2] for r in rs) for v in VARIANTS}
        diff = statistics.median(r["c"][2] - r["level"] for r in rs)
        say(
            f"| {category} | {len(rs)} | {hi['a']:.2f} / {hi['b']:.2f} / {hi['c']:.2f} | "
            f"{100 * (hi['c'] / hi['a'] - 1):+.0f}% | {100 * (hi['c'] / hi['b'] - 1):+.0f}% | "
            f"{lo['a']:.3f} / {lo['b']:.3f} / {lo['c']:.3f} | "
            f"{statistics.median(r['level'] for r in rs):.1f} / {lev['b']:.1f} / {lev['c']:.1f} dB | {diff:+.1f} dB |"
        )
    say()
    say(
        "Variants, LSD above 8 kHz (to the Nyquist frequency; in brackets 8 to 16 kHz): (b16) the exciter low-passed "
        "at 16 kHz; (c16) the stage stopped at 16 kHz; (full) the stage up to the Nyquist frequency; (noise) / "
        "(translated) the stage's fine structure all seeded noise / all the translated low band; (oracle) the stage "
        "given the original's own band powers in place of the network's prediction: the best any envelope could do "
        "with this fine structure"
    )
    say("| category | " + " | ".join(f"({v})" for v in VARIANTS) + " |")
    say("|---" * (len(VARIANTS) + 1) + "|")
    for category, rs in groups:
        say(f"| {category} | " + " | ".join(f"{mean(rs, v, 0):.2f} ({mean(rs, v, 3):.2f})" for v in VARIANTS) + " |")
    say()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "bench_bandwidth")
    ap.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    ap.add_argument("--seconds", type=float, default=10.0, help="the first seconds of each recording")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, among {', '.join(SETS)}")
    ap.add_argument("--no-timing", action="store_true", help="skip the timing against a generation")
    args = ap.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        ap.error(f"--sets: {', '.join(unknown)} is not a set of recordings here; expected some of {', '.join(SETS)}")

    import torch

    torch.set_num_threads(2)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    for name in sets:
        packages, categories = SETS[name]
        found = clips(unpack(args.cache, packages), args.seconds, categories)
        say(f"## {name}: {len(found)} recordings from {', '.join(packages)}; first {args.seconds:g} s of each, mono")
        t_start = time.perf_counter()
        rows = measure(found, say)
        say(f"{len(rows)} recordings, {time.perf_counter() - t_start:.0f} s")
        report(rows, say)
    if not args.no_timing:
        t = timing(args.seconds)
        say(
            f"cost: the stage on a {args.seconds:g} s clip at 48 kHz takes {t['stage']:.2f} s; a 25-step generation "
            f"of that clip with the bundled model takes {t['generate']:.1f} s on this CPU "
            f"({100 * t['stage'] / t['generate']:.1f}%)"
        )
    say(f"python {sys.version.split()[0]}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
