"""The bandwidth extension (engine/bandwidth.py): a clip delivered above 16 kHz gets the band above the model's
8 kHz, the band below the crossover stays as it was, the same seed gives the same samples, one option turns it off,
the sidecar records it and ``regenerate`` repeats it bit for bit.

The stage itself is tested on audio made here (harmonic tones and noise bursts, band-limited the way a model's
clip is); the tiny random models check the plumbing through every door that makes model audio.
"""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from audioldm_daw.engine import Engine, GenerateRequest, Upsample
from audioldm_daw.engine import bandwidth as bw
from audioldm_daw.engine.output import resample

ROOT = Path(__file__).resolve().parent.parent
SR = 48000


def full_band_sound(seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    """Plucked harmonic notes (partials up to the Nyquist frequency, falling as k^-1.5) and decaying noise bursts
    (falling 6 dB an octave above 4 kHz) every quarter second: the kind of band a recording has above 8 kHz."""
    return _sound(seconds, sr).copy()


@functools.lru_cache(maxsize=4)
def _sound(seconds: float, sr: int) -> np.ndarray:
    from scipy.signal import lfilter

    t = np.arange(round(seconds * sr)) / sr
    y = np.zeros_like(t)
    for i, f0 in enumerate((196.0, 293.7, 440.0, 261.6)):
        start = i * seconds / 4
        env = np.where(t >= start, np.exp(-(t - start) * 3.0), 0.0)
        ks = np.arange(1, int(sr / 2 / f0))
        y += env * (np.sin(2 * np.pi * f0 * np.outer(t, ks) + ks) / ks**1.5).sum(axis=1) * 0.2
    pole = np.exp(-2 * np.pi * 4000 / sr)
    noise = lfilter([1 - pole], [1, -pole], np.random.default_rng(5).standard_normal(len(t))) * 0.3
    for start in np.arange(0.0, seconds, 0.25):
        y += np.where(t >= start, np.exp(-(t - start) * 40.0), 0.0) * noise
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def band_limited(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """``x`` as a model's clip would be: through 16 kHz and back by the engine's resampler."""
    return resample(resample(x, sr, 16000), 16000, sr)[: len(x)]


def band_db(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    s = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(10 * np.log10(s[(f >= lo) & (f < hi)].sum() + 1e-30))


def level_db(x: np.ndarray, sr: int = SR) -> float:
    """Energy of the new band (9 to 16 kHz, clear of the resampler's residue just above 8 kHz) relative to the
    band below 8 kHz, in dB."""
    return band_db(x, 9000, 16000, sr) - band_db(x, 0, 8000, sr)


def test_the_band_below_the_crossover_is_untouched() -> None:
    x = band_limited(full_band_sound())
    y = bw.extend_band(x, SR, 8000.0, SR, seed=1)
    assert y.dtype == np.float32 and y.shape == x.shape
    edges = np.geomspace(40.0, bw.CROSSOVER * 8000.0, 25)  # third-octave bands up to the crossover
    change = [abs(band_db(y, lo, hi) - band_db(x, lo, hi)) for lo, hi in itertools.pairwise(edges)]
    assert max(change) <= 0.1, change


def test_energy_is_added_above_8_khz_at_a_plausible_level() -> None:
    original = full_band_sound()
    x = band_limited(original)
    y = bw.extend_band(x, SR, 8000.0, SR, seed=1)
    assert level_db(y) > level_db(x) + 15  # the empty band is filled
    assert abs(level_db(y) - level_db(original)) <= 10.0, (level_db(y), level_db(original))
    baseline = bw.exciter(x, SR)
    assert level_db(baseline) > level_db(x) + 10  # the baseline adds a band too
    np.testing.assert_allclose(band_db(baseline, 40, 3000), band_db(x, 40, 3000), atol=0.01)


def test_the_same_seed_gives_the_same_samples_and_another_seed_other_noise() -> None:
    x = band_limited(full_band_sound(1.0))
    a = bw.extend_band(x, SR, 8000.0, SR, seed=7)
    assert np.array_equal(a, bw.extend_band(x, SR, 8000.0, SR, seed=7))
    b = bw.extend_band(x, SR, 8000.0, SR, seed=8)
    assert not np.array_equal(a, b)
    assert band_db(a - b, 0, 7000) < band_db(a - b, 9000, 16000) - 40  # they differ in the new band only


@pytest.mark.parametrize("n", [1, 7, 1000, 2047, 48001])
def test_odd_lengths_keep_their_length(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    y = bw.extend_band(x, SR, 8000.0, SR, seed=0)
    assert y.shape == (n,) and y.dtype == np.float32 and np.all(np.isfinite(y))
    z = bw.extend_band(x[: max(1, n // 3)], 16000, 8000.0, 44100, seed=0)  # from the model's rate, resampled
    assert len(z) == len(resample(x[: max(1, n // 3)], 16000, 44100))


def test_stereo_extends_each_channel_and_mono_matches_its_first() -> None:
    x = band_limited(full_band_sound(1.0))
    stereo = np.stack([x, 0.5 * x[::-1]], axis=1)
    y = bw.extend_band(stereo, SR, 8000.0, SR, seed=3)
    assert y.shape == stereo.shape and y.dtype == np.float32
    assert np.array_equal(y[:, 0], bw.extend_band(x, SR, 8000.0, SR, seed=3))
    assert all(level_db(y[:, c]) > level_db(stereo[:, c]) + 15 for c in range(2))


def test_nothing_is_added_where_the_rate_leaves_no_room_and_silence_stays_silent() -> None:
    x = band_limited(full_band_sound(0.5))
    at16 = resample(x, SR, 16000)
    assert np.array_equal(bw.extend_band(at16, 16000, 8000.0, 16000, seed=0), at16)
    assert np.array_equal(bw.extend_band(np.zeros(4800, np.float32), SR, 8000.0, SR), np.zeros(4800, np.float32))
    capped = bw.extend_band(x, SR, 8000.0, SR, seed=0, top_hz=12000.0)
    assert band_db(capped, 13000, 24000) < band_db(capped, 9000, 11500) - 30  # up to the top asked for
    default = bw.extend_band(x, SR, 8000.0, SR, seed=0)
    top = band_db(default, 17000, 23500) - band_db(default, 0, 8000)
    assert top > band_db(x, 17000, 23500) - band_db(x, 0, 8000) + 20  # up to the Nyquist frequency by default
    assert band_db(default, 17000, 23500) > band_db(default, 9000, 15000) - 30


def test_a_loop_period_wraps_around() -> None:
    x = band_limited(full_band_sound(1.0))
    y = bw.extend_band(x, SR, 8000.0, SR, seed=2, periodic=True)
    assert y.shape == x.shape
    added = y - x
    seam = np.abs(np.r_[added[-200:], added[:200]])  # the new band flows across the loop point
    assert seam.max() <= 3 * np.abs(added).max() / 2


def test_the_weights_ship_with_the_package_and_are_small() -> None:
    with bw.weights_path().open("rb") as f:
        size = len(f.read())
    assert 0 < size <= 5 * 2**20
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"audioldm_daw.engine" = ["data/*.safetensors"]' in pyproject
    assert "include engine/data/*.safetensors" in (ROOT / "MANIFEST.in").read_text()
    net = bw.load_net()
    assert not net.training and all(p.dtype.is_floating_point for p in net.parameters())


def test_generate_adds_the_band_and_the_option_turns_it_off(tiny_engine: Engine) -> None:
    base = {"duration": 1.0, "steps": 2, "seed": 11, "sample_rate": 48000}
    on = tiny_engine.generate(GenerateRequest("a hi-hat", **base))
    off = tiny_engine.generate(GenerateRequest("a hi-hat", full_band=False, **base))
    assert on.request.full_band is True and off.request.full_band is False
    assert on.audio.dtype == np.float32 and on.audio.shape == off.audio.shape == (48000,)
    assert level_db(on.audio) > level_db(off.audio) + 15
    at16 = tiny_engine.generate(GenerateRequest("a hi-hat", **(base | {"sample_rate": 16000})))
    at16_off = tiny_engine.generate(GenerateRequest("a hi-hat", full_band=False, **(base | {"sample_rate": 16000})))
    assert np.array_equal(at16.audio, at16_off.audio)  # nothing above 8 kHz to add at 16 kHz


def test_the_sidecar_records_it_and_regenerate_is_exact(tiny_engine: Engine, tmp_path: Path) -> None:
    req = GenerateRequest("a cymbal", duration=1.0, steps=2, seed=5, sample_rate=44100, loop=True)
    result = tiny_engine.render(req, tmp_path / "clip.wav")
    side = json.loads(result.sidecar.read_text())
    assert side["request"]["full_band"] is True
    again = tiny_engine.render(tiny_engine.request_from_sidecar(result.sidecar), tmp_path / "again.wav")
    assert np.array_equal(again.clip.audio, result.clip.audio)
    # a sidecar written before the extension existed recalls the clip it made: 8 kHz at any rate
    del side["request"]["full_band"]
    assert GenerateRequest.from_dict(side["request"]).full_band is False
    flat = {"mode": "generate", "prompt": "x", "duration": 1.0, "seed": 1}
    assert GenerateRequest.from_dict(flat).full_band is False


def test_upsample_extends_above_the_band_of_take_and_model(tiny_engine: Engine, tmp_path: Path) -> None:
    import soundfile as sf

    take = tmp_path / "old.wav"
    x = full_band_sound(1.0)
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / SR) > 4000] = 0
    sf.write(str(take), np.fft.irfft(spec, len(x)).astype(np.float32), SR, subtype="FLOAT")
    made = {}
    for full in (True, False):
        req = GenerateRequest(Upsample(str(take), prompt="bright"), steps=2, seed=3, full_band=full)
        made[full] = tiny_engine.generate(req).audio[:, 0]
    assert level_db(made[True]) > level_db(made[False]) + 15
    below = np.geomspace(40.0, 3500.0, 12)  # the take's own band passes through either way
    for lo, hi in itertools.pairwise(below):
        assert abs(band_db(made[True], lo, hi) - band_db(made[False], lo, hi)) <= 0.1


def test_the_doors_take_the_switch() -> None:
    from audioldm_daw.bridge.cli import build_parser
    from audioldm_daw.bridge.cli.options import takes_from_args
    from audioldm_daw.bridge.protocol import OPTIONS
    from audioldm_daw.engine.request import build_request

    args = build_parser().parse_args(["generate", "a pad", "--no-fullband"])
    assert takes_from_args(args, "generate")[0].full_band is False
    args = build_parser().parse_args(["generate", "a pad"])
    assert takes_from_args(args, "generate")[0].full_band is True
    assert "fullband" in OPTIONS
    assert build_request("upsample", {"input_path": "a.wav", "full_band": 0}).full_band is False
    assert "fullband" in (ROOT / "docs" / "OSC.md").read_text()


def test_training_lowers_the_loss_and_exports_weights_the_stage_loads(tmp_path: Path) -> None:
    import torch

    from audioldm_daw.workbench.training import bandwidth as tr

    sound = full_band_sound(2.0)
    examples = [tr.make_example(sound, SR, 8000.0, "synthetic"), tr.make_example(sound[::-1].copy(), SR, 6000.0, "x")]
    assert examples[0].features.shape == (bw.N_FEATURES, examples[0].ref.shape[0])
    assert np.isnan(examples[0].targets).sum() == examples[0].ref.shape[0]  # the band above 24 kHz: left out
    rng = np.random.default_rng(0)
    with torch.no_grad():
        first = tr.loss_of(bw.EnvelopeNet(channels=16), *(torch.from_numpy(a) for a in tr.batch(examples, rng, 4)))
    net, info = tr.train(
        examples, examples, tmp_path, steps=60, batch_size=4, lr=3e-3, seed=0, time_limit=None, log=print, channels=16
    )
    assert info["steps"] == 60 and info["history"][-1]["validation"] < float(first)
    assert (tmp_path / "checkpoint.pt").is_file()
    tr.export(net, tmp_path / "w.safetensors", info)
    loaded = bw.net_from_file(tmp_path / "w.safetensors")
    features = torch.from_numpy(examples[0].features[None])
    with torch.no_grad():
        assert torch.equal(loaded(features), net.eval()(features))


def test_the_bundled_models_card_says_what_the_extension_does() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
    assert spec is not None and spec.loader is not None
    card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card)
    line = card.bandwidth_line()
    assert "bandwidth extension" in line and "below the band-limited clip's" in line
    assert f"- {line}" in (ROOT / "models" / "audioldm-daw-mini" / "README.md").read_text()


def test_the_band_a_take_has_is_found_wherever_it_ends() -> None:
    x = full_band_sound(2.0)
    assert bw.detect_band(x, SR) == SR / 2
    assert abs(bw.detect_band(band_limited(x), SR) - 8000) < 800  # a model's clip, the resampler's leak included
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / SR) > 4000] = 0
    assert abs(bw.detect_band(np.fft.irfft(spec, len(x)), SR) - 4000) < 300  # an old recording's brick wall
    eleven = resample(resample(x, SR, 22050), 22050, 44100)
    assert abs(bw.detect_band(np.stack([eleven, eleven], axis=1), 44100) - 11025) < 500
    assert bw.detect_band(np.zeros(1000, np.float32), SR) == 0.0


def test_inpaint_in_a_band_limited_take_adds_no_band_and_in_a_full_band_take_does(
    tiny_engine: Engine, tmp_path: Path
) -> None:
    import soundfile as sf

    from audioldm_daw.engine import Inpaint

    made = {}
    for name, take in (("dull", band_limited(full_band_sound(2.0))), ("full", full_band_sound(2.0))):
        path = tmp_path / f"{name}.wav"
        sf.write(str(path), take, SR, subtype="FLOAT")
        for full in (True, False):
            req = GenerateRequest(Inpaint(str(path), 0.5, 1.5), steps=2, seed=4, full_band=full)
            made[name, full] = tiny_engine.generate(req).audio[26000:70000, 0]  # the span less its crossfades
    assert abs(level_db(made["dull", True]) - level_db(made["dull", False])) < 1.0  # the band its take has
    assert level_db(made["full", True]) > level_db(made["full", False]) + 4
