"""How well a vocoder keeps pitch: sustained harmonic notes across the musical range, turned into the paper's
log-mel, rendered by the vocoder, and their fundamental estimated with YIN (de Cheveigne and Kawahara, 2002).

Category accuracy hides what a musician hears first: a HiFi-GAN, being convolutional with a fixed hop, turns a mel
whose frames repeat (a steady note) into audio that repeats every hop (16 kHz / 160 = 100 Hz), a buzz that is not
the note, however long it trains. The
same estimator runs on the clean notes as well (``reference_within_50_cents``), so a figure here is the vocoder's,
not the estimator's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audioldm_daw.engine.architecture import SAMPLE_RATE
from audioldm_daw.engine.mel import log_mel

SR = SAMPLE_RATE
#: Whole tones from A1 (55 Hz) to G6 (1568 Hz): bass to lead range, and none of them a multiple of 100 Hz.
NOTES = tuple(float(55 * 2 ** (k / 12)) for k in range(0, 59, 2))


def harmonic_tone(freq: float, seconds: float = 1.5, partials: int = 6, sr: int = SR) -> np.ndarray:
    """A sustained note: ``partials`` harmonics at 1/k amplitude (those below Nyquist), peak 0.3."""
    t = np.arange(int(sr * seconds)) / sr
    x = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, partials + 1) if k * freq < sr / 2)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def yin_f0(
    x: np.ndarray,
    sr: int = SR,
    fmin: float = 40.0,
    fmax: float = 2000.0,
    frame: int = 2048,
    hop: int = 512,
    threshold: float = 0.15,
) -> float:
    """The median fundamental (Hz) over the frames of ``x`` where YIN finds one; NaN where none does.

    Per frame: the difference function d(tau), normalised by its cumulative mean; the first dip below
    ``threshold`` (followed to its local minimum) is the period, refined by a parabola through its neighbours.
    """
    tau_max, tau_min = int(sr / fmin), max(2, int(sr / fmax))
    n = frame - tau_max
    if len(x) < frame:
        return float("nan")
    starts = range(0, len(x) - frame + 1, hop)
    frames = np.stack([x[s : s + frame] for s in starts]).astype(np.float64)
    d = np.stack([((frames[:, :n] - frames[:, t : t + n]) ** 2).sum(1) for t in range(tau_max + 1)], axis=1)
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * np.arange(1, tau_max + 1) / np.maximum(cum, 1e-12)
    f0s = []
    for row in dn:
        below = np.flatnonzero(row[tau_min:tau_max] < threshold)
        if len(below) == 0:
            continue
        tau = tau_min + int(below[0])
        while tau + 1 < tau_max and row[tau + 1] < row[tau]:
            tau += 1
        a, b, c = row[tau - 1], row[tau], row[tau + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c > 0 else 0.0
        f0s.append(sr / (tau + shift))
    return float(np.median(f0s)) if f0s else float("nan")


def cents(estimate: float, truth: float) -> float:
    """The interval from ``truth`` to ``estimate`` in cents (NaN stays NaN)."""
    return float(1200 * np.log2(estimate / truth))


def _summary(errors: list[float]) -> tuple[float, float]:
    """(median |error| with a note YIN found no pitch in counting as a miss of 1200 cents, share within 50)."""
    a = np.abs(np.nan_to_num(np.asarray(errors), nan=1200.0))
    return float(np.median(a)), float(np.mean(a < 50))


@torch.no_grad()
def vocoder_pitch(vocoder: Any, notes: tuple[float, ...] = NOTES) -> dict[str, Any]:
    """Each note's pitch error (cents) after log-mel and ``vocoder`` (mel (1, frames, 64) -> audio (1, samples)),
    and the same estimator's error on the notes themselves."""
    errors, reference = [], []
    for f in notes:
        tone = harmonic_tone(f)
        audio = vocoder(log_mel(torch.from_numpy(tone))[None]).reshape(-1).float().cpu().numpy()
        errors.append(cents(yin_f0(audio), f))
        reference.append(cents(yin_f0(tone), f))
    median, within = _summary(errors)
    return {
        "notes": len(notes),
        "lowest_hz": min(notes),
        "highest_hz": max(notes),
        "median_abs_cents": median,
        "within_50_cents": within,
        "reference_within_50_cents": _summary(reference)[1],
        "errors_cents": [round(e, 1) if np.isfinite(e) else None for e in errors],
    }
