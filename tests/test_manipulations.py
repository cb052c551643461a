"""Zero-shot manipulations and loops on the tiny model: properties that must hold whatever the weights."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.engine import Engine, GenerateRequest, InputAudioError, InvalidRequest
from audioldm_daw.engine.errors import EngineError
from audioldm_daw.engine.plans import detect_cutoff, reconstruct
from audioldm_daw.engine.request import build_request

SR = 16000


def _tone(seconds: float, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    x = 0.4 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    import torchaudio.functional as AF

    d = tmp_path_factory.mktemp("inputs")
    a, b = _tone(2.0, 440, 0), _tone(2.0, 220, 1)
    spec = np.fft.rfft(a)
    spec[np.fft.rfftfreq(len(a), 1 / SR) > 4000] = 0  # a 4 kHz band limit, as a lossy file or 8 kHz source has
    band_limited = np.fft.irfft(spec, len(a)).astype(np.float32)
    stereo_44k = AF.resample(torch.tensor(b), SR, 44100).numpy()
    paths = {"a": d / "a.wav", "b": d / "b.flac", "lp": d / "lp.wav", "stereo": d / "stereo.wav"}
    sf.write(paths["a"], a, SR)
    sf.write(paths["b"], b, SR)
    sf.write(paths["lp"], band_limited, SR)
    sf.write(paths["stereo"], np.stack([stereo_44k, 0.5 * stereo_44k], axis=1), 44100)
    sf.write(d / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    sf.write(d / "short.wav", a[:1000], SR)
    (d / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    return paths | {"silent": d / "silent.wav", "short": d / "short.wav", "broken": d / "broken.wav"}


_SOURCE_FIELDS = {"span_start": "start", "span_end": "end", "extend_s": "seconds"}


def _req(mode: str = "generate", recipe: int | None = None, **kw) -> GenerateRequest:
    """A request of ``mode`` on the tests' defaults (a prompt where the mode takes one); ``recipe`` 2 recalls
    the splices of the model's reconstruction that clips made before the edits kept the take used (the edits
    of today's recipe are tested in tests/test_edit_keeps_take.py)."""
    base = {"steps": 4, "seed": 5, "sample_rate": SR, "normalize_db": None}
    if mode != "variation":
        base["prompt"] = "a bright bell"
    base.update({_SOURCE_FIELDS.get(k, k): v for k, v in kw.items()})
    if mode == "variation":
        base.pop("prompt", None)
    request = build_request(mode, base)
    return request if recipe is None else replace(request, recipe=recipe)


def _input(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32")[0]


def test_transfer_strength_0_is_the_reconstruction(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    out = tiny_engine.generate(_req(mode="transfer", input_path=str(clips["a"]), strength=0.0)).audio
    rec = reconstruct(tiny_engine.context, _input(clips["a"]))  # at the input's level
    edge = 80  # 5 ms fades
    out, rec = out[edge:-edge], rec[edge:-edge]
    level = float(np.dot(out, rec) / np.dot(rec, rec))  # a transfer is a new clip, made at the model's level
    np.testing.assert_allclose(out, level * rec, atol=1e-5 * np.abs(out).max())


def test_transfer_strength_1_ignores_the_input(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    x = tiny_engine.generate(_req(mode="transfer", input_path=str(clips["a"]), strength=1.0)).audio
    y = tiny_engine.generate(_req(mode="transfer", input_path=str(clips["b"]), strength=1.0)).audio
    half = tiny_engine.generate(_req(mode="transfer", input_path=str(clips["a"]), strength=0.5)).audio
    np.testing.assert_array_equal(x, y)
    assert not np.allclose(x, half)


def test_inpaint_keeps_the_audio_outside_the_span(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    start, end = 0.8, 1.2
    out = tiny_engine.generate(
        _req(mode="inpaint", recipe=2, input_path=str(clips["a"]), span_start=start, span_end=end)
    ).audio
    rec = reconstruct(tiny_engine.context, _input(clips["a"]))
    margin = int(0.01 * SR)  # the crossfade into the span
    outside = np.r_[80 : int(start * SR) - margin, int(end * SR) + margin : len(out) - 80]
    inside = np.r_[int(start * SR) : int(end * SR)]
    peak = np.abs(rec).max()
    # Stated tolerance: outside the span and its 10 ms crossfades, within 1e-5 of the reconstruction's peak.
    assert np.max(np.abs(out[outside] - rec[outside])) <= 1e-5 * peak
    assert np.max(np.abs(out[inside] - rec[inside])) > 0.05 * peak


def test_continue_extends_seamlessly(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    clip = tiny_engine.generate(
        _req(mode="continue", recipe=2, input_path=str(clips["a"]), extend_s=1.5, sample_rate=48000)
    )
    assert len(clip.audio) == round(3.5 * 48000)
    assert clip.seconds == pytest.approx(3.5)
    native = tiny_engine.generate(_req(mode="continue", recipe=2, input_path=str(clips["a"]), extend_s=1.5)).audio
    rec = reconstruct(tiny_engine.context, _input(clips["a"]))
    head = np.r_[80 : int(1.9 * SR)]
    assert np.max(np.abs(native[head] - rec[head])) <= 1e-5 * np.abs(rec).max()


def test_upsample_keeps_the_low_band(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    x = _input(clips["lp"])
    assert detect_cutoff(x, SR) == pytest.approx(4000, rel=0.1)
    clip = tiny_engine.generate(_req(mode="upsample", recipe=2, input_path=str(clips["lp"]), normalize_db=None))
    assert clip.request.source.cutoff_hz == pytest.approx(4000, rel=0.1)
    edge = 80  # leave out the 5 ms fades at both ends
    out, x = clip.audio[edge:-edge], x[edge:-edge]
    fx, fo = np.fft.rfft(x.astype(np.float64)), np.fft.rfft(out.astype(np.float64))
    f = np.fft.rfftfreq(len(x), 1 / SR)
    low = (f > 50) & (f < clip.request.source.cutoff_hz * 0.9)
    err = np.linalg.norm(fo[low] - fx[low]) / np.linalg.norm(fx[low])
    assert err < 0.01
    full_in, full_out = np.fft.rfft(_input(clips["lp"])), np.fft.rfft(clip.audio)
    high = np.fft.rfftfreq(len(clip.audio), 1 / SR) > clip.request.source.cutoff_hz * 1.05
    assert np.linalg.norm(full_out[high]) > 10 * np.linalg.norm(full_in[high])  # the missing band is filled


def test_loop_wraps_seamlessly_and_exactly(tiny_engine: Engine) -> None:
    for seed in (1, 2, 3):
        clip = tiny_engine.generate(
            # fit off: this is the loop closure of the clip as rendered (a fitted loop's: tests/test_tempo_fit.py)
            _req(prompt="a drum groove", loop=True, bpm=120, bars=1, seed=seed, sample_rate=44100, fit=False)
        )
        a = clip.audio
        assert len(a) == 88200  # one 4/4 bar at 120 bpm, to the sample
        wrap = abs(float(a[0]) - float(a[-1]))
        assert wrap <= float(np.median(np.abs(np.diff(a))))


def test_loop_only_for_generate_and_variation(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    with pytest.raises(InvalidRequest, match="loop: applies to generate and variation, not to transfer"):
        _req(mode="transfer", input_path=str(clips["a"]), loop=True)


def test_variation_follows_the_input(tiny_engine: Engine, clips: dict[str, Path]) -> None:
    x = tiny_engine.generate(_req(prompt="", mode="variation", input_path=str(clips["a"]), duration=1.0)).audio
    y = tiny_engine.generate(_req(prompt="", mode="variation", input_path=str(clips["b"]), duration=1.0)).audio
    z = tiny_engine.generate(_req(prompt="", mode="variation", input_path=str(clips["stereo"]), duration=1.0)).audio
    assert len(x) == len(y) == len(z) == SR
    assert not np.allclose(x, y)


def test_variation_needs_an_audio_tower(tiny_model_dir_no_clap: Path, clips: dict[str, Path]) -> None:
    engine = Engine.load(tiny_model_dir_no_clap, device="cpu")
    with pytest.raises(EngineError, match=r"variation .*clap/"):
        engine.generate(_req(mode="variation", input_path=str(clips["a"])))


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("silent", "is silent"),
        ("short", "expected at least 0.5 s"),
        ("broken", "not an audio file soundfile can read"),
        ("missing", "does not exist"),
    ],
)
def test_bad_input_files(tiny_engine: Engine, clips: dict[str, Path], key: str, match: str) -> None:
    path = clips.get(key, clips["a"].parent / "missing.wav")
    with pytest.raises(InputAudioError, match=match):
        tiny_engine.generate(_req(mode="transfer", input_path=str(path)))


def test_too_long_input(tiny_engine: Engine, tmp_path: Path) -> None:
    """A longer input than one clip: inpaint reads a window of it, transfer hears it in windows (recipe 3); a
    clip recalled under an earlier recipe, which read the whole input, still takes at most one clip's length."""
    long = tmp_path / "long.wav"
    sf.write(long, np.full(61 * 8000, 0.1, dtype=np.float32), 8000)
    with pytest.raises(InputAudioError, match=r"clips recalled under recipe 2 took at most 60 s"):
        tiny_engine.check(_req(mode="transfer", recipe=2, input_path=str(long)))
    tiny_engine.check(_req(mode="transfer", input_path=str(long)))
    tiny_engine.check(_req(mode="inpaint", input_path=str(long), span_start=1, span_end=2))


def test_cli_transfer_writes_a_recallable_clip(tiny_model_dir: Path, clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "t.wav"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable,
        "-m",
        "audioldm_daw.bridge.cli",
        "transfer",
        str(clips["stereo"]),
        "a choir",
        "--strength",
        "0.3",
        "--model",
        str(tiny_model_dir),
        "--steps",
        "3",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sf.info(str(out)).frames == round(2.0 * 48000)
    r2 = subprocess.run(
        [
            sys.executable,
            "-m",
            "audioldm_daw.bridge.cli",
            "regenerate",
            str(out.with_suffix(".json")),
            "--out",
            str(tmp_path / "t2.wav"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r2.returncode == 0, r2.stderr
    assert np.array_equal(sf.read(out)[0], sf.read(tmp_path / "t2.wav")[0])


def test_input_level_does_not_change_the_result_only_its_level(
    tiny_engine: Engine, clips: dict[str, Path], tmp_path: Path
) -> None:
    """The model sees every input DC-removed at a peak of 0.5 (as the original AudioLDM does); what is
    spliced back is at the input's own level, so a quieter take gives the same clip, quieter."""
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, 0.25 * _input(clips["a"]) + 0.01, SR)  # -12 dB, with a DC offset
    loud = tiny_engine.generate(
        _req(mode="inpaint", recipe=2, input_path=str(clips["a"]), span_start=0.8, span_end=1.2)
    )
    soft = tiny_engine.generate(_req(mode="inpaint", recipe=2, input_path=str(quiet), span_start=0.8, span_end=1.2))
    inside = np.r_[int(0.85 * SR) : int(1.15 * SR)]
    np.testing.assert_allclose(soft.audio[inside], 0.25 * loud.audio[inside], atol=1e-4 * np.abs(loud.audio).max())
