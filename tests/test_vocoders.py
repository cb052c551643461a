"""Mel to audio: Griffin-Lim beside the HiFi-GAN, the folder's choice of the two, and the pitch measure that
tells them apart.

The claim behind offering Griffin-Lim is checked here, not assumed: a HiFi-GAN (any weights) turns a steady mel into
audio that repeats every hop (a 100 Hz comb whatever the note), while Griffin-Lim puts steady notes within 50 cents.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioldm_daw.engine.mel import log_mel
from audioldm_daw.engine.vocoders import (
    GRIFFIN_LIM,
    HIFIGAN,
    INVERSION_ITERATIONS,
    GriffinLimVocoder,
    VocoderChoiceError,
    load_vocoder,
    preferred,
    resolve,
    write_preference,
)
from audioldm_daw.workbench.evaluation.pitch import NOTES, cents, harmonic_tone, vocoder_pitch, yin_f0


@pytest.fixture(scope="module")
def griffin() -> GriffinLimVocoder:
    return GriffinLimVocoder().eval()


@pytest.fixture
def gl_folder(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """The tiny model, asking for Griffin-Lim."""
    folder = tmp_path / "tiny-gl"
    shutil.copytree(tiny_model_dir, folder)
    write_preference(folder, GRIFFIN_LIM)
    return folder


@pytest.mark.parametrize("frames", [13, 64, 101])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_griffin_lim_makes_exactly_hop_samples_per_frame(
    griffin: GriffinLimVocoder, frames: int, dtype: torch.dtype
) -> None:
    mel = log_mel(torch.from_numpy(np.random.default_rng(frames).standard_normal(frames * 160).astype(np.float32)))
    audio = griffin(torch.stack([mel, mel.flip(0)]).to(dtype))
    assert audio.shape == (2, frames * 160) and audio.dtype == dtype
    assert torch.isfinite(audio).all() and audio.float().abs().max() > 0


def test_griffin_lim_is_deterministic(griffin: GriffinLimVocoder) -> None:
    """Zero initial phase: the same mel gives the same samples (a clip's seed and parameters recall it)."""
    mel = log_mel(torch.from_numpy(harmonic_tone(233.0, seconds=0.7)))[None]
    assert torch.equal(griffin(mel), griffin(mel))


def test_yin_finds_the_fundamental_of_each_note_and_of_a_hop_comb() -> None:
    errors = [cents(yin_f0(harmonic_tone(f)), f) for f in NOTES]
    assert max(abs(e) for e in errors) < 25, errors
    comb = np.tile(np.hanning(160).astype(np.float32), 100)  # repeats every 160 samples
    assert abs(yin_f0(comb) - 100.0) < 1.0


def test_a_hifigan_repeats_every_hop_on_a_steady_mel(tiny_model_dir: Path) -> None:
    """A steady mel (every frame the same) through a HiFi-GAN: the audio repeats every 160 samples away from the
    edges, whatever the weights, so no note but multiples of 100 Hz can come out."""
    from transformers import SpeechT5HifiGan

    vocoder = SpeechT5HifiGan.from_pretrained(tiny_model_dir / "vocoder").eval()
    frame = log_mel(torch.from_numpy(harmonic_tone(440.0, seconds=1.0)))[50]
    with torch.no_grad():
        audio = vocoder(frame.expand(60, -1)[None]).reshape(-1)
    middle = audio[20 * 160 : 40 * 160]
    assert middle.abs().max() > 0
    torch.testing.assert_close(middle, audio[21 * 160 : 41 * 160], atol=1e-5 * float(middle.abs().max()), rtol=0)


def test_griffin_lim_keeps_steady_notes_in_tune(griffin: GriffinLimVocoder) -> None:
    notes = (146.8, 246.9, 440.0, 698.5, 1174.7)
    report = vocoder_pitch(griffin, notes=notes)
    assert report["reference_within_50_cents"] == 1.0
    assert report["within_50_cents"] >= 0.8, report["errors_cents"]
    assert report["median_abs_cents"] < 25


@pytest.mark.parametrize("frames", [37, 200])
def test_refined_inversion_explains_the_mel_better_than_the_clipped_pseudo_inverse(frames: int) -> None:
    """The magnitudes Griffin-Lim starts from: non-negative, and their mel nearer the input the more updates."""
    tone = harmonic_tone(196.0, seconds=frames * 160 / 16000)
    noise = np.random.default_rng(frames).standard_normal(frames * 160).astype(np.float32) * 0.1
    target = torch.stack([log_mel(torch.from_numpy(w)) for w in (tone, noise)]).exp().transpose(-1, -2)
    errors = []
    for n in (0, 10, 100):
        vocoder = GriffinLimVocoder(inversion_iterations=n)
        mags = vocoder.linear_magnitudes(target)
        assert mags.shape == (2, 513, target.shape[-1]) and bool((mags >= 0).all())
        errors.append(float((vocoder.bank @ mags - target).norm() / target.norm()))
    assert errors[0] > 1.5 * errors[1] and errors[1] > 3 * errors[2], errors  # about 10%, 5%, 0.8%
    plain = GriffinLimVocoder(inversion_iterations=0)
    torch.testing.assert_close(plain.linear_magnitudes(target), (plain.inverse @ target).clamp(min=0.0))


def test_a_folder_pins_its_inversion_and_the_loaded_vocoder_follows(tmp_path: Path) -> None:
    write_preference(tmp_path, GRIFFIN_LIM)
    assert load_vocoder(tmp_path)[1].config.inversion_iterations == INVERSION_ITERATIONS
    (tmp_path / "decode.json").write_text(json.dumps({"vocoder": GRIFFIN_LIM, "inversion_iterations": 0}))
    name, vocoder = load_vocoder(tmp_path)
    assert name == GRIFFIN_LIM and vocoder.config.inversion_iterations == 0  # folders keep what they were made with
    (tmp_path / "decode.json").write_text(json.dumps({"vocoder": GRIFFIN_LIM}))  # written before the refinement
    assert load_vocoder(tmp_path)[1].config.inversion_iterations == 0
    (tmp_path / "decode.json").unlink()  # a HiFi-GAN folder decoded with Griffin-Lim on request: the default
    assert load_vocoder(tmp_path, GRIFFIN_LIM)[1].config.inversion_iterations == INVERSION_ITERATIONS


@pytest.mark.parametrize("value", [-1, 2.5, True, "many"])
def test_a_bad_inversion_setting_is_refused_naming_the_file(tmp_path: Path, value: object) -> None:
    (tmp_path / "decode.json").write_text(json.dumps({"vocoder": GRIFFIN_LIM, "inversion_iterations": value}))
    with pytest.raises(VocoderChoiceError, match=r"inversion_iterations .*: expected a whole number, 0 or more") as err:
        load_vocoder(tmp_path, GRIFFIN_LIM)
    assert "decode.json" in str(err.value)


def test_a_folder_asks_for_its_vocoder_in_decode_json(tmp_path: Path) -> None:
    assert preferred(tmp_path) == HIFIGAN and resolve(tmp_path) == HIFIGAN
    write_preference(tmp_path, GRIFFIN_LIM)
    pinned = {"vocoder": GRIFFIN_LIM, "inversion_iterations": INVERSION_ITERATIONS}
    assert json.loads((tmp_path / "decode.json").read_text()) == pinned
    assert resolve(tmp_path) == GRIFFIN_LIM and resolve(tmp_path, HIFIGAN) == HIFIGAN
    write_preference(tmp_path, HIFIGAN)
    assert not (tmp_path / "decode.json").exists()


@pytest.mark.parametrize("text", ['{"vocoder": "wavenet"}', "not json", '["griffin-lim"]'])
def test_a_bad_decode_json_is_refused_with_what_was_expected(tmp_path: Path, text: str) -> None:
    (tmp_path / "decode.json").write_text(text)
    with pytest.raises(VocoderChoiceError, match="griffin-lim") as err:
        preferred(tmp_path)
    assert "decode.json" in str(err.value)


def test_an_unknown_vocoder_choice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VocoderChoiceError, match="auto, hifigan, griffin-lim"):
        resolve(tmp_path, "melgan")


def test_the_engine_decodes_with_the_folders_choice(gl_folder: Path, tiny_model_dir: Path) -> None:
    """Same geometry either way; exact length at an odd duration; the sidecar records the vocoder; the auto
    decoder stays on torch (the ONNX graph holds the HiFi-GAN)."""
    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.export.select import choose_decoder

    gl = Engine.load(gl_folder, device="cpu")
    hifi = Engine.load(gl_folder, device="cpu", vocoder=HIFIGAN)
    assert gl.model.vocoder_name == GRIFFIN_LIM and isinstance(gl.model.vocoder, GriffinLimVocoder)
    assert hifi.model.vocoder_name == HIFIGAN and type(hifi.model.vocoder).__name__ == "SpeechT5HifiGan"
    assert gl.model.geometry == hifi.model.geometry
    req = GenerateRequest("a steady organ chord", duration=0.83, steps=2, seed=5, sample_rate=22050)
    clip = gl.generate(req)
    assert len(clip.audio) == round(0.83 * 22050) and np.isfinite(clip.audio).all()
    assert not np.allclose(clip.audio, hifi.generate(req).audio)
    assert gl.sidecar(clip)["vocoder"] == GRIFFIN_LIM
    assert choose_decoder(gl.model, "auto").name == "torch"


def test_a_bad_decode_json_fails_the_load_naming_the_file(gl_folder: Path) -> None:
    from audioldm_daw.engine.errors import ModelLoadError
    from audioldm_daw.engine.model import load_model

    (gl_folder / "decode.json").write_text('{"vocoder": "wavenet"}')
    with pytest.raises(ModelLoadError, match=r"decode\.json"):
        load_model(gl_folder, device="cpu")


def test_regenerate_decodes_with_the_clips_own_vocoder(gl_folder: Path, tmp_path: Path) -> None:
    """A clip made with Griffin-Lim re-renders identically from its sidecar, even after the folder stops asking
    for Griffin-Lim."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", AUDIOLDM_DAW_CLIPS=str(tmp_path / "clips"))
    exe = [sys.executable, "-m", "audioldm_daw.bridge.cli"]
    first, again = tmp_path / "a.wav", tmp_path / "b.wav"
    common = ["--duration", "0.9", "--steps", "2"]
    r = subprocess.run(
        [
            *exe,
            "generate",
            "soft bell",
            "--model",
            str(gl_folder),
            "--out",
            str(first),
            "--seed",
            "3",
            *common,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1])["vocoder"] == GRIFFIN_LIM
    write_preference(gl_folder, HIFIGAN)
    r = subprocess.run(
        [*exe, "regenerate", str(first.with_suffix(".json")), "--out", str(again)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = sf.read(first)[0], sf.read(again)[0]
    assert a.shape == b.shape and np.array_equal(a, b)


def test_the_decoder_never_captures_griffin_lim(tiny_model_dir: Path) -> None:
    """Its inverse STFT synchronises with the host, which a CUDA graph cannot hold: no capture is tried."""
    from audioldm_daw.engine.decode import TorchDecoder
    from audioldm_daw.engine.model import load_model

    m = load_model(tiny_model_dir, device="cpu")
    assert TorchDecoder(m.vae, GriffinLimVocoder(), graphs=True).graphs is False
    assert TorchDecoder(m.vae, m.vocoder, graphs=True).graphs is True


def test_griffin_lim_stays_finite_on_a_mel_far_too_loud(griffin: GriffinLimVocoder) -> None:
    """A VAE decoding latents far from what it learnt can emit log-mels of 100 (exp overflows float32)."""
    mel = log_mel(torch.from_numpy(harmonic_tone(330.0, seconds=0.5)))[None]
    mel[:, 10:20, 5:9] = 100.0
    audio = griffin(mel)
    assert torch.isfinite(audio).all() and audio.abs().max() > 0
