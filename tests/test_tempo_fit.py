"""Tempo fitting: a rhythmic clip comes out on the requested tempo's grid, hit by hit, with a beat on its first
sample; a sound without a beat is left as it is and tagged one-shot; ``fit`` off gives the clip made before
fitting existed, and fitting is on by default.

The tiny random models make noise, so the fitting itself is tested on synthetic audio made here (a click
track at a known tempo, a pad of detuned partials); the engine tests check the plumbing: lengths, sidecar
fields, the ACID chunk and recall.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine import tempo_fit as tf
from audioldm_daw.engine.params import PARAMS
from audioldm_daw.engine.wav_chunks import read_tempo_chunks, with_tempo_chunks

SR = 16000


def clicks(
    bpm: float,
    seconds: float,
    first: float,
    sr: int = SR,
    *,
    jitter: float = 0.0,
    gains: tuple[float, ...] = (1.0,),
    halves: float = 0.0,
) -> np.ndarray:
    """Noise bursts (5 ms decay) every beat from ``first``: a click track at ``bpm``. ``jitter``: each hit
    moved by up to that many seconds either way (seeded), as the model's hits wander; ``gains``: the hits'
    levels in turn; ``halves``: a hit of that level halfway between each two."""
    y = np.zeros(round(seconds * sr), np.float32)
    rng = np.random.default_rng(0)
    period = 60.0 / bpm
    times = [
        (first + k * period + rng.uniform(-jitter, jitter), gains[k % len(gains)])
        for k in range(int(seconds / period) + 1)
    ]
    if halves:
        times += [(first + (k + 0.5) * period, halves) for k in range(int(seconds / period) + 1)]
    for t, g in times:
        i = round(t * sr)
        if not 0 <= i < len(y):
            continue
        n = min(400, len(y) - i)
        y[i : i + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / 80) * 0.8 * g).astype(np.float32)
    return y


def attack_times(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """Where each burst starts: the level (1 ms average) first crossing 15% of the peak after a quiet gap."""
    level = np.convolve(np.abs(y), np.ones(16) / 16, mode="same")
    above = np.flatnonzero(level >= 0.15 * level.max())
    starts = above[np.r_[True, np.diff(above) > round(0.05 * sr)]]
    return starts / sr


def pad(seconds: float, sr: int = SR) -> np.ndarray:
    """A slow swell of detuned partials over a faint noise floor: sustained, no beat."""
    t = np.arange(round(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((196.3, 246.9, 293.1, 392.7, 197.1)))
    swell = 0.3 + 0.2 * np.sin(2 * np.pi * 0.13 * t)
    noise = np.random.default_rng(1).standard_normal(len(t)) * 0.01
    return (0.1 * tone * swell + noise).astype(np.float32)


@pytest.mark.parametrize(("source", "bpm"), [(166.0, 124.0), (100.0, 124.0), (240.0, 124.0), (70.0, 140.0)])
def test_a_click_track_comes_out_at_the_tempo_with_a_beat_at_the_start(source: float, bpm: float) -> None:
    n = round(2 * 4 * 60 / bpm * SR)
    audio = clicks(source, tf.material_seconds(n / SR, bpm, 60.0), first=0.137)
    out, fit = tf.fit_to_tempo(audio, SR, bpm, n)
    assert len(out) == n
    assert fit.fitted and fit.from_bpm is not None and fit.to_bpm is not None
    # the tracker may hear the clicks' pulse or its half; either way the octave needing the least stretch
    assert min(abs(fit.from_bpm / (source * k) - 1) for k in (0.5, 1, 2)) < 0.01
    assert (fit.to_bpm, fit.ratio) == tf.choose_ratio(fit.from_bpm, bpm)
    starts = attack_times(out)
    assert abs(starts[0]) <= 0.010  # the first beat on the first sample, within 10 ms
    period = float(np.polyfit(np.arange(len(starts)), starts, 1)[0])
    assert min(abs(60.0 / period / (bpm * k) - 1) for k in (0.5, 1, 2)) < 0.01  # at the tempo, its half or double


def test_a_wandering_beat_is_put_on_the_grid_hit_by_hit() -> None:
    """The model's hits wander tens of milliseconds around any straight line: no single ratio puts them on a
    grid, the beat-by-beat warp puts every one on its line."""
    bpm = 124.0
    n = round(2 * 4 * 60 / bpm * SR)
    audio = clicks(150.0, tf.material_seconds(n / SR, bpm, 60.0), first=0.211, jitter=0.015)
    src = attack_times(audio)
    line = np.polyval(np.polyfit(np.arange(len(src)), src, 1), np.arange(len(src)))
    assert np.max(np.abs(src - line)) > 0.01  # the source is off any straight grid
    out, fit = tf.fit_to_tempo(audio, SR, bpm, n)
    assert fit.fitted and fit.to_bpm == bpm and len(out) == n
    starts = attack_times(out)
    assert len(starts) == 8  # two bars of 4/4, one hit a beat
    # every hit the same distance from its line: where it is heard to start is read from a level over 10 ms,
    # which puts an instant attack like these a few milliseconds early, never more than half the window
    off = starts - np.arange(8) * 60 / bpm
    assert np.all((off >= 0) & (off <= 0.006)) and np.ptp(off) <= 0.002


def test_warp_lands_every_anchor_on_its_sample() -> None:
    audio = clicks(150.0, 4.0, first=0.1, jitter=0.02)
    src = np.round(attack_times(audio) * SR).astype(np.int64)[:8]
    dst = np.round(np.arange(len(src)) * 0.45 * SR).astype(np.int64) + 37  # slower, even, and not from 0
    out, origin = tf.warp(audio, SR, src, dst, 0.8, int(dst[-1]) + SR // 2)
    got = attack_times(out[origin:])
    assert len(got) >= len(dst)
    assert np.max(np.abs(got[: len(dst)] - dst / SR)) <= 0.002


def test_the_beat_goes_on_the_louder_of_two_alternating_hits() -> None:
    """A tracker may follow the soft hits of a soft-loud pattern; the clip's beats are the loud ones."""
    period = 0.4
    audio = clicks(60 / period, 6.0, first=0.1, gains=(0.15,), halves=1.0)
    soft = 0.1 + period * np.arange(14)
    idx, pos = tf.accented(audio, SR, np.arange(14), np.round(soft * SR).astype(np.int64))
    assert len(idx) >= 12
    assert np.max(np.abs(pos / SR - (soft[idx] + period / 2))) <= 0.006  # the loud hits' starts (5 ms early)
    loud = clicks(60 / period, 6.0, first=0.1, gains=(1.0,), halves=0.15)  # already on the loud ones: kept
    kept = tf.accented(loud, SR, np.arange(14), np.round(soft * SR).astype(np.int64))
    assert np.array_equal(kept[1], np.round(soft * SR).astype(np.int64))


def test_the_clip_starts_on_the_bar_the_kick_marks() -> None:
    """Hits on every beat, a low thump on every fourth from the third: the clip starts on a thump."""
    bpm = 124.0
    n = round(2 * 4 * 60 / bpm * SR)
    seconds = tf.material_seconds(n / SR, bpm, 60.0)
    audio = clicks(bpm, seconds, first=0.1)
    t = np.arange(len(audio)) / SR
    for k in range(2, int(seconds * bpm / 60), 4):
        at = 0.1 + k * 60 / bpm
        audio += (0.9 * np.sin(2 * np.pi * 55 * (t - at)) * np.exp(-(t - at) / 0.08) * (t >= at)).astype(np.float32)
    out, fit = tf.fit_to_tempo(audio, SR, bpm, n)
    assert fit.fitted and fit.offset_s is not None
    assert abs(fit.offset_s - (0.1 + 2 * 60 / bpm)) <= 0.006
    assert len(out) == n


@pytest.mark.parametrize(("gains", "accent_db"), [((0.35, 1.0), 9.0), ((1.0, 0.35), 9.0), ((0.9, 1.0), 0.9)])
def test_at_double_time_the_requested_beat_falls_on_the_louder_hits(gains: tuple[float, ...], accent_db: float) -> None:
    """Material whose pulse is twice the requested tempo (hits at 176 bpm for a clip at 90): every other hit
    is a beat of the clip, and it is the louder of the two, whichever the material starts on; under 1 dB of
    accent the kick's low band decides, and here the louder hits carry the more of it."""
    bpm, source = 90.0, 176.0
    n = round(2 * 4 * 60 / bpm * SR)
    audio = clicks(source, tf.material_seconds(n / SR, bpm, 60.0), first=0.05, gains=gains)
    out, fit = tf.fit_to_tempo(audio, SR, bpm, n)
    assert fit.fitted and len(out) == n
    lev = tf.level(out, SR)
    half = round(60 / (2 * bpm) * SR)  # the hits between the clip's beats

    def peak_db(starts: range) -> float:
        return float(np.mean([20 * np.log10(lev[s : s + round(0.02 * SR)].max()) for s in starts]))

    on_beats = peak_db(range(0, n - half, 2 * half))
    between = peak_db(range(half, n - half, 2 * half))
    assert on_beats - between > accent_db * 0.6, (on_beats, between)


def test_a_hit_starts_15_db_below_its_peak_passing_over_dips_within_it() -> None:
    t = np.arange(SR) / SR
    rise = 10 ** ((t - 0.54) / 0.04 * 3)  # from silence to the peak at 0.54 s, 60 dB in 40 ms
    envelope = np.where(t < 0.5, 0.0, np.where(t < 0.54, rise, np.exp(-(t - 0.54) / 0.05)))
    audio = (np.sin(2 * np.pi * 1000 * t) * envelope).astype(np.float32)
    start = tf.attack_start(tf.level(audio, SR), round(0.52 * SR), SR)
    assert start is not None and abs(start / SR - 0.530) <= 0.003  # -15 dB is 10 ms before the peak
    below = np.r_[np.ones(100, bool), np.zeros(20, bool), np.ones(3, bool), np.zeros(10, bool)]
    assert tf.rise_start(below, 5, 1000) == 1100  # the 3-sample dip is within the hit
    assert tf.rise_start(np.zeros(10, bool), 5, 0) is None


def test_the_octave_choice_needs_the_smallest_stretch() -> None:
    assert tf.choose_ratio(166.0, 124.0) == (124.0, pytest.approx(124 / 166))
    assert tf.choose_ratio(250.0, 124.0)[0] == 248.0
    assert tf.choose_ratio(65.0, 140.0)[0] == 70.0
    for source in (60.0, 87.0, 124.0, 175.0, 300.0):  # never more than half an octave of stretch
        assert 1 / tf.MAX_STRETCH - 1e-9 <= tf.choose_ratio(source, 124.0)[1] <= tf.MAX_STRETCH + 1e-9


def test_a_pad_without_a_beat_is_left_unstretched_as_a_one_shot() -> None:
    audio = pad(6.0)
    n = round(3.87 * SR)
    out, fit = tf.fit_to_tempo(audio, SR, 124.0, n)
    assert not fit.fitted and fit.ratio is None and fit.clarity < tf.MIN_CLARITY
    assert "no confident beat" in (fit.reason or "")
    assert np.array_equal(out, audio[:n])  # cut, not stretched
    silent, why = tf.fit_to_tempo(np.zeros(SR * 4, np.float32), SR, 124.0, SR)
    assert not why.fitted and len(silent) == SR and "silent" in (why.reason or "")


def test_a_fitted_loop_closes_and_the_material_covers_the_largest_stretch() -> None:
    bpm = 124.0
    n = round(2 * 4 * 60 / bpm * SR)
    audio = clicks(100.0, tf.material_seconds(n / SR, bpm, 60.0), first=0.05)
    out, fit = tf.fit_to_tempo(audio, SR, bpm, n, loop=True)
    assert fit.fitted and len(out) == n
    wrapped = np.r_[out[-50:], out[:50]]  # across the seam: no step larger than inside the clip
    assert np.max(np.abs(np.diff(wrapped))) <= np.max(np.abs(np.diff(out))) + 1e-6
    seconds = 4.0
    made = tf.material_seconds(seconds, bpm, 60.0)
    # slowed by sqrt 2, the material still holds the lead-in the downbeat is chosen in, the clip and the crossfade
    assert made / tf.MAX_STRETCH >= seconds + tf.LEAD_BEATS * 60 / bpm + tf.LOOP_CROSSFADE_S
    assert tf.material_seconds(50.0, bpm, 60.0) == 60.0 and tf.material_seconds(60.0, bpm, 60.0) == 60.0


def test_the_one_shot_acid_chunk_has_no_tempo_and_no_loop(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "one.wav"
    sf.write(path, np.zeros(1000, np.float32), 48000, subtype="FLOAT")
    path.write_bytes(with_tempo_chunks(path.read_bytes(), bpm=None, beats=8))
    info = read_tempo_chunks(path)
    assert info.loop is False and info.bpm is None and info.stretch is False
    assert "smpl" not in info.chunks and info.beats == 8
    assert np.array_equal(sf.read(path, dtype="float32")[0], np.zeros(1000, np.float32))


def test_fit_off_is_the_clip_made_before_fitting(tiny_engine: Engine) -> None:
    """A clip at a tempo with fit off is the same as one of the same length in seconds, bit for bit: the
    engine's output without fitting is what it was."""
    tempo = tiny_engine.generate(GenerateRequest("a drum loop", bpm=128, bars=1, steps=2, seed=9, fit=False))
    plain = tiny_engine.generate(GenerateRequest("a drum loop", duration=1.875, steps=2, seed=9))
    assert np.array_equal(tempo.audio, plain.audio)
    assert tempo.tempo_fit is None


@pytest.mark.parametrize("threshold", [-1.0, 2.0], ids=["fitted", "one-shot"])
def test_render_at_a_tempo_records_the_fit_and_tags_the_wav(
    tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: float
) -> None:
    monkeypatch.setattr(tf, "MIN_CLARITY", threshold)  # the tiny model's noise: force either outcome
    req = GenerateRequest("a drum loop", bpm=120, bars=1, steps=2, seed=4, sample_rate=44100, fit=True)
    result = tiny_engine.render(req, tmp_path / "clip.wav")
    side = json.loads(result.sidecar.read_text())
    assert side["request"]["fit"] is True
    assert side["samples"] == round(2.0 * 44100) == len(result.clip.audio)
    record = side["tempo_fit"]
    info = read_tempo_chunks(result.path)
    if threshold < 0:
        assert record["fitted"] is True and record["bpm"] == 120
        assert {"from_bpm", "to_bpm", "ratio", "offset_s", "clarity"} <= set(record)
        assert math.isclose(record["ratio"], record["to_bpm"] / record["from_bpm"], rel_tol=1e-5)
        assert (info.bpm, info.stretch, info.beats) == (120.0, True, 4)  # a tempo a DAW warps by
    else:
        assert record["fitted"] is False and "no confident beat" in record["reason"]
        assert (info.bpm, info.loop, info.stretch) == (None, False, False)
    again = tiny_engine.render(tiny_engine.request_from_sidecar(result.sidecar), tmp_path / "again.wav")
    assert np.array_equal(again.clip.audio, result.clip.audio)  # regenerate is bit-exact
    assert json.loads(again.sidecar.read_text())["tempo_fit"] == record


def test_a_sidecar_from_before_fitting_reads_as_fit_off() -> None:
    data = GenerateRequest("a drum loop", bpm=120, bars=2, seed=1, fit=True).to_dict()
    assert data["fit"] is True
    del data["fit"]
    assert GenerateRequest.from_dict(data).fit is False
    flat = {"mode": "generate", "prompt": "x", "bpm": 120, "bars": 2, "duration": 4.0, "seed": 1}
    assert GenerateRequest.from_dict(flat).fit is False
    inpaint = GenerateRequest.from_dict(
        {"source": {"mode": "inpaint", "input_path": "a.wav", "start": 0.0, "end": 1.0, "prompt": None}, "seed": 1}
    )
    assert inpaint.fit is PARAMS["fit"].default  # not a tempo mode: the field keeps its default, meaning nothing


def test_the_command_line_fits_by_default_and_not_with_no_fit(tiny_model_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    assert GenerateRequest("a drum loop", bpm=120, bars=1).fit is True  # the Python API's default too
    env = dict(os.environ, HF_HUB_OFFLINE="1", AUDIOLDM_DAW_CLIPS=str(tmp_path / "clips"))
    base = [sys.executable, "-m", "audioldm_daw.bridge.cli", "generate", "a drum loop", "--model", str(tiny_model_dir)]
    base += ["--bpm", "120", "--bars", "1", "--steps", "2", "--seed", "3"]
    for extra, name in (([], "on.wav"), (["--no-fit"], "off.wav")):
        r = subprocess.run(
            [*base, *extra, "--out", str(tmp_path / name)], capture_output=True, text=True, env=env, timeout=300
        )
        assert r.returncode == 0, r.stderr
    on = json.loads((tmp_path / "on.json").read_text())
    off = json.loads((tmp_path / "off.json").read_text())
    assert on["request"]["fit"] is True and "fitted" in on["tempo_fit"]
    assert off["request"]["fit"] is False and "tempo_fit" not in off
    assert on["samples"] == off["samples"] == 96000
