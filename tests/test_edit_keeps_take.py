"""The edits keep the take: inpaint, continue and upsample return the input's own samples outside what they
change, at its rate, channel count, level and sample format, on realistic material made here (stereo takes at
44.1 and 48 kHz, a drum loop, a sustained tone, a three-minute take; PCM_16, PCM_24 and FLOAT)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.engine import Engine, InvalidRequest
from audioldm_daw.engine.errors import InputAudioError
from audioldm_daw.engine.output import resample
from audioldm_daw.engine.request import GenerateRequest, build_request

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


def test_a_three_minute_take_is_edited_in_a_window(tiny_engine: Engine, tmp_path: Path) -> None:
    sr = 44100
    take = tmp_path / "long.wav"
    with sf.SoundFile(str(take), "w", sr, 2, subtype="PCM_16") as f:
        for i in range(45):  # three minutes of the drum loop and the pad, written in pieces
            f.write(0.5 * drum_loop(4.0, sr, seed=i) + 0.5 * sustained_tone(4.0, sr))
    result = tiny_engine.render(_req("inpaint", take, start=100.0, end=104.0), tmp_path / "o.wav")
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
