"""Training the bandwidth extension's envelope network (:mod:`audioldm_daw.engine.bandwidth`).

``python -m audioldm_daw.workbench.training.bandwidth --work runs/bandwidth --out engine/data/bandwidth.safetensors``

The network learns, from full-band recordings, how the band above a band limit relates to the band below it. Each
recording is band-limited the way a model's clip is made (resampled to twice the limit and back, by the engine's
own resampler, so the roll-off at the edge is the one the stage meets), analysed as the stage analyses it
(:func:`~audioldm_daw.engine.bandwidth.low_features`), and the network's prediction is compared with the
original's band powers above the limit (:func:`~audioldm_daw.engine.bandwidth.high_targets`): mean squared
error of log10 powers, frames weighted by their level so that silence does not count.

The recordings are only these, so that an evaluation on any other real recording stays held out:

- the project's own synthetic dataset rendered at 48 kHz (``workbench/dataset``);
- notes and drum hits rendered from FluidR3 (Debian ``fluid-soundfont-gm``) with fluidsynth;
- Sonic Pi's samples (Debian ``sonic-pi-samples``) and Hydrogen's drum kits (Debian ``hydrogen-drumkits``).

Most clips are band-limited at 8 kHz (the models' band); some at 6, 11.025 and 12 kHz, so that the same weights
serve an upsampled take whose own band ends elsewhere. The run checkpoints (``WORK/checkpoint.pt``, written
atomically) and resumes from it; ``--time-limit`` stops it, checkpointed, and the weights are exported either way.
``--tune`` measures, on the held-out part of the training recordings, the log-spectral distance of the stage for
several noise shares and of the exciter baseline for several gains (how their constants were chosen).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
RATES = (48000, 44100)
#: Band limits and how often each is drawn: the models' 8 kHz most of the time.
EDGES: tuple[tuple[float, float], ...] = ((8000.0, 0.7), (6000.0, 0.1), (11025.0, 0.1), (12000.0, 0.1))
MIN_RATE = 32000  # a recording at a lower rate has nothing above 8 kHz to learn from
CROP_FRAMES = 128
#: How often a batch's crop comes from each source: the synthetic set's soundfont and voices end near 11 kHz,
#: so it teaches less about the band above 8 kHz than the recordings do.
SOURCE_SHARES = {"synthetic": 0.1, "fluid-soundfont-gm": 0.3, "sonic-pi-samples": 0.3, "hydrogen-drumkits": 0.3}
TILT = 0.2  # the largest spectral slope added in training, log10 power per octave (6 dB per octave)
VALIDATION_SHARE = 0.06


@dataclass
class Example:
    """One recording as the network sees it: features (N_FEATURES, frames), reference (frames), targets
    (HIGH_BANDS, frames; NaN above the rate's Nyquist frequency), and where it came from."""

    features: np.ndarray
    ref: np.ndarray
    targets: np.ndarray
    source: str


def recordings(work: Path, seed: int, n_synth: int, n_notes: int, n_drums: int) -> list[tuple[str, Path]]:
    """(source, file) for every training recording, rendering what needs rendering into ``work`` first."""
    found: list[tuple[str, Path]] = []
    synth = work / "synth48"
    if n_synth and not (synth / "dataset.json").is_file():
        from audioldm_daw.workbench.dataset.synth import generate_dataset

        generate_dataset(synth, n_train=n_synth, n_test=0, seed=seed, sample_rate=48000, workers=2)
    found += [("synthetic", p) for p in sorted((synth / "train").glob("*.wav"))]
    notes = work / "fluidr3"
    if n_notes and not (notes / "done").is_file():
        render_soundfont(notes, n_notes, seed)
    found += [("fluid-soundfont-gm", p) for p in sorted(notes.glob("*.wav"))]
    found += [("sonic-pi-samples", p) for p in sorted(SONIC_PI.glob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
    kits = sorted(p for p in HYDROGEN.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(kits), size=min(n_drums, len(kits)), replace=False)) if kits else []
    found += [("hydrogen-drumkits", kits[i]) for i in picked]
    return found


def render_soundfont(folder: Path, count: int, seed: int, seconds: float = 3.0) -> None:
    """``count`` clips from FluidR3: one GM program (or the drum kit) each, a few notes or a short phrase."""
    from audioldm_daw.workbench.dataset.midi import DRUM_CHANNEL, MidiPart, Note, render_parts

    if not FLUID_R3.is_file():
        raise FileNotFoundError(
            f"{FLUID_R3} is missing; install Debian's fluid-soundfont-gm (scripts/train_bandwidth.sh does it)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    parts = []
    for _ in range(count):
        drums = rng.random() < 0.25
        notes = []
        t = float(rng.uniform(0.0, 0.2))
        while t < seconds - 0.3:
            length = float(rng.choice([0.12, 0.25, 0.5, 1.0, 2.0]))
            pitch = int(rng.integers(35, 82)) if drums else int(rng.integers(36, 96))
            notes.append(Note(t, min(length, seconds - t), pitch, int(rng.integers(50, 127))))
            t += float(rng.choice([0.12, 0.25, 0.5, 1.0]))
        program = 0 if drums else int(rng.integers(0, 128))
        parts.append(MidiPart(program, DRUM_CHANNEL if drums else 0, tuple(notes)))
    import soundfile as sf

    for i in range(0, count, 32):
        for j, clip in enumerate(render_parts(parts[i : i + 32], 48000, seconds, FLUID_R3)):
            sf.write(str(folder / f"{i + j:05d}.wav"), clip.astype(np.float32), 48000, subtype="FLOAT")
    (folder / "done").write_text("ok\n")


def load_mono(path: Path, rate: int, max_seconds: float, rng: np.random.Generator) -> np.ndarray | None:
    """The recording as mono float32 at ``rate`` (one random channel of a stereo file, at most ``max_seconds``
    from a random start), peak-normalised; None where it is too short, silent or below ``MIN_RATE``."""
    import soundfile as sf

    from audioldm_daw.engine.output import resample

    try:
        info = sf.info(str(path))
        if info.samplerate < MIN_RATE or info.frames < info.samplerate * 0.1:
            return None
        take = min(info.frames, int(max_seconds * info.samplerate))
        start = int(rng.integers(0, info.frames - take + 1))
        data, sr = sf.read(str(path), start=start, frames=take, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError):
        return None
    x = data[:, int(rng.integers(0, data.shape[1]))]
    peak = float(np.max(np.abs(x)))
    if peak < 1e-4:
        return None
    return resample(x / peak * 0.9, sr, rate)


def band_limited(x: np.ndarray, rate: int, edge: float) -> np.ndarray:
    """``x`` through twice ``edge`` and back, by the engine's resampler (a model clip's path to its output rate)."""
    from audioldm_daw.engine.output import resample

    low = round(2 * edge)
    return resample(resample(x, rate, low), low, rate)[: len(x)]


def make_example(x: np.ndarray, rate: int, edge: float, source: str) -> Example:
    """The network's inputs from the band-limited ``x`` and its targets from ``x`` itself."""
    import torch

    from audioldm_daw.engine.bandwidth import Bands, high_targets, low_features, n_fft_for, stft

    n_fft = n_fft_for(rate)
    bands = Bands(n_fft, rate, edge)
    lim = torch.from_numpy(np.ascontiguousarray(band_limited(x, rate, edge)))
    full = torch.from_numpy(np.ascontiguousarray(x))
    lp = stft(lim, n_fft).abs().square()
    fp = stft(full, n_fft).abs().square()
    features, ref = low_features(lp, bands)
    # the targets' silence floor from the original's low band, which the band-limited one shares
    targets = high_targets(fp, bands)
    return Example(features.numpy(), ref.numpy(), targets.numpy(), source)


def build_examples(files: Sequence[tuple[str, Path]], seed: int, log: Any) -> list[Example]:
    """Every recording, at a drawn rate and band limit (seeded per file, so a rebuild gives the same set)."""
    examples = []
    t0 = time.perf_counter()
    limits = {"synthetic": 5.12, "fluid-soundfont-gm": 3.0, "sonic-pi-samples": 8.0, "hydrogen-drumkits": 3.0}
    probs = np.array([p for _, p in EDGES])
    for i, (source, path) in enumerate(files):
        rng = np.random.default_rng([seed, i])
        rate = int(rng.choice(RATES))
        edge = float(EDGES[int(rng.choice(len(EDGES), p=probs / probs.sum()))][0])
        x = load_mono(path, rate, limits.get(source, 5.0), rng)
        if x is None or len(x) < rate * 0.1:
            continue
        examples.append(make_example(x, rate, edge, source))
        if (i + 1) % 200 == 0:
            log(f"features: {i + 1}/{len(files)} recordings, {time.perf_counter() - t0:.0f} s")
    return examples


def save_examples(path: Path, sets: dict[str, list[Example]]) -> None:
    """The examples of each set, concatenated along frames with their offsets (written atomically)."""
    arrays: dict[str, np.ndarray] = {}
    for name, exs in sets.items():
        arrays[f"{name}_features"] = np.concatenate([e.features for e in exs], axis=1)
        arrays[f"{name}_ref"] = np.concatenate([e.ref for e in exs])
        arrays[f"{name}_targets"] = np.concatenate([e.targets for e in exs], axis=1)
        arrays[f"{name}_offsets"] = np.cumsum([0] + [e.ref.shape[0] for e in exs])
        arrays[f"{name}_sources"] = np.array([e.source for e in exs])
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types the keywords as allow_pickle
    os.replace(tmp, path)


def load_examples(path: Path, name: str) -> list[Example]:
    with np.load(path) as z:
        f, r, t, o, s = (z[f"{name}_{k}"] for k in ("features", "ref", "targets", "offsets", "sources"))
    return [Example(f[:, a:b], r[a:b], t[:, a:b], str(src)) for a, b, src in zip(o[:-1], o[1:], s, strict=True)]


def batch(
    examples: Sequence[Example], rng: np.random.Generator, size: int, frames: int = CROP_FRAMES, augment: bool = False
) -> tuple:
    """A batch of random crops: features, reference, targets, and each frame's weight (0 for padding).

    Each crop's source is drawn first (:data:`SOURCE_SHARES`), then a recording of it. ``augment`` tilts a crop's
    spectrum: each band's relative log power, below and above the edge, moves by a drawn slope times the band's
    distance from the edge in octaves, so the network learns to carry a slope on rather than a recording's own."""
    from audioldm_daw.engine.bandwidth import BANDS_PER_OCTAVE, HIGH_BANDS, LOW_BANDS, N_FEATURES

    by_source: dict[str, list[Example]] = {}
    for e in examples:
        by_source.setdefault(e.source, []).append(e)
    names = sorted(by_source)
    shares = np.array([SOURCE_SHARES.get(n, 0.25) for n in names])
    low_pos = np.r_[-(LOW_BANDS + 0.5) / BANDS_PER_OCTAVE, (np.arange(LOW_BANDS) + 0.5 - LOW_BANDS) / BANDS_PER_OCTAVE]
    high_pos = (np.arange(HIGH_BANDS) + 0.5) / BANDS_PER_OCTAVE
    feats = np.zeros((size, N_FEATURES, frames), np.float32)
    refs = np.zeros((size, frames), np.float32)
    tgts = np.full((size, HIGH_BANDS, frames), np.nan, np.float32)
    weights = np.zeros((size, frames), np.float32)
    for b in range(size):
        group = by_source[names[int(rng.choice(len(names), p=shares / shares.sum()))]]
        ex = group[int(rng.integers(len(group)))]
        n = ex.features.shape[1]
        start = int(rng.integers(0, max(1, n - frames + 1)))
        m = min(frames, n - start)
        feats[b, :, :m] = ex.features[:, start : start + m]
        refs[b, :m] = ex.ref[start : start + m]
        tgts[b, :, :m] = ex.targets[:, start : start + m]
        if augment:
            slope = float(rng.uniform(-TILT, TILT))  # log10 power per octave
            feats[b, : LOW_BANDS + 1, :m] += (slope * low_pos)[:, None]
            tgts[b, :, :m] += (slope * high_pos)[:, None]
        level = ex.features[-2, start : start + m]  # the frame's level in its clip (log10)
        weights[b, :m] = np.clip((level + 4.0) / 2.0, 0.0, 1.0)
    return feats, refs, tgts, weights


def loss_of(net: Any, feats: Any, refs: Any, tgts: Any, weights: Any) -> Any:
    """Weighted mean squared error of the predicted band log-powers (NaN targets, above Nyquist, left out)."""
    import torch

    pred = net(feats) + refs[:, None, :]
    valid = ~torch.isnan(tgts)
    err = torch.where(valid, pred - torch.nan_to_num(tgts), torch.zeros_like(pred)).square()
    w = weights[:, None, :] * valid
    return (err * w).sum() / w.sum().clamp_min(1.0)


def save_checkpoint(path: Path, net: Any, opt: Any, step: int, history: list[dict[str, float]], spent: float) -> None:
    """The run's state (``spent``: seconds trained so far, which the time limit and the LR decay count)."""
    import torch

    tmp = path.with_suffix(".part")
    state = {"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "history": history, "spent": spent}
    torch.save(state, tmp)
    os.replace(tmp, path)


def export(net: Any, out: Path, info: dict[str, Any]) -> None:
    """The weights as safetensors, with the network's configuration and what it was trained on as metadata."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()}
    tmp = out.with_name(out.name + ".part")
    save_file(state, str(tmp), metadata={"config": json.dumps(net.config), "training": json.dumps(info)})
    os.replace(tmp, out)


def train(
    examples: list[Example],
    validation: list[Example],
    work: Path,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    time_limit: float | None,
    log: Any,
    channels: int = 64,
) -> tuple[Any, dict[str, Any]]:
    import torch

    from audioldm_daw.engine.bandwidth import EnvelopeNet

    torch.manual_seed(seed)
    net = EnvelopeNet(channels=channels)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    ckpt = work / "checkpoint.pt"
    step, history, spent = 0, [], 0.0
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step, history, spent = int(state["step"]), list(state["history"]), float(state.get("spent", 0.0))
        log(f"resumed at step {step}")
    vrng = np.random.default_rng(seed + 99)
    vbatches = [tuple(torch.from_numpy(a) for a in batch(validation, vrng, 64)) for _ in range(4)]
    t0 = time.perf_counter()
    running = 0.0
    while step < steps:
        rng = np.random.default_rng([seed, step])
        elapsed = spent + time.perf_counter() - t0
        done = max(step / steps, elapsed / time_limit if time_limit else 0.0)  # whichever ends the run first
        for g in opt.param_groups:  # a cosine decay over the run, after a short warm-up
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        feats, refs, tgts, weights = (torch.from_numpy(a) for a in batch(examples, rng, batch_size, augment=True))
        loss = loss_of(net, feats, refs, tgts, weights)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        running += float(loss.detach())
        out_of_time = time_limit is not None and spent + time.perf_counter() - t0 > time_limit
        if step % 250 == 0 or step == steps or out_of_time:
            with torch.no_grad():
                val = float(np.mean([float(loss_of(net, *vb)) for vb in vbatches]))
            history.append({"step": step, "train": running / max(1, step % 250 or 250), "validation": val})
            log(f"step {step}: train {history[-1]['train']:.4f}, validation {val:.4f} (log10 power, squared)")
            running = 0.0
            save_checkpoint(ckpt, net, opt, step, history, spent + time.perf_counter() - t0)
        if out_of_time:
            log(f"time limit reached at step {step}")
            break
    return net, {"steps": step, "history": history[-1:] if history else []}


def lsd(ref: np.ndarray, test: np.ndarray, rate: int, lo: float, hi: float) -> float:
    """Log-spectral distance of ``test`` from ``ref`` between ``lo`` and ``hi`` Hz (STFT 2048/512, log10 power,
    eps 1e-10): the root mean square over bins of the log-power difference, averaged over frames."""
    import torch

    n = min(len(ref), len(test))
    window = torch.hann_window(2048, dtype=torch.float64)

    def spec(x: np.ndarray) -> np.ndarray:
        s = torch.stft(torch.from_numpy(x[:n].astype(np.float64)), 2048, 512, window=window, return_complex=True)
        return np.log10(s.abs().square().numpy() + 1e-10)

    f = np.fft.rfftfreq(2048, 1 / rate)
    sel = (f >= lo) & (f < hi)
    d = spec(ref)[sel] - spec(test)[sel]
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


def tune(files: Sequence[tuple[str, Path]], seed: int, log: Any) -> None:
    """The stage's LSD above 8 kHz for several noise shares, and the exciter's for several gains, with the
    median level error of each, on held-out training recordings at 48 kHz."""
    from audioldm_daw.engine.bandwidth import exciter, extend_band

    shares, gains = (0.0, 0.25, 0.5, 0.75, 1.0), (0.1, 0.25, 0.5, 1.0, 2.0)
    names = [f"share {s}" for s in shares] + [f"gain {g}" for g in gains]
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for i, (_source, path) in enumerate(files):
        rng = np.random.default_rng([seed, i, 7])
        x = load_mono(path, 48000, 5.0, rng)
        if x is None:
            continue
        lim = band_limited(x, 48000, 8000.0)
        for s in shares:
            y = extend_band(lim, 48000, 8000.0, 48000, seed=i, noise_share=s)
            rows[f"share {s}"].append((lsd(x, y, 48000, 8000, 24000), level_db(y) - level_db(x)))
        for g in gains:
            y = exciter(lim, 48000, 8000.0, gain=g)
            rows[f"gain {g}"].append((lsd(x, y, 48000, 8000, 24000), level_db(y) - level_db(x)))
    for name, vals in rows.items():
        a = np.array(vals)
        log(f"tune {name}: LSD above 8 kHz {a[:, 0].mean():.3f}, median level error {np.median(a[:, 1]):+.1f} dB")


def level_db(x: np.ndarray, rate: int = 48000, edge: float = 8000.0) -> float:
    """Energy above ``edge`` relative to below, in dB."""
    s = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10((s[f >= edge].sum() + 1e-20) / (s[f < edge].sum() + 1e-20)))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--work", type=Path, default=Path("runs/bandwidth"), help="renders, cache, checkpoint, log")
    ap.add_argument("--out", type=Path, default=Path("engine/data/bandwidth.safetensors"))
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--channels", type=int, default=64, help="the network's width")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=None, help="seconds of training; then checkpoint and export")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--synthetic", type=int, default=240, help="clips of the synthetic set rendered at 48 kHz")
    ap.add_argument("--notes", type=int, default=200, help="clips rendered from FluidR3")
    ap.add_argument("--drums", type=int, default=320, help="Hydrogen drum-kit samples drawn")
    ap.add_argument("--tune", action="store_true", help="measure noise shares and exciter gains, then stop")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    log_path = args.work / "train.log"

    def log(text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        print(line, flush=True)
        with log_path.open("a") as f:
            f.write(line + "\n")

    files = recordings(args.work, args.seed, args.synthetic, args.notes, args.drums)
    rng = np.random.default_rng(args.seed)
    held = set(rng.choice(len(files), size=max(1, int(len(files) * VALIDATION_SHARE)), replace=False).tolist())
    train_files = [f for i, f in enumerate(files) if i not in held]
    val_files = [f for i, f in enumerate(files) if i in held]
    counts = {s: sum(1 for src, _ in files if src == s) for s in sorted({src for src, _ in files})}
    log(f"recordings: {counts}; {len(val_files)} held out for validation")
    if args.tune:
        tune(val_files, args.seed, log)
        return 0
    cache = args.work / "examples.npz"
    if cache.is_file():
        examples, validation = load_examples(cache, "train"), load_examples(cache, "validation")
    else:
        examples = build_examples(train_files, args.seed, log)
        validation = build_examples(val_files, args.seed + 1, log)
        save_examples(cache, {"train": examples, "validation": validation})
    frames = sum(e.features.shape[1] for e in examples)
    log(f"examples: {len(examples)} recordings, {frames} frames; validation {len(validation)}")
    net, info = train(
        examples,
        validation,
        args.work,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        time_limit=args.time_limit,
        log=log,
        channels=args.channels,
    )
    export(net, args.out, {"recordings": counts, "frames": frames, **info})
    log(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
