"""Fit a rhythmic clip to the requested tempo; leave a sound without a confident beat as a one-shot.

``--bpm`` sets a clip's length, but the model plays at whatever tempo it learned: a drum clip tagged with
the requested tempo then drifts against the DAW's grid once warped. With fitting on (the ``fit`` parameter),
a clip made at a tempo is generated a little longer (:func:`material_seconds`), its tempo and beats are found
with librosa's beat tracker, it is time-stretched with Rubber Band (through pedalboard) to the requested
tempo, or to half or twice it, whichever needs the smallest stretch, and cut so that a beat falls on its
first sample and it is exactly as long as asked. A loop's closure is redone after the cut (a short
crossfade of the audio just past the end into the start), since the stretch and the cut move the seam.

Whether a clip has a beat is decided by its pulse clarity: the onset envelope's autocorrelation at the
tracked beat period, relative to its value at lag 0 (1: every beat alike, 0: no repetition at that period).
Below :data:`MIN_CLARITY` the clip is a one-shot: cut to length unstretched, and tagged without a tempo.

librosa and pedalboard are imported here, inside the functions, and this module is imported only when a
clip is fitted, so a door's start-up does not pay for them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: The largest stretch a fit needs: choosing among x0.5, x1 and x2 of the requested tempo, the source tempo
#: is never more than half an octave (a factor of sqrt 2) away from the chosen one.
MAX_STRETCH = math.sqrt(2.0)
#: Pulse clarity at and above which a clip counts as rhythmic (chosen on the bundled model's own clips of
#: rhythmic and non-rhythmic prompts: benchmarks/bench_tempo_fit.py prints both).
MIN_CLARITY = 0.45
HOP = 64  # onset-envelope hop, samples (a few milliseconds at the model rate: the first beat lands within one)
N_FFT = 512
LOOP_CROSSFADE_S = 0.01  # the redone loop closure
MARGIN_S = 0.05  # material past the end that the stretcher's tail and the rounding of lengths may eat
SILENT_PEAK = 1e-4  # -80 dBFS: nothing to track


@dataclass(frozen=True)
class TempoFit:
    """What fitting did to one clip, as recorded in the sidecar's ``tempo_fit``.

    ``fitted``: stretched and aligned; else a one-shot, with ``reason``. ``from_bpm`` is the tempo the beat
    tracker found in the generated audio, ``to_bpm`` the tempo it plays at now (the requested tempo, or half or
    twice it), ``ratio`` the stretch's speed factor (to_bpm / from_bpm: above 1 faster, shorter),
    ``offset_s`` where the first beat lay in the stretched audio (cut away, so that beat starts the clip),
    ``clarity`` the pulse clarity the decision was made on.
    """

    fitted: bool
    bpm: float
    clarity: float
    from_bpm: float | None = None
    to_bpm: float | None = None
    ratio: float | None = None
    offset_s: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items() if v is not None}


def material_seconds(seconds: float, bpm: float, cap: float) -> float:
    """How long to generate so that a fit has enough audio to cut ``seconds`` from: at most one beat of
    offset before the first beat, and the clip's length plus the loop crossfade, each taken at the largest
    stretch (a source slowed down by sqrt 2 needs sqrt 2 times the audio). Never shorter than ``seconds``,
    never longer than ``cap`` unless ``seconds`` itself is (a fit then pads the end, rarely needed)."""
    need = MAX_STRETCH * (seconds + 60.0 / bpm + LOOP_CROSSFADE_S) + MARGIN_S
    return max(seconds, min(need, cap))


def onset_envelope(audio: np.ndarray, sr: int) -> np.ndarray:
    """librosa's onset strength (spectral flux of a mel spectrogram) at :data:`HOP`."""
    import librosa

    return librosa.onset.onset_strength(y=audio, sr=sr, hop_length=HOP, n_fft=N_FFT, n_mels=64)


def pulse_clarity(envelope: np.ndarray, period_frames: float) -> float:
    """The onset envelope's unbiased autocorrelation at ``period_frames`` (best within 3% of it), over its
    value at lag 0: near 1 for a steady beat, near 0 for a sound with no repetition at that period."""
    x = np.asarray(envelope, dtype=np.float64)
    n = len(x)
    x = np.convolve(x, np.ones(5) / 5, mode="same")  # the flux of a steady tone flickers frame to frame
    w = max(1, round(period_frames))
    if n > w:  # less its moving average over one period: a swell or a fade is not a pulse
        x = x - np.convolve(x, np.ones(w) / w, mode="same")
    x = x - x.mean()
    if n < 4 or not np.any(x) or not 1 <= period_frames < n / 2:
        return 0.0
    ac = np.correlate(x, x, mode="full")[n - 1 :] / (n - np.arange(n))
    lo, hi = max(1, math.floor(period_frames * 0.97)), min(n // 2, math.ceil(period_frames * 1.03))
    return float(max(0.0, ac[lo : hi + 1].max() / ac[0]))


def _track(audio: np.ndarray, sr: int, start_bpm: float, tightness: float = 100.0) -> tuple[float, np.ndarray]:
    """(tempo in bpm, beat times in seconds) from librosa's dynamic-programming beat tracker."""
    import librosa

    env = onset_envelope(audio, sr)
    tempo, beats = librosa.beat.beat_track(
        onset_envelope=env, sr=sr, hop_length=HOP, start_bpm=start_bpm, tightness=tightness, units="time"
    )
    tempo, beats = float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)
    if tempo > 0 and len(beats) >= 4:  # the tracker's tempo is a whole number of frames: refine it on its beats
        index = np.round((beats - beats[0]) * tempo / 60.0)
        if len(np.unique(index)) >= 4:
            slope = float(np.polyfit(index, beats, 1)[0])
            if slope > 0 and abs(60.0 / slope / tempo - 1) < 0.05:
                tempo = 60.0 / slope
    return tempo, beats


def choose_ratio(source_bpm: float, bpm: float) -> tuple[float, float]:
    """(target tempo, stretch factor): the one of 0.5, 1 and 2 times ``bpm`` nearest ``source_bpm`` on a log
    scale, and target / source."""
    target = min((bpm * k for k in (0.5, 1.0, 2.0)), key=lambda t: abs(math.log(t / source_bpm)))
    return target, target / source_bpm


def stretch(audio: np.ndarray, sr: int, ratio: float) -> np.ndarray:
    """Rubber Band's high-quality time stretch by speed factor ``ratio`` (2: twice as fast), pitch kept."""
    if abs(ratio - 1.0) < 1e-6:
        return np.asarray(audio, dtype=np.float32)
    from pedalboard import time_stretch

    out = time_stretch(np.asarray(audio, dtype=np.float32)[None, :], float(sr), stretch_factor=float(ratio))
    return np.asarray(out[0], dtype=np.float32)


def first_beat(audio: np.ndarray, sr: int, period: float) -> float:
    """Where the beat grid of ``period`` seconds starts in ``audio``, in [0, period): the phase whose grid
    collects the most onset strength (librosa's envelope), then moved to the start of the attacks: the median
    distance from each grid line to where the level near it first reaches 30% of its peak there. A beat
    tracker puts a beat on the envelope's peak, which a stretched transient reaches later than its first
    sample, and a DAW's warp marker belongs on the start."""
    env = onset_envelope(audio, sr)
    step = period * sr / HOP  # frames per beat
    lines = np.arange(0.0, len(env) - 1, step)
    phases = np.arange(0, max(1, math.ceil(step)))
    scores = [float(np.interp(lines + p, np.arange(len(env)), env, right=0.0).sum()) for p in phases]
    phase = float(phases[int(np.argmax(scores))]) * HOP / sr
    level = np.convolve(np.abs(audio), np.ones(16) / 16, mode="same")  # a 1 ms envelope at the model rate
    reach = round(min(0.03, period / 4) * sr)
    loud = 0.1 * float(level.max())
    offsets = []
    for line in np.arange(phase, len(audio) / sr, period):
        c = round(line * sr)
        lo, hi = max(0, c - reach), min(len(level), c + reach)
        window = level[lo:hi]
        if len(window) == 0 or window.max() < loud:
            continue
        offsets.append((lo + int(np.argmax(window >= 0.3 * window.max())) - c) / sr)  # where the attack starts
    if offsets:
        phase += float(np.median(offsets))
    return phase % period


def cut(audio: np.ndarray, start: int, n: int, sr: int, *, loop: bool) -> np.ndarray:
    """``n`` samples from ``start`` (zero-padded if the audio runs out). A loop's closure is redone: the
    audio just past the end crossfades into the start (equal power), so the last sample flows into the first."""
    x = max(1, round(LOOP_CROSSFADE_S * sr)) if loop else 0
    seg = np.asarray(audio[start : start + n + x], dtype=np.float32)
    if len(seg) < n + x:
        seg = np.concatenate([seg, np.zeros(n + x - len(seg), dtype=np.float32)])
    out = seg[:n].copy()
    if x:
        t = (np.arange(x, dtype=np.float64) + 0.5) / x
        out[:x] = (out[:x] * np.sin(t * math.pi / 2) + seg[n : n + x] * np.cos(t * math.pi / 2)).astype(np.float32)
    return out


def fit_to_tempo(audio: np.ndarray, sr: int, bpm: float, n: int, *, loop: bool = False) -> tuple[np.ndarray, TempoFit]:
    """Fit ``audio`` (mono, at ``sr``) to ``bpm`` and cut it to ``n`` samples; or, without a confident beat,
    cut it unstretched. Returns the audio and what was done. Deterministic: the same audio gives the same clip."""
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) == 0 or float(np.max(np.abs(audio))) < SILENT_PEAK:
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, 0.0, reason="silent: no beat to fit")
    source_bpm, beats = _track(audio, sr, start_bpm=120.0)  # a neutral prior: the request must not pull it
    if not source_bpm > 0 or len(beats) < 2:
        reason = "no beat found"
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, 0.0, reason=reason)
    clarity = pulse_clarity(onset_envelope(audio, sr), 60.0 / source_bpm * sr / HOP)
    if clarity < MIN_CLARITY:
        reason = f"no confident beat (pulse clarity {clarity:.2f}, below {MIN_CLARITY:g})"
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, clarity, from_bpm=source_bpm, reason=reason)
    target, ratio = choose_ratio(source_bpm, bpm)
    stretched = stretch(audio, sr, ratio)
    period = 60.0 / max(bpm, target)  # the finer of the requested beat and the material's own
    start = round(first_beat(stretched, sr, period) * sr)
    fit = TempoFit(True, bpm, clarity, from_bpm=source_bpm, to_bpm=target, ratio=ratio, offset_s=start / sr)
    return cut(stretched, start, n, sr, loop=loop), fit
