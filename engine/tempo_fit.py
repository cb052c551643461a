"""Fit a rhythmic clip to the requested tempo; leave a sound without a confident beat as a one-shot.

``--bpm`` sets a clip's length, but the model plays at whatever tempo it learned, and not steadily: its hits
wander tens of milliseconds around any straight grid and now and then stumble, so a single stretch ratio,
however well estimated, leaves the clip drifting against the DAW's grid. Fitting (the ``fit`` parameter,
on by default) therefore warps the clip hit by hit, as a DAW's warp markers would:

1. A clip made at a tempo is generated longer (:func:`material_seconds`): room for a lead-in of
   :data:`LEAD_BEATS` beats to choose the first beat in, and for the largest stretch.
2. librosa's beat tracker finds the beats; each is moved onto the sample where its hit is heard to start
   (:func:`attack_start`: :data:`ATTACK_DB` below the hit's peak on the way up). A tracked beat whose hit
   lies too far off a whole number of beats from the last one kept is dropped (:func:`anchors`); a line
   through the rest gives the source tempo.
3. Of x0.5, x1 and x2 the requested tempo, the one needing the smallest stretch is chosen
   (:func:`choose_ratio`), and each hit is given its line on the exact grid of that tempo.
4. The beat is put on the accented hits (:func:`accented`, :func:`downbeat`), and the first beat of the clip
   is the one of the lead-in whose bar grid carries the most low-frequency onset strength (the kick).
5. Rubber Band (through pedalboard, its high-quality engine) stretches each span between two hits by its own
   ratio, so every hit lands on its line (:func:`warp`); where the stretcher moved a hit's rise a little,
   a second stretch asks for it that much the other way (:func:`landing_errors`).
6. The clip is cut at its first beat, exactly as long as asked. A loop's closure is redone after the cut (a
   short crossfade of the audio just past the end into the start).

Whether a clip has a beat is decided by its pulse clarity: the onset envelope's autocorrelation at the
tracked beat period, relative to its value at lag 0 (1: every beat alike, 0: no repetition at that period).
Below :data:`MIN_CLARITY`, or with fewer than :data:`MIN_ANCHORS` hits on the beat, the clip is a one-shot:
cut to length unstretched and tagged without a tempo.

librosa and pedalboard are imported here, inside the functions, and this module is imported only when a
clip is fitted, so a door's start-up does not pay for them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: The largest overall stretch a fit needs: choosing among x0.5, x1 and x2 of the requested tempo, the source
#: tempo is never more than half an octave (a factor of sqrt 2) away from the chosen one.
MAX_STRETCH = math.sqrt(2.0)
#: Pulse clarity at and above which a clip counts as rhythmic (chosen on the bundled model's own clips of
#: rhythmic and non-rhythmic prompts: benchmarks/bench_tempo_fit.py prints both).
MIN_CLARITY = 0.3
#: Requested beats of lead-in generated before the clip, among which its first beat (the downbeat) is chosen.
LEAD_BEATS = 4
#: How far (a fraction of a beat) the time from one hit to the next may be off a whole number of beats at the
#: tracked tempo and the later still anchor the warp (it bounds how much more one span is stretched than the
#: clip as a whole); a tracked beat further off is one the tracker put on the wrong sound.
ANCHOR_TOLERANCE = 0.3
#: Fewer hits than this, and the clip is left unstretched: a beat too loose to fit.
MIN_ANCHORS = 4
#: Where a hit is heard to start: its level this far below its peak, on the way up (a tone's perceptual onset
#: lies 6 to 15 dB below its maximum: Vos and Rasch, 1981). The model's hits rise over tens of milliseconds
#: from near silence, so where "the start" is taken matters: a beat put where the rise begins sounds late.
ATTACK_DB = -15.0
ATTACK_REACH_S = 0.08  # how far before its peak a hit's rise is looked for
LEVEL_S = 0.01  # the window of the level a hit's start is read from
QUIET_S = 0.005  # the level below the threshold this long before a hit's rise: a dip shorter is within the hit
CONTEXT_S = 0.05  # audio either side of a span stretched with it, for the stretcher's windows and the seam
SEAM_S = 0.004  # the crossfade where two spans meet, just before a hit
#: The largest miss of a hit's start that a second stretch corrects: as far past its line as a hit is looked
#: for (:func:`attack_start`), so that a loud hit the stretcher smeared late is not left where it came out.
MAX_CORRECTION_S = 0.04
HOP = 64  # onset-envelope hop, samples (a few milliseconds at the model rate)
N_FFT = 512
LOW_HZ = 200.0  # the bands below this carry the kick, which marks the downbeat
LOOP_CROSSFADE_S = 0.01  # the redone loop closure
MARGIN_S = 0.05  # material past the end that the stretcher's tail and the rounding of lengths may eat
SILENT_PEAK = 1e-4  # -80 dBFS: nothing to track


@dataclass(frozen=True)
class TempoFit:
    """What fitting did to one clip, as recorded in the sidecar's ``tempo_fit``.

    ``fitted``: warped onto the grid and aligned; else a one-shot, with ``reason``. ``from_bpm`` is the tempo
    of the generated audio (the line through its hits), ``to_bpm`` the tempo it plays at now (the requested
    tempo, or half or twice it), ``ratio`` the overall stretch's speed factor (to_bpm / from_bpm: above 1
    faster, shorter), ``offset_s`` where the clip's first beat lay in the generated audio (what came before
    it is cut away), ``anchors`` how many hits were put on the grid, ``clarity`` the pulse clarity the
    decision was made on.
    """

    fitted: bool
    bpm: float
    clarity: float
    from_bpm: float | None = None
    to_bpm: float | None = None
    ratio: float | None = None
    offset_s: float | None = None
    anchors: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items() if v is not None}


def material_seconds(seconds: float, bpm: float, cap: float) -> float:
    """How long to generate so that a fit has enough audio to cut ``seconds`` from: :data:`LEAD_BEATS` beats of
    lead-in before the first beat, and the clip's length plus the loop crossfade, each taken at the largest
    stretch (a source slowed down by sqrt 2 needs sqrt 2 times the audio). Never shorter than ``seconds``,
    never longer than ``cap`` unless ``seconds`` itself is (a fit then pads the end, rarely needed)."""
    need = MAX_STRETCH * (seconds + LEAD_BEATS * 60.0 / bpm + LOOP_CROSSFADE_S) + MARGIN_S
    return max(seconds, min(need, cap))


def onset_envelope(audio: np.ndarray, sr: int, fmax: float | None = None) -> np.ndarray:
    """librosa's onset strength (spectral flux of a mel spectrogram) at :data:`HOP`; ``fmax``: of the bands
    below it only."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=sr, n_fft=N_FFT, hop_length=HOP, n_mels=64)
    if fmax is not None:
        freqs = librosa.mel_frequencies(n_mels=64, fmax=sr / 2)
        mel = mel[: max(1, int(np.searchsorted(freqs, fmax)))]
    return librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, n_fft=N_FFT, hop_length=HOP)


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


def _track(envelope: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    """(tempo in bpm, beat times in seconds) from librosa's dynamic-programming beat tracker, with a neutral
    prior: the requested tempo must not pull what the audio says."""
    import librosa

    tempo, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=sr, hop_length=HOP, start_bpm=120.0, tightness=100.0, units="time"
    )
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)


def level(audio: np.ndarray, sr: int) -> np.ndarray:
    """The waveform's level at every sample: its RMS over the :data:`LEVEL_S` around it (long enough not to
    follow a low drum's single cycles up and down, short enough to place a rise within a millisecond or two)."""
    w = max(1, round(LEVEL_S * sr))
    power = np.convolve(np.asarray(audio, dtype=np.float64) ** 2, np.ones(w) / w, mode="same")
    return np.sqrt(np.maximum(power, 0.0))


def attack_start(lev: np.ndarray, near: int, sr: int) -> int | None:
    """The sample where the hit nearest ``near`` is heard to start: its peak level within 40 ms after ``near``
    (from 25 ms before), then the end of the last stretch of :data:`QUIET_S` or more before that peak, within
    :data:`ATTACK_REACH_S`, whose level is :data:`ATTACK_DB` or more below the peak (above the floor there).
    None without a rise of 6 dB or more."""
    lo, hi = max(0, near - round(0.025 * sr)), min(len(lev), near + round(0.04 * sr))
    if hi - lo < 2:
        return None
    peak = lo + int(np.argmax(lev[lo:hi]))
    start = max(0, peak - round(ATTACK_REACH_S * sr))
    before = lev[start : peak + 1]
    floor = float(before.min())
    if lev[peak] <= 2.0 * floor or lev[peak] <= 0:
        return None
    return rise_start(before < floor + 10 ** (ATTACK_DB / 20) * (lev[peak] - floor), round(QUIET_S * sr), start)


def rise_start(below: np.ndarray, quiet: int, offset: int) -> int | None:
    """``offset`` plus the end of the last run of at least ``quiet`` True values in ``below`` (a level under
    the threshold): where the rise to the peak begins, passing over the brief dips within a hit. None
    without such a run."""
    padded = np.concatenate([[False], below, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    long = np.flatnonzero(ends - starts >= quiet)
    return offset + int(ends[long[-1]]) if len(long) else None


def grid_line(index: np.ndarray, samples: np.ndarray) -> tuple[float, float]:
    """(first sample, samples per beat) of the least-squares line through the hits."""
    slope, intercept = np.polyfit(index.astype(np.float64), samples.astype(np.float64), 1)
    return float(intercept), float(slope)


def anchors(audio: np.ndarray, sr: int, beats: np.ndarray, tempo: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The hits that anchor the warp: (beat index, attack-start sample) pairs, and the samples per beat of the
    least-squares line through them (the source tempo, averaged over the clip).

    The model's beat wanders and now and then stumbles (a beat a third short, one skipped), so no straight
    grid holds a whole clip; each tracked beat is taken on its own instead. Its index counts the beats since
    the last hit taken, at the tracker's tempo; a hit more than :data:`ANCHOR_TOLERANCE` of a beat off that
    count is one the tracker put on the wrong sound, and is left out."""
    if tempo <= 0 or len(beats) < 2:
        return np.zeros(0, int), np.zeros(0, int), 0.0
    period = 60.0 / tempo * sr
    lev = level(audio, sr)
    index: list[int] = []
    where: list[int] = []
    for b in beats:
        s = attack_start(lev, round(b * sr), sr)
        if s is None:
            continue
        if not where:
            index.append(0)
            where.append(s)
            continue
        beats_since = (s - where[-1]) / period
        count = max(1, round(beats_since))
        if abs(beats_since / count - 1.0) <= ANCHOR_TOLERANCE:
            index.append(index[-1] + count)
            where.append(s)
    # a beat the tracker skipped: the hit where the beats either side put it, if there is one
    for j in range(len(index) - 1, 0, -1):
        gap = index[j] - index[j - 1]
        for m in range(gap - 1, 0, -1):
            guess = where[j - 1] + (where[j] - where[j - 1]) * m / gap
            s = attack_start(lev, round(guess), sr)
            if s is not None and abs(s - guess) <= ANCHOR_TOLERANCE * period / 2 and where[j - 1] < s < where[j]:
                index.insert(j, index[j - 1] + m)
                where.insert(j, s)
    idx, pos = np.asarray(index, int), np.asarray(where, int)
    order = np.argsort(idx)
    idx, pos = idx[order], pos[order]
    if np.any(np.diff(pos) <= 0):  # two gap hits out of order: keep the tracked beats only
        keep = np.concatenate([[True], np.diff(pos) > 0])
        idx, pos = idx[keep], pos[keep]
    step = grid_line(idx, pos)[1] if len(idx) >= 2 else period
    return idx, pos, step


def accented(audio: np.ndarray, sr: int, idx: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The anchors, or the hits halfway between them where those are the louder ones (over the clip, by
    more than 1 dB on average): a beat tracker may follow either of two alternating hits, and the beat is
    where the accent falls. Returns (beat index, attack-start sample) as :func:`anchors` does."""
    lev = level(audio, sr)
    reach = round(0.04 * sr)
    mid_idx, mid_pos = [], []
    for j in range(len(idx) - 1):
        if idx[j + 1] - idx[j] != 1:
            continue
        s = attack_start(lev, (int(pos[j]) + int(pos[j + 1])) // 2, sr)
        if s is not None and pos[j] + reach < s < pos[j + 1] - reach:
            mid_idx.append(int(idx[j]))
            mid_pos.append(s)
    if len(mid_idx) < max(MIN_ANCHORS, len(idx) // 2):
        return idx, pos

    def loudness(ps: np.ndarray | list[int]) -> float:
        return float(np.mean([20 * np.log10(lev[p : p + reach].max() + 1e-12) for p in ps]))

    if loudness(mid_pos) <= loudness(pos) + 1.0:
        return idx, pos
    return np.asarray(mid_idx, int), np.asarray(mid_pos, int)


def choose_ratio(source_bpm: float, bpm: float) -> tuple[float, float]:
    """(target tempo, stretch factor): the one of 0.5, 1 and 2 times ``bpm`` nearest ``source_bpm`` on a log
    scale, and target / source."""
    target = min((bpm * k for k in (0.5, 1.0, 2.0)), key=lambda t: abs(math.log(t / source_bpm)))
    return target, target / source_bpm


def stretch(audio: np.ndarray, sr: int, ratio: float) -> np.ndarray:
    """Rubber Band's high-quality time stretch by one speed factor ``ratio`` (2: twice as fast), pitch kept."""
    if abs(ratio - 1.0) < 1e-6:
        return np.asarray(audio, dtype=np.float32)
    from pedalboard import time_stretch

    out = time_stretch(np.asarray(audio, dtype=np.float32)[None, :], float(sr), stretch_factor=float(ratio))
    return np.asarray(out[0], dtype=np.float32)


def _landing(probe: np.ndarray, expected: float, reach: int) -> int:
    """Where a click of the stretched probe came out: its peak within ``reach`` of ``expected``."""
    e = round(expected)
    lo, hi = max(0, e - reach), min(len(probe), e + reach + 1)
    return lo + int(np.argmax(np.abs(probe[lo:hi]))) if hi > lo else e


def warp(
    audio: np.ndarray, sr: int, src: np.ndarray, dst: np.ndarray, tail_ratio: float, length: int
) -> tuple[np.ndarray, int]:
    """Stretch ``audio`` so that sample ``src[j]`` lands exactly at output position ``dst[j]`` (both
    increasing), and on past the last anchor at ``tail_ratio`` until position ``length``. Returns the output
    and the index in it of position 0 (the output begins a little before ``dst[0]``, with the stretched
    audio before ``src[0]``).

    Each span between two anchors is stretched on its own by one ratio, with :data:`CONTEXT_S` of audio
    either side, and laid at its place: its first anchor on ``dst[j]``, measured rather than assumed (a
    third channel carries a click at each anchor through the same stretch, so with the same time map). Two
    spans meet over :data:`SEAM_S` just before each anchor, where both hold the same source audio (the
    previous hit's tail), in a linear crossfade; the hit itself starts after the seam, untouched by it."""
    from pedalboard import time_stretch

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    context, seam = round(CONTEXT_S * sr), max(1, round(SEAM_S * sr))
    tail = int(src[-1] + max(0, length - dst[-1]) * tail_ratio + context)
    ends = np.append(src[1:], min(len(audio), tail))
    ratios = np.append(np.diff(src) / np.maximum(np.diff(dst), 1), tail_ratio)
    pieces = []
    for j, (a, b, rho) in enumerate(zip(src, ends, ratios, strict=True)):
        lo, hi = max(0, int(a) - context), min(len(audio), int(b) + context)
        probe = np.zeros(hi - lo, dtype=np.float32)
        probe[a - lo] = 1.0
        stack = np.stack([np.asarray(audio[lo:hi], dtype=np.float32), np.zeros(hi - lo, np.float32), probe])
        out = time_stretch(stack, float(sr), stretch_factor=float(rho))
        at = _landing(out[2], (a - lo) / rho, round(context / rho) + 1)
        span = int(dst[j + 1] - dst[j]) if j + 1 < len(dst) else len(out[0]) - at
        pre = min(seam, at) if j else at
        piece = out[0][at - pre : at + span]
        pieces.append((int(dst[j]) - pre, pre if j else 0, np.pad(piece, (0, max(0, pre + span - len(piece))))))
    begin = pieces[0][0]
    result = np.zeros(max(start + len(p) for start, _, p in pieces) - begin, dtype=np.float32)
    for start, pre, piece in pieces:
        at = start - begin
        if pre:
            ramp = (np.arange(pre, dtype=np.float32) + 0.5) / pre
            result[at : at + pre] = result[at : at + pre] * (1 - ramp) + piece[:pre] * ramp
        result[at + pre : at + len(piece)] = piece[pre:]
    return result, -begin


def landing_errors(out: np.ndarray, origin: int, dst: np.ndarray, sr: int) -> np.ndarray:
    """How far (samples) each hit's start came out from its grid line ``dst`` in the stretched ``out``, found
    as in the source (:func:`attack_start`); 0 where none is found within :data:`MAX_CORRECTION_S`."""
    lev = level(out, sr)
    err = np.zeros(len(dst), dtype=np.int64)
    for j, d in enumerate(dst):
        s = attack_start(lev, origin + int(d), sr)
        if s is not None and abs(s - origin - d) <= MAX_CORRECTION_S * sr:
            err[j] = s - origin - d
    return err


def downbeat(
    audio: np.ndarray,
    sr: int,
    idx: np.ndarray,
    pos: np.ndarray,
    usable: np.ndarray,
    *,
    per_beat: float,
    bar: float,
    span: float,
) -> int:
    """Which anchor starts the clip, of those flagged ``usable`` (in the lead-in, with enough audio after
    them). First the beat: where the material's pulse is finer than the requested beat (``per_beat``
    material beats, above 1), the hits on the requested beats should be the accented ones, so the anchors
    whose grid of requested beats over the clip (``span`` material beats) holds the loudest hits, within
    1 dB of the best, are kept. Then the downbeat: of those, the one whose bar grid (``bar`` material
    beats) collects the most low-frequency onset strength, the kick's."""
    lev = level(audio, sr)
    low = onset_envelope(audio, sr, fmax=LOW_HZ)
    at = {int(k): int(p) for k, p in zip(idx, pos, strict=True)}
    reach = round(0.04 * sr)

    def loudness(p: int) -> float:
        return float(lev[p : p + reach].max(initial=0.0))

    def onset(p: int) -> float:
        return float(low[p // HOP : p // HOP + reach // HOP].max(initial=0.0))

    def grid_mean(k0: int, step: float, value: Any) -> float:
        ks = [round(k0 + m * step) for m in range(int(span / step) + 1)]
        vals = [value(at[k]) for k in ks if k in at]
        return float(np.mean(vals)) if vals else 0.0

    cands = [j for j in range(len(idx)) if usable[j]]
    if per_beat > 1:
        beat = {j: grid_mean(int(idx[j]), per_beat, loudness) for j in cands}
        top = max(beat.values())
        cands = [j for j in cands if beat[j] >= top * 10 ** (-1 / 20)]
    return max(cands, key=lambda j: (grid_mean(int(idx[j]), max(1.0, bar), onset), -j))


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


def fit_to_tempo(
    audio: np.ndarray, sr: int, bpm: float, n: int, *, loop: bool = False, beats_per_bar: float = 4.0
) -> tuple[np.ndarray, TempoFit]:
    """Fit ``audio`` (mono, at ``sr``) to ``bpm`` and cut it to ``n`` samples; or, without a confident beat,
    cut it unstretched. Returns the audio and what was done. Deterministic: the same audio gives the same clip."""
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) == 0 or float(np.max(np.abs(audio))) < SILENT_PEAK:
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, 0.0, reason="silent: no beat to fit")
    env = onset_envelope(audio, sr)
    tracked, beats = _track(env, sr)
    if not tracked > 0 or len(beats) < 2:
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, 0.0, reason="no beat found")
    clarity = pulse_clarity(env, 60.0 / tracked * sr / HOP)
    if clarity < MIN_CLARITY:
        reason = f"no confident beat (pulse clarity {clarity:.2f}, below {MIN_CLARITY:g})"
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, clarity, from_bpm=tracked, reason=reason)
    idx, pos, period = anchors(audio, sr, beats, tracked)
    if len(idx) < MIN_ANCHORS:
        reason = f"beat too loose to fit ({len(idx)} hits on the beat, fewer than {MIN_ANCHORS})"
        return cut(audio, 0, n, sr, loop=loop), TempoFit(False, bpm, clarity, from_bpm=tracked, reason=reason)
    source_bpm = 60.0 * sr / period
    target, ratio = choose_ratio(source_bpm, bpm)
    out_period = 60.0 * sr / target  # output samples per material beat
    # material beats per requested beat and per bar; the clip may start on any hit of the lead-in
    per_beat = target / bpm
    if per_beat <= 1:  # each material beat is a beat of the clip: it must be the accented one of its pair
        idx, pos = accented(audio, sr, idx, pos)
    bar = per_beat * beats_per_bar
    lead = LEAD_BEATS * per_beat
    x = round(LOOP_CROSSFADE_S * sr) if loop else 0
    after_last = (len(audio) - pos) / ratio  # output the audio past each hit still makes, roughly
    room = (idx.max() - idx) * out_period + after_last[-1] - MARGIN_S * sr
    usable = (idx - idx[0] < max(1.0, lead) - 1e-9) & (room >= n + x)
    if not usable.any():  # short material (a clip near the longest the model makes): the earliest hit
        usable = np.arange(len(idx)) == 0
    first = downbeat(audio, sr, idx, pos, usable, per_beat=per_beat, bar=bar, span=n / out_period)
    # the anchors the clip and its loop crossfade reach, and the next one
    grid = np.round((idx[first:] - idx[first]) * out_period).astype(np.int64)
    used = int(np.searchsorted(grid, n + x)) + 1
    src, dst = pos[first:][:used], grid[:used]
    stretched, origin = warp(audio, sr, src, dst, ratio, n + x)
    # the stretcher smears a hit's rise a little: where a hit's start came out off its line, ask for it
    # that much the other way, once
    err = landing_errors(stretched, origin, dst, sr)
    if np.any(err):
        stretched, origin = warp(audio, sr, src, dst - err, ratio, n + x)
    fit = TempoFit(
        True, bpm, clarity, from_bpm=source_bpm, to_bpm=target, ratio=ratio, offset_s=int(pos[first]) / sr,
        anchors=len(src),
    )  # fmt: skip
    if origin < 0:
        stretched, origin = np.concatenate([np.zeros(-origin, np.float32), stretched]), 0
    return cut(stretched, origin, n, sr, loop=loop), fit
