"""The edits keep the take: inpaint, continue and upsample return the input's own samples outside what they
change, at its rate, channel count, level and sample format, on realistic material made here (stereo takes at
44.1 and 48 kHz, a drum loop, a sustained tone, a three-minute take; PCM_16, PCM_24 and FLOAT)."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.engine import Engine, InvalidRequest, plans
from audioldm_daw.engine.errors import InputAudioError
from audioldm_daw.engine.output import resample
from audioldm_daw.engine.request import GenerateRequest, build_request
from audioldm_daw.engine.takes import Joiner, matched_crossfade, resampled_range

INT_DTYPE = {"PCM_16": "int16", "PCM_24": "int32", "FLOAT": "float32"}


def drum_loop(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Stereo kick, snare and hats at 120 bpm: sharp attacks, noise, silence between hits."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros((n, 2))
    beat = sr // 2
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.standard_normal(len(t)) * np.exp(-t * 25) * 0.5
    hat = rng.standard_normal(len(t) // 4) * np.exp(-np.arange(len(t) // 4) / sr * 120) * 0.2
    for i, start in enumerate(range(0, n, beat // 2)):
        if i % 4 == 0:
            seg, pan = kick, (0.8, 0.8)
        elif i % 4 == 2:
            seg, pan = snare, (0.5, 0.7)
        else:
            seg, pan = hat, (0.3, 0.15)
        m = min(len(seg), n - start)
        out[start : start + m] += seg[:m, None] * np.array(pan)[None, :]
    return (0.7 * out / np.abs(out).max()).astype(np.float32)


def sustained_tone(seconds: float, sr: int, channels: int = 2) -> np.ndarray:
    """A pad: three partials with slow vibrato, the right channel quieter and phase-shifted."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(
        a * np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 5 * t))
        for a, f in ((0.3, 220), (0.1, 440), (0.05, 660))
    )
    y = sum(a * np.sin(2 * np.pi * f * t + 0.7) for a, f in ((0.2, 220), (0.08, 440)))
    return np.stack([x, y][:channels], axis=1).astype(np.float32)


def _write(path: Path, audio: np.ndarray, sr: int, subtype: str) -> Path:
    sf.write(path, audio, sr, subtype=subtype)
    return path


def _exact(path: Path, subtype: str) -> np.ndarray:
    """The file's samples as stored (integers for PCM), always 2-D."""
    return sf.read(str(path), dtype=INT_DTYPE[subtype], always_2d=True)[0]


def _req(mode: str, path: Path, **kw) -> GenerateRequest:
    return build_request(mode, {"input_path": str(path), "steps": 3, "seed": 4, **kw})


def _rms_db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(np.square(x.astype(np.float64)), axis=0) + 1e-20)


@pytest.mark.parametrize(
    ("material", "sr", "subtype", "start", "end"),
    [
        ("drums", 44100, "PCM_24", 1.3, 2.1),
        ("tone", 48000, "PCM_16", 2.0, 2.5),
        ("drums", 48000, "FLOAT", 0.9, 1.7),
    ],
)
def test_inpaint_keeps_every_sample_outside_the_span(
    tiny_engine: Engine, tmp_path: Path, material: str, sr: int, subtype: str, start: float, end: float
) -> None:
    audio = drum_loop(4.0, sr) if material == "drums" else sustained_tone(4.0, sr)
    take = _write(tmp_path / f"take.{'flac' if subtype == 'PCM_16' else 'wav'}", audio, sr, subtype)
    result = tiny_engine.render(_req("inpaint", take, start=start, end=end), tmp_path / "out.wav")
    info = sf.info(str(result.path))
    assert (info.samplerate, info.channels, info.subtype) == (sr, 2, subtype)
    before, after = _exact(take, subtype), _exact(result.path, subtype)
    assert after.shape == before.shape
    s0, s1 = round(start * sr), round(end * sr)
    np.testing.assert_array_equal(after[:s0], before[:s0])  # sample for sample, both channels
    np.testing.assert_array_equal(after[s1:], before[s1:])
    xf = round(0.020 * sr)  # the default crossfade: inside the span
    middle = slice(s0 + xf, s1 - xf)
    assert not np.array_equal(after[middle], before[middle])  # the span is new audio
    # the crossfades lie inside: the span's first and last samples are already mixed toward the new audio
    assert np.any(after[s0 : s0 + xf] != before[s0 : s0 + xf])
    # level match: the new audio's RMS is that of the take just outside the span, in each channel
    got = sf.read(str(result.path), dtype="float32", always_2d=True)[0]
    around = np.concatenate([got[s0 - sr // 2 : s0], got[s1 : s1 + sr // 2]])
    np.testing.assert_allclose(_rms_db(got[middle]), _rms_db(around), atol=1.0)


def test_the_crossfade_is_a_parameter_and_stays_inside(tiny_engine: Engine, tmp_path: Path) -> None:
    sr = 44100
    take = _write(tmp_path / "pad.wav", sustained_tone(3.0, sr), sr, "PCM_24")
    base = {"start": 1.0, "end": 2.0}
    hard = _exact(tiny_engine.render(_req("inpaint", take, crossfade_ms=0, **base), tmp_path / "a.wav").path, "PCM_24")
    soft = _exact(
        tiny_engine.render(_req("inpaint", take, crossfade_ms=100, **base), tmp_path / "b.wav").path, "PCM_24"
    )
    before = _exact(take, "PCM_24")
    s0, s1, xf = sr, 2 * sr, round(0.1 * sr)
    for out in (hard, soft):
        np.testing.assert_array_equal(out[:s0], before[:s0])
        np.testing.assert_array_equal(out[s1:], before[s1:])
    np.testing.assert_array_equal(hard[s0 + xf : s1 - xf], soft[s0 + xf : s1 - xf])  # same new audio past the fades
    assert not np.array_equal(hard[s0 : s0 + xf], soft[s0 : s0 + xf])  # which differ only inside the span
    with pytest.raises(InvalidRequest, match=r"crossfade_ms: expected a number in 0\.\.1000"):
        _req("inpaint", take, crossfade_ms=5000, **base)


def test_another_rate_is_the_take_resampled_and_otherwise_untouched(tiny_engine: Engine, tmp_path: Path) -> None:
    take = _write(tmp_path / "take.wav", drum_loop(3.0, 44100), 44100, "FLOAT")
    result = tiny_engine.render(_req("inpaint", take, start=1.0, end=1.5, sample_rate=48000), tmp_path / "o.wav")
    out, sr = sf.read(str(result.path), dtype="float32", always_2d=True)
    assert sr == 48000
    x = sf.read(str(take), dtype="float32", always_2d=True)[0]
    ref = np.stack([resample(c, 44100, 48000) for c in x.T], axis=1)
    np.testing.assert_array_equal(out[:48000], ref[:48000])
    np.testing.assert_array_equal(out[72000:], ref[72000:])


def test_continue_starts_with_the_whole_take(tiny_engine: Engine, tmp_path: Path) -> None:
    sr = 48000
    take = _write(tmp_path / "loop.wav", drum_loop(3.0, sr), sr, "PCM_16")
    result = tiny_engine.render(_req("continue", take, seconds=1.5), tmp_path / "c.wav")
    before, after = _exact(take, "PCM_16"), _exact(result.path, "PCM_16")
    assert after.shape == (len(before) + round(1.5 * sr), 2)
    assert sf.info(str(result.path)).subtype == "PCM_16"
    np.testing.assert_array_equal(after[: len(before)], before)
    # the join: the first new sample continues the take's last one (the crossfade starts from its mirror)
    step = np.abs(after[len(before)].astype(np.int64) - before[-1].astype(np.int64))
    assert np.all(step <= np.abs(np.diff(before.astype(np.int64), axis=0)).max(axis=0))
    side = json.loads(result.sidecar.read_text())
    assert side["input"]["span"] == [pytest.approx(3.0), pytest.approx(4.5)]


def _lsd_db(a: np.ndarray, b: np.ndarray, sr: int, top_hz: float) -> float:
    """Log-spectral distance (dB) of two signals below ``top_hz``, over 2048-sample frames."""
    n = 2048
    frames = len(a) // n
    fa = np.abs(np.fft.rfft(a[: frames * n].reshape(frames, n) * np.hanning(n), axis=1)) ** 2
    fb = np.abs(np.fft.rfft(b[: frames * n].reshape(frames, n) * np.hanning(n), axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1 / sr)
    band = (f > 30) & (f < top_hz)
    d = 10 * np.log10((fa[:, band] + 1e-12) / (fb[:, band] + 1e-12))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=1))))


def test_upsample_keeps_the_band_the_take_had(tiny_engine: Engine, tmp_path: Path) -> None:
    sr = 44100
    x = drum_loop(3.0, sr) + sustained_tone(3.0, sr)
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / sr) > 3000] = 0  # a 3 kHz band limit, as an old recording has
    band_limited = np.fft.irfft(spec, len(x), axis=0).astype(np.float32)
    take = _write(tmp_path / "old.wav", band_limited, sr, "FLOAT")
    result = tiny_engine.render(_req("upsample", take, prompt="crisp drums"), tmp_path / "u.wav")
    cutoff = result.clip.request.source.cutoff_hz
    assert cutoff == pytest.approx(3000, rel=0.1)
    out, rate = sf.read(str(result.path), dtype="float32", always_2d=True)
    assert (rate, out.shape) == (sr, band_limited.shape)
    for c in range(2):  # below the crossover: the take itself, per channel
        assert _lsd_db(out[:, c], band_limited[:, c], sr, cutoff * 0.95) < 0.1
    f = np.fft.rfftfreq(len(out), 1 / sr)
    new_band = (f > cutoff * 1.2) & (f < 7000)
    above = np.fft.rfft(out, axis=0)[new_band]
    assert np.linalg.norm(above) > 100 * np.linalg.norm(np.fft.rfft(band_limited, axis=0)[new_band])


def test_variation_takes_the_input_length(tiny_engine: Engine, tmp_path: Path) -> None:
    take = _write(tmp_path / "six.wav", sustained_tone(1.3, 16000, 1), 16000, "PCM_16")
    clip = tiny_engine.generate(build_request("variation", {"input_path": str(take), "steps": 2, "seed": 1}))
    assert clip.seconds == pytest.approx(1.3, abs=1e-3)
    clip = tiny_engine.generate(_req("transfer", take, prompt="a choir"))
    assert clip.seconds == pytest.approx(1.3, abs=1e-3)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (1.0, 2.5, r"end_s: 2\.5 is past the input's end \(2\.000 s\)"),
        (1.0, 1.01, r"end_s: the span start_s\.\.end_s is 10\.0 ms long, shorter than one latent cell"),
        (0.0, 2.0, r"covers the whole input .* use transfer"),
    ],
)
def test_bad_spans_are_refused_at_the_door(
    tiny_engine: Engine, tmp_path: Path, start: float, end: float, match: str
) -> None:
    take = _write(tmp_path / "t.wav", sustained_tone(2.0, 16000, 1), 16000, "PCM_16")
    with pytest.raises(InvalidRequest) as caught:
        tiny_engine.check(_req("inpaint", take, start=start, end=end))
    assert re.search(match, caught.value.message(lambda f: {"start": "start_s", "end": "end_s"}.get(f, f)))


def test_sidecar_records_the_take_and_recalls_exactly(tiny_engine: Engine, tmp_path: Path) -> None:
    import hashlib

    take = _write(tmp_path / "t.wav", drum_loop(2.0, 48000), 48000, "PCM_24")
    first = tiny_engine.render(_req("inpaint", take, start=0.5, end=1.0), tmp_path / "one.wav")
    side = json.loads(first.sidecar.read_text())
    assert side["input"]["sha256"] == hashlib.sha256(take.read_bytes()).hexdigest()
    assert side["input"]["span"] == [0.5, 1.0]
    again = tiny_engine.render(tiny_engine.request_from_sidecar(first.sidecar), tmp_path / "two.wav")
    np.testing.assert_array_equal(_exact(first.path, "PCM_24"), _exact(again.path, "PCM_24"))


def test_a_three_minute_take_is_edited_in_a_window(
    tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 44.1 kHz PCM_16 stereo take of drums and a pad, three minutes: every sample outside the span is the
    take's (the model's window is narrowed here to keep the test short; its size does not touch the take)."""
    monkeypatch.setattr(plans, "CONTEXT_S", 2.0)
    sr = 44100
    take = tmp_path / "long.wav"
    with sf.SoundFile(str(take), "w", sr, 2, subtype="PCM_16") as f:
        for i in range(45):  # three minutes of the drum loop and the pad, written in pieces
            f.write(0.5 * drum_loop(4.0, sr, seed=i) + 0.5 * sustained_tone(4.0, sr))
    result = tiny_engine.render(_req("inpaint", take, start=100.0, end=104.0, steps=2), tmp_path / "o.wav")
    before, after = _exact(take, "PCM_16"), _exact(result.path, "PCM_16")
    s0, s1 = 100 * sr, 104 * sr
    np.testing.assert_array_equal(after[:s0], before[:s0])
    np.testing.assert_array_equal(after[s1:], before[s1:])
    assert not np.array_equal(after[s0:s1], before[s0:s1])


def test_takes_longer_than_twenty_minutes_are_refused(tiny_engine: Engine, tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    with sf.SoundFile(str(long), "w", 8000, 1, subtype="PCM_16") as f:
        for _ in range(121):
            f.write(np.full(80000, 1000, dtype=np.int16))  # 121 x 10 s
    with pytest.raises(InputAudioError, match=r"is 20\.2 minutes long, expected at most 20 minutes"):
        tiny_engine.check(_req("inpaint", long, start=1.0, end=2.0))


# -- long takes: the take's own samples are streamed, the window is all that is held -------------------------------
def _long_take(path: Path, seconds: int, sr: int, subtype: str, material: str) -> Path:
    """A stereo take of ``seconds`` written in 4 s pieces (no whole-take array here)."""
    with sf.SoundFile(str(path), "w", sr, 2, subtype=subtype) as f:
        for i in range(seconds // 4):
            piece = drum_loop(4.0, sr, seed=i) if material == "drums" else sustained_tone(4.0, sr)
            f.write(0.9 * piece)
    return path


def test_a_three_minute_continue_starts_with_every_sample_of_the_take(
    tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 48 kHz PCM_24 stereo pad of three minutes: the whole take comes first, sample for sample; the model
    hears only its end (the window is narrowed here to keep the test short; its size does not touch the take)."""
    monkeypatch.setattr(plans, "CONTEXT_S", 2.0)
    sr = 48000
    take = _long_take(tmp_path / "pad.wav", 180, sr, "PCM_24", "tone")
    result = tiny_engine.render(_req("continue", take, seconds=1.0, steps=2), tmp_path / "c.wav")
    before, after = _exact(take, "PCM_24"), _exact(result.path, "PCM_24")
    assert after.shape == (len(before) + sr, 2)
    np.testing.assert_array_equal(after[: len(before)], before)
    assert np.all(np.abs(after[len(before) :]).max(axis=0) > 0)  # the continuation is in both channels


def test_a_long_take_at_another_rate_is_streamed_through_the_resampler(
    tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 48 kHz drum take of 100 s delivered at 44.1 kHz: outside the span, the take through the engine's
    resampler (computed in blocks: equal to resampling it whole, to float rounding where the rate goes down)."""
    monkeypatch.setattr(plans, "CONTEXT_S", 2.0)
    take = _long_take(tmp_path / "drums.wav", 100, 48000, "PCM_16", "drums")
    result = tiny_engine.render(
        _req("inpaint", take, start=50.0, end=51.0, sample_rate=44100, sample_format="float32", steps=2),
        tmp_path / "o.wav",
    )
    out, rate = sf.read(str(result.path), dtype="float32", always_2d=True)
    x = sf.read(str(take), dtype="float32", always_2d=True)[0]
    ref = np.stack([resample(c, 48000, 44100) for c in x.T], axis=1)
    assert rate == 44100 and out.shape == ref.shape
    s0, s1 = 50 * 44100, 51 * 44100
    np.testing.assert_allclose(out[:s0], ref[:s0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[s1:], ref[s1:], rtol=0, atol=1e-6)
    assert not np.allclose(out[s0:s1], ref[s0:s1], atol=1e-3)


def test_a_long_take_is_never_held_whole(tiny_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The take's samples go from its file to the result in blocks: what numpy allocates over a whole render of an
    inpaint in a three-minute take stays far below the take's size as float32."""
    monkeypatch.setattr(plans, "CONTEXT_S", 1.0)
    sr = 44100
    take = _long_take(tmp_path / "long.wav", 180, sr, "PCM_16", "drums")
    whole = 180 * sr * 2 * 4  # the take as float32
    tracemalloc.start()
    try:
        tiny_engine.render(_req("inpaint", take, start=90.0, end=91.0, steps=2), tmp_path / "o.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole / 4, (peak, whole)
    np.testing.assert_array_equal(_exact(tmp_path / "o.wav", "PCM_16")[: 90 * sr], _exact(take, "PCM_16")[: 90 * sr])


# -- any channel count ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 2, 4])
def test_every_channel_is_kept_and_the_new_audio_is_in_each(tiny_engine: Engine, tmp_path: Path, channels: int) -> None:
    """Mono, stereo and a four-channel take: outside the span (and before a continuation) every channel is the
    take's own; inside, the one new mono part is in every channel, at that channel's level."""
    sr = 48000
    pad = sustained_tone(3.0, sr)
    audio = np.stack([pad[:, c % 2] * (0.3 - 0.05 * c) for c in range(channels)], axis=1)  # no new peak clips
    take = _write(tmp_path / "multi.wav", audio, sr, "PCM_24")
    result = tiny_engine.render(_req("inpaint", take, start=1.0, end=2.0, steps=2), tmp_path / "i.wav")
    before, after = _exact(take, "PCM_24"), _exact(result.path, "PCM_24")
    assert after.shape == before.shape == (3 * sr, channels)
    s0, s1, xf = sr, 2 * sr, round(0.020 * sr)
    np.testing.assert_array_equal(after[:s0], before[:s0])
    np.testing.assert_array_equal(after[s1:], before[s1:])
    inside = after[s0 + xf : s1 - xf].astype(np.float64)
    for c in range(channels):  # one new part in each channel: every channel is a multiple of the first
        assert not np.array_equal(after[s0 + xf : s1 - xf, c], before[s0 + xf : s1 - xf, c])
        ratio = float(np.dot(inside[:, c], inside[:, 0]) / np.dot(inside[:, 0], inside[:, 0]))
        np.testing.assert_allclose(inside[:, c], ratio * inside[:, 0], atol=2 * 256)  # to 24-bit steps (in int32)
    result = tiny_engine.render(_req("continue", take, seconds=0.5, steps=2), tmp_path / "c.wav")
    after = _exact(result.path, "PCM_24")
    assert after.shape == (3 * sr + sr // 2, channels)
    np.testing.assert_array_equal(after[: 3 * sr], before)
    assert np.all(np.abs(after[3 * sr + round(0.05 * sr) :]).max(axis=0) > 0)


# -- transfer, variation and upsample of long inputs: overlapping windows joined without seams ----------------------
def _joins(engine: Engine, seconds: float, rate: int) -> list[tuple[int, int]]:
    """Where each window takes over from the one before in a clip of ``seconds`` at ``rate``: the crossfades."""
    g = engine.model.geometry
    lay = plans.Layout.of(g, seconds)
    to_rate = g.samples_per_cell * rate / g.sample_rate
    size, overlap = round(lay.size * to_rate), round(lay.overlap * to_rate)
    margin = min(round(plans.WINDOW_MARGIN_S * rate), (overlap - 1) // 2)
    ends = [round(s * to_rate) + size for s in lay.starts[:-1]]
    return [(end - overlap + margin, end - margin) for end in ends]


def _seams(x: np.ndarray, joins: list[tuple[int, int]], rate: int) -> list[tuple[float, float, float]]:
    """Per join: the level step (dB) between the crossfade's halves, worst channel; the crossfade's level against
    the mean of its halves (a dip or a bump, dB); and the largest sample step within 5 ms of its start, middle and
    end against the clip's median of the largest step per 10 ms (a click stands out of every stretch's largest)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    steps = np.abs(np.diff(x, axis=0))
    n = round(0.005 * rate)
    per_stretch = steps[: len(steps) // (2 * n) * (2 * n)].reshape(-1, 2 * n, x.shape[1]).max(axis=1)
    median = np.median(per_stretch, axis=0)
    out = []
    for x0, x1 in joins:
        mid = (x0 + x1) // 2
        first, second, whole = _rms_db(x[x0:mid]), _rms_db(x[mid:x1]), _rms_db(x[x0:x1])
        click = max(float(np.max(steps[p - n : p + n].max(axis=0) / median)) for p in (x0, mid, x1))
        out.append((float(np.max(np.abs(second - first))), float(np.max(np.abs(whole - (first + second) / 2))), click))
    return out


@pytest.fixture()
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs longer than 3 s in windows of 6 s overlapping by 2 s (1 s crossfades): the joins of a long input
    in a test's time; the defaults (60 s, 20 s windows) are checked by test_the_default_windows_cover_a_take."""
    monkeypatch.setattr(plans, "WINDOWED_ABOVE_S", 3.0)
    monkeypatch.setattr(plans, "WINDOW_S", 6.0)
    monkeypatch.setattr(plans, "WINDOW_OVERLAP_S", 2.0)
    monkeypatch.setattr(plans, "WINDOW_MARGIN_S", 0.5)


def test_a_long_transfer_is_joined_without_seams_and_recalls_exactly(
    tiny_engine: Engine, tmp_path: Path, small_windows: None
) -> None:
    sr, seconds = 48000, 15.0
    take = _write(tmp_path / "pad.wav", sustained_tone(seconds, sr), sr, "PCM_24")
    steps: list[tuple[int, int]] = []
    request = _req("transfer", take, prompt="a choir", strength=0.3, guidance=1.0)
    result = tiny_engine.render(request, tmp_path / "t.wav", progress=lambda d, n: steps.append((d, n)))
    out, rate = sf.read(str(result.path), dtype="float32")
    assert (rate, out.shape) == (48000, (round(seconds * 48000),))  # the input's length, mono
    joins = _joins(tiny_engine, seconds, rate)
    assert len(joins) == 3
    for step, dip, click in _seams(out, joins, rate):
        assert step < 1.0 and dip < 1.0 and click < 3.0, (step, dip, click)
    assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == sorted(d for d, _ in steps)
    again = tiny_engine.render(tiny_engine.request_from_sidecar(result.sidecar), tmp_path / "again.wav")
    np.testing.assert_array_equal(sf.read(str(again.path), dtype="float32")[0], out)


def test_a_long_variation_takes_the_input_length_and_joins_without_clicks(
    tiny_engine: Engine, tmp_path: Path, small_windows: None
) -> None:
    """Every window of a variation follows its own passage of the take, so the level may move from one to the
    next as the music does: the crossfades keep the level (no dip) and click nowhere."""
    sr, seconds = 44100, 13.0
    take = _write(tmp_path / "drums.wav", drum_loop(seconds, sr), sr, "PCM_16")
    result = tiny_engine.render(
        build_request("variation", {"input_path": str(take), "steps": 2, "seed": 2}), tmp_path / "v.wav"
    )
    out, rate = sf.read(str(result.path), dtype="float32")
    assert out.shape == (round(seconds * rate),)
    for _step, dip, click in _seams(out, _joins(tiny_engine, seconds, rate), rate):
        assert dip < 1.0 and click < 3.0, (dip, click)
    again = tiny_engine.render(tiny_engine.request_from_sidecar(result.sidecar), tmp_path / "again.wav")
    np.testing.assert_array_equal(sf.read(str(again.path), dtype="float32")[0], out)


def test_a_long_upsample_keeps_the_band_across_the_joins(
    tiny_engine: Engine, tmp_path: Path, small_windows: None
) -> None:
    sr, seconds = 44100, 13.0
    x = drum_loop(seconds, sr) + sustained_tone(seconds, sr)
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / sr) > 3000] = 0
    band_limited = np.fft.irfft(spec, len(x), axis=0).astype(np.float32)
    take = _write(tmp_path / "old.wav", band_limited, sr, "FLOAT")
    result = tiny_engine.render(_req("upsample", take, prompt="crisp drums", steps=2), tmp_path / "u.wav")
    cutoff = result.clip.request.source.cutoff_hz
    assert cutoff == pytest.approx(3000, rel=0.1)
    out, rate = sf.read(str(result.path), dtype="float32", always_2d=True)
    assert (rate, out.shape, sf.info(str(result.path)).subtype) == (sr, band_limited.shape, "FLOAT")
    for c in range(2):  # below the crossover the take passes, across every join
        assert _lsd_db(out[:, c], band_limited[:, c], sr, cutoff * 0.95) < 0.1
    added = out.astype(np.float64) - band_limited
    f = np.fft.rfftfreq(len(out), 1 / sr)
    assert np.linalg.norm(np.fft.rfft(added, axis=0)[(f > cutoff * 1.2) & (f < 7000)]) > 0
    joins = _joins(tiny_engine, seconds, rate)
    ours, the_takes = _seams(out, joins, rate), _seams(band_limited, joins, rate)
    for (step, dip, _), (take_step, _, _) in zip(ours, the_takes, strict=True):
        assert abs(step - take_step) < 1.0 and dip < 1.0, (step, take_step, dip)
    for _, _, click in _seams(added, joins, rate):  # what the upsample adds clicks at no join either
        assert click < 3.0


def test_the_default_windows_cover_a_take(tiny_engine: Engine, tmp_path: Path) -> None:
    """Past 60 s an input is heard in 20 s windows overlapping by at least 2 s, ending with it; such an input is
    accepted at the door by every mode, up to 20 minutes, and a looping variation of one is refused in words."""
    g = tiny_engine.model.geometry
    for seconds in (60.5, 180.0, 1200.0):
        lay = plans.Layout.of(g, seconds)
        starts = np.array(lay.starts)
        assert starts[0] == 0 and starts[-1] + lay.size == lay.cells == g.cells(seconds)
        assert lay.size == g.cells(plans.WINDOW_S) and np.all(lay.size - np.diff(starts) >= g.cells(2.0))
    long = tmp_path / "long.wav"
    with sf.SoundFile(str(long), "w", 8000, 1, subtype="PCM_16") as f:
        for _ in range(18):
            f.write((1000 * np.sin(np.arange(80000) / 8)).astype(np.int16))  # 18 x 10 s
    for mode, kw in (("transfer", {"prompt": "x"}), ("variation", {}), ("upsample", {})):
        tiny_engine.check(_req(mode, long, **kw))
    with pytest.raises(InvalidRequest, match=r"loop: a looping variation is made in one piece.*give a duration"):
        tiny_engine.check(build_request("variation", {"input_path": str(long), "loop": True}))


# -- the pieces: the join, the crossfade, the resampler in blocks ---------------------------------------------------
def test_windows_of_one_signal_join_back_into_it() -> None:
    """Windows cut from one signal (each at its own gain, as models make windows at slightly different levels)
    join back into that signal: the gains are matched where they overlap and the crossfade is linear there."""
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((10_000, 2))
    starts, length = [0, 3000, 6000, 7000], 3000 + 1000
    got: list[tuple[int, np.ndarray]] = []
    joiner = Joiner(starts, length, len(signal), 1000, 100, lambda at, a: got.append((at, a)))
    for i, s in enumerate(starts):
        joiner.add(i, signal[s : s + length])
    assert [at for at, _ in got] == [0, 3100, 6100, 9100] and sum(len(a) for _, a in got) == len(signal)
    np.testing.assert_allclose(np.concatenate([a for _, a in got]), signal, atol=1e-12)


def test_unrelated_windows_join_without_a_step_a_dip_or_a_click() -> None:
    """Windows of unrelated noise, each 4 dB louder or softer than the one before: at every join the level steps
    by less than 1 dB, the crossfade keeps the power (equal-power for unrelated audio) and nothing clicks."""
    rate = 8000
    rng = np.random.default_rng(1)
    starts, length, total = [0, 16000, 32000, 48000], 20000, 68000
    joined: list[np.ndarray] = []
    joiner = Joiner(starts, length, total, 4000, 1000, lambda at, a: joined.append(a))
    for i in range(len(starts)):
        joiner.add(i, rng.standard_normal((length, 1)) * 10 ** ((-4 if i % 2 else 4) / 20))
    out = np.concatenate(joined)
    joins = [(s + length - 4000 + 1000, s + length - 1000) for s in starts[:-1]]
    for step, dip, click in _seams(out, joins, rate):
        assert step < 1.0 and dip < 1.0 and click < 3.0, (step, dip, click)
    fade_in, fade_out = matched_crossfade(101, np.array([0.0, 0.5, 1.0]))
    power = fade_in**2 + fade_out**2 + 2 * np.array([0.0, 0.5, 1.0]) * fade_in * fade_out
    np.testing.assert_allclose(power, 1.0, atol=1e-12)  # the level kept whatever the two have in common
    np.testing.assert_allclose(fade_in[:, 2], (np.arange(101) + 0.5) / 101)  # identical audio: a linear fade


@pytest.mark.parametrize(
    ("sr_in", "sr_out", "exact"), [(44100, 48000, True), (16000, 48000, True), (48000, 44100, False)]
)
def test_the_resampler_in_blocks_gives_the_whole_takes_samples(sr_in: int, sr_out: int, exact: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((sr_in * 3 + 17, 2)).astype(np.float32)
    whole = np.stack([resample(c, sr_in, sr_out) for c in x.T], axis=1)
    n = len(whole)
    for start, stop in ((0, 1000), (12345, 23456), (n - 5000, n), (n - 100, n + 50)):
        part = resampled_range(lambda a, k: x[a : a + k], len(x), sr_in, sr_out, start, stop)
        if exact:
            np.testing.assert_array_equal(part, whole[start:stop])
        else:
            np.testing.assert_allclose(part, whole[start:stop], rtol=0, atol=1e-6)
