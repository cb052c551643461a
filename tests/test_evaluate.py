"""``evaluate`` on a tiny set: classifier, FD/KL/IS and the independent-CLAP score all come out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audioldm_daw.workbench.evaluation.metrics import frechet_distance, inception_score, mean_kl


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance(a, a + 2.0)
    assert shifted == pytest.approx(8 * 4.0, rel=1e-6)  # |mu_a - mu_b|^2, same covariance


def test_kl_and_inception_score() -> None:
    sure = np.eye(4)
    assert mean_kl(sure, sure) == pytest.approx(0.0, abs=1e-6)
    assert mean_kl(sure, np.full((4, 4), 0.25)) == pytest.approx(np.log(4), rel=1e-3)
    assert inception_score(sure) == pytest.approx(4.0, rel=1e-3)  # confident and varied: the number of classes
    assert inception_score(np.full((4, 4), 0.25)) == pytest.approx(1.0, rel=1e-3)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audioldm_daw.workbench.dataset import generate_dataset, write_prompts_file

    root = tmp_path_factory.mktemp("ds")
    generate_dataset(root, 24, 6, seed=3, categories=["siren", "noise", "beeps"])
    write_prompts_file(root, root / "prompts.jsonl")
    return root


def test_evaluate_command_on_a_tiny_set(small_dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "audioldm_daw.bridge.cli",
        "evaluate",
        "--model",
        str(tiny_model_dir),
        "--prompts",
        str(small_dataset / "prompts.jsonl"),
        "--data",
        str(small_dataset),
        "--eval-clap",
        str(tiny_model_dir),
        "--classifier",
        str(tmp_path / "clf.pt"),
        "--steps",
        "2",
        "--limit",
        "3",
        "--out",
        str(out),
        "--ceilings",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())[0]
    assert rep["prompts"] == 3
    assert 0.0 <= rep["accuracy"] <= 1.0 and 0.0 <= rep["accuracy_decoded_mel"] <= 1.0
    assert np.isfinite(rep["fd"]) and rep["fd"] >= 0 and np.isfinite(rep["kl"])
    assert -1.0 <= rep["clap_score"] <= 1.0
    assert 0.0 <= rep["classifier_accuracy_on_real"] <= 1.0
    assert (tmp_path / "clf.pt").is_file()
    assert f"| {tiny_model_dir} | {rep['accuracy']:.3f} |" in r.stdout  # the printed table row
    ceil = rep["ceilings"]
    assert ceil["clips"] == 3 and all(0.0 <= ceil[k] <= 1.0 for k in ("vocoder_on_real_mel", "vae_and_vocoder"))
    assert "real clips through its vocoder" in r.stdout


def test_stage_ceilings_score_the_real_clips_at_each_stage(small_dataset: Path, tiny_model_dir: Path) -> None:
    """The first ceiling is the classifier on the real clips themselves (the figure it was trained to); the
    VAE's reconstruction of a random-weight model is far from the mel it was given."""
    from audioldm_daw.workbench.evaluation.ceilings import stage_ceilings
    from audioldm_daw.workbench.evaluation.classifier import train_classifier

    clf, acc = train_classifier(small_dataset, epochs=2, log=False)
    ceil = stage_ceilings(tiny_model_dir, small_dataset, clf)
    assert ceil["clips"] == 6 and ceil["real_mel"] == pytest.approx(acc)
    assert ceil["vae_l1"] > 0.5  # random weights: nothing like the input mel
    # Pitch: a HiFi-GAN (random here) keeps no steady note; Griffin-Lim on the real mels keeps most; the VAE in
    # between (random) loses them again. The estimator itself finds every clean note.
    assert ceil["vocoder"] == "hifigan" and ceil["vocoder_pitch"]["within_50_cents"] < 0.2
    gl = stage_ceilings(tiny_model_dir, small_dataset, clf, limit=2, vocoder="griffin-lim")
    assert gl["vocoder"] == "griffin-lim" and gl["clips"] == 2
    assert gl["vocoder_pitch"]["within_50_cents"] >= 0.6 and gl["vocoder_pitch"]["reference_within_50_cents"] == 1.0
    assert gl["vae_and_vocoder_pitch"]["within_50_cents"] < gl["vocoder_pitch"]["within_50_cents"]


def test_decoded_mel_accuracy_scores_the_mel_the_vocoder_was_given(tiny_model_dir: Path) -> None:
    """``accuracy_decoded_mel`` classifies exactly the VAE output that the vocoder turned into the clip."""
    import torch

    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.engine.mel import log_mel
    from audioldm_daw.workbench.evaluation.classifier import Classifier, MelCNN
    from audioldm_daw.workbench.evaluation.evaluate import MelRecorder

    found: list[MelRecorder] = []

    def record(m: object) -> MelRecorder:
        found.append(MelRecorder(m.vae, m.vocoder))  # type: ignore[attr-defined]
        return found[-1]

    engine = Engine.load(tiny_model_dir, device="cpu", decoder_factory=record)
    req = GenerateRequest("a low drone", duration=1.0, steps=2, seed=4, sample_rate=16000, normalize_db=None)
    clip = engine.generate(req)
    (rec,) = found
    assert len(rec.mels) == 1 and rec.mels[0].shape[1] == 64
    with torch.no_grad():
        wave = rec.vocoder(rec.mels[0][None]).float()[0].numpy()
    n = len(clip.audio) - 400  # the engine fades the clip's first and last few milliseconds (no clicks)
    np.testing.assert_allclose(clip.audio[400:n], wave[400:n], atol=1e-5)
    torch.manual_seed(0)
    clf = Classifier(MelCNN(3).eval(), ["a", "b", "c"])
    _, p1 = clf.embed([clip.audio])
    _, p2 = clf.embed_mels([log_mel(torch.from_numpy(clip.audio))])
    np.testing.assert_allclose(p1, p2, atol=1e-6)
