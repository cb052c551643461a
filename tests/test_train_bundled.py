"""``scripts/train_bundled.sh``, the one command that retrains the bundled model, run end to end.

The real recipe takes hours; here it runs on a 42-clip dataset with every stage's steps scaled to 0.1%
(``STEP_PCT``), which exercises every stage, the assembly, the evaluation and the resume logic of the
script itself, in about two minutes on two CPU cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

from tests.script_env import script_env

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train_bundled.sh"
# the recipe's batch sizes and steps per stage (scripts/train_bundled.sh), run at twice the batch sizes and
# 0.1% of the steps (at least one)
BATCH_X = 2
RECIPE_BATCH = {
    "vae": 16,
    "vae-decoder": 16,
    "clap": 32,
    "vocoder-rec": 8,
    "vocoder": 8,
    "ldm-audio": 8,
    "ldm-text": 8,
    "clap-eval": 32,
}
SCALED_STEPS = {
    "vae": 1,
    "vae-decoder": 6,
    "clap": 2,
    "vocoder-rec": 1,
    "vocoder": 6,
    "ldm-audio": 5,
    "ldm-text": 5,
    "clap-eval": 1,
}


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    settings = dict(N_TRAIN="28", N_TEST="14", STEP_PCT="0.1", BATCH_X=str(BATCH_X), EVAL_LIMIT="3", EVAL_STEPS="2")
    return script_env(tmp, **{**settings, "OUT_MODEL": str(tmp / "model"), "EVAL_DIR": str(tmp / "eval"), **extra})


def _script(tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(tmp / "work")], capture_output=True, text=True, env=_env(tmp, **extra), timeout=900
    )


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bundled")
    return tmp, _script(tmp)


def test_every_stage_trains_its_scaled_steps(retrained: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp, r = retrained
    assert r.returncode == 0, r.stderr[-3000:]
    for stage, steps in SCALED_STEPS.items():
        summary = json.loads((tmp / "work" / stage / "summary.json").read_text())
        assert summary["steps"] == steps, stage
        assert summary["batch_size"] == RECIPE_BATCH[stage] * BATCH_X, stage
        assert summary["device"] == "cpu" and summary["stopped_by_time_limit"] is False
    ldm = json.loads((tmp / "work" / "ldm-text" / "summary.json").read_text())
    assert ldm["exported"]["condition"] == "text"
    assert json.loads((tmp / "work" / "ldm-audio" / "summary.json").read_text())["exported"]["condition"] == "audio"


def test_the_assembled_model_generates(retrained: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp, r = retrained
    assert r.returncode == 0, r.stderr[-3000:]
    model = tmp / "model"
    for part in ("unet", "vae", "vocoder", "text_encoder", "tokenizer", "scheduler", "clap"):
        assert (model / part).is_dir(), part
    # the audio-trained UNet gets the CLAP's text-to-audio offset; the text-trained one has no need of it
    offset = json.loads((model / "conditioning.json").read_text())
    assert offset["pairs"] > 0 and len(offset["text_offset"]) > 0
    assert not (tmp / "ldm-text" / "model" / "conditioning.json").exists()
    out = tmp / "clip.wav"
    g = subprocess.run(
        [
            *(sys.executable, "-m", "audioldm_daw.bridge.cli", "generate", "a piano plays a slow, low melody"),
            "--model",
            str(model),
            "--duration",
            "1.5",
            "--steps",
            "2",
            "--sr",
            "22050",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=_env(tmp),
        timeout=300,
    )
    assert g.returncode == 0, g.stderr[-2000:]
    audio, sr = sf.read(out)
    assert sr == 22050 and len(audio) == round(1.5 * 22050)


def test_the_model_decodes_with_the_trained_on_decoder_and_the_ldms_encoder(
    retrained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The assembled VAE is vae-decoder's: the decoder trained on, the encoder and scaling factor the LDMs
    were trained with."""
    from safetensors.torch import load_file

    tmp, r = retrained
    assert r.returncode == 0, r.stderr[-3000:]
    weights = "vae/diffusion_pytorch_model.safetensors"
    model, first = load_file(tmp / "model" / weights), load_file(tmp / "work" / "vae" / weights)
    decoder = load_file(tmp / "work" / "vae-decoder" / weights)
    assert all(torch.equal(model[k], decoder[k]) for k in model)
    assert all(torch.equal(model[k], first[k]) for k in model if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(model[k], first[k]) for k in model if k.startswith("decoder."))
    scale = [
        json.loads((d / "vae" / "config.json").read_text())["scaling_factor"]
        for d in (tmp / "model", tmp / "work" / "vae")
    ]
    assert scale[0] == scale[1]


def test_the_evaluation_compares_audio_and_text_conditioning(
    retrained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp, r = retrained
    assert r.returncode == 0, r.stderr[-3000:]
    prompts = (tmp / "eval" / "heldout_prompts.jsonl").read_text().splitlines()
    assert len(prompts) == 14 and all(json.loads(p)["prompt"] for p in prompts)
    assert (tmp / "eval" / "classifier.pt").is_file()
    report = json.loads((tmp / "eval" / "evaluation.json").read_text())
    assert [Path(row["model"]).name for row in report] == ["model", "model"]
    assert Path(report[1]["model"]).parent.name == "ldm-text"
    for row in report:
        assert row["prompts"] == 3 and row["steps"] == 2
        for key in ("accuracy", "accuracy_decoded_mel", "classifier_accuracy_on_real"):
            assert 0.0 <= row[key] <= 1.0, key
        assert row["fd"] >= 0.0 and -1.0 <= row["clap_score"] <= 1.0


def test_a_second_run_skips_finished_stages(retrained: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp, first = retrained
    assert first.returncode == 0, first.stderr[-3000:]
    before = {s: (tmp / "work" / s / "summary.json").stat().st_mtime_ns for s in SCALED_STEPS}
    again = _script(tmp)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {s: (tmp / "work" / s / "summary.json").stat().st_mtime_ns for s in SCALED_STEPS} == before
    assert " steps at " not in again.stdout + again.stderr  # no stage trained again


def test_continue_trains_the_named_stages_on_to_a_larger_step_count(
    retrained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """CONTINUE with twice the steps: the named stages resume from their checkpoints and train to the new count,
    every other stage stays as it was (a retrained VAE would change what the LDMs learnt on)."""
    tmp, first = retrained
    assert first.returncode == 0, first.stderr[-3000:]
    named = {"ldm-text": 10, "vocoder": 12}
    before = {s: (tmp / "work" / s / "summary.json").stat().st_mtime_ns for s in SCALED_STEPS if s not in named}
    r = _script(tmp, STEP_PCT="0.2", CONTINUE=" ".join(named), EVALUATE="0")
    assert r.returncode == 0, r.stderr[-3000:]
    for stage, steps in named.items():
        summary = json.loads((tmp / "work" / stage / "summary.json").read_text())
        assert summary["steps"] == steps and summary["resumed_from"] == SCALED_STEPS[stage], stage
    assert {s: (tmp / "work" / s / "summary.json").stat().st_mtime_ns for s in before} == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STEP_PCT", "0"),
        ("STEP_PCT", "-3"),
        ("STEP_PCT", "ten"),
        ("DEVICE", "tpu"),
        ("BATCH_X", "0"),
        ("BATCH_X", "1.5"),
        ("TIME_LIMIT", "-1"),
        ("TIME_LIMIT", "soon"),
        ("STAGE_LIMITS", "vae=0"),
        ("STAGE_LIMITS", "decoder=60"),
        ("STAGE_LIMITS", "vae"),
        ("FINISH_BY", "soon"),
        ("TRAIN", "2"),
        ("EVALUATE", "yes"),
        ("RENDER", "no"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path: Path, name: str, value: str) -> None:
    r = _script(tmp_path, **{name: value})
    assert r.returncode == 2
    assert name in r.stderr and value in r.stderr
    assert not (tmp_path / "work").exists()


def test_render_0_refuses_a_work_dir_without_its_dataset(tmp_path: Path) -> None:
    r = _script(tmp_path, RENDER="0")
    assert r.returncode == 2 and "RENDER=0" in r.stderr and "dataset.json" in r.stderr
    assert not (tmp_path / "work" / "data").exists()


def test_train_0_evaluates_only_models_that_are_there(tmp_path: Path) -> None:
    """TRAIN=0 (the models came from elsewhere) with none there: refused, nothing trained; with EVALUATE=0
    as well, the script only renders the dataset."""
    (tmp_path / "work" / "data").mkdir(parents=True)
    (tmp_path / "work" / "data" / "dataset.json").write_text("{}")  # the dataset counts as there
    r = _script(tmp_path, TRAIN="0")
    assert r.returncode == 2 and "TRAIN=0" in r.stderr and str(tmp_path / "model") in r.stderr
    assert _script(tmp_path, TRAIN="0", EVALUATE="0").returncode == 0
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["data"]


def test_a_failing_stage_fails_the_script_and_assembles_nothing(tmp_path: Path) -> None:
    r = _script(tmp_path, PRESET="no-such-preset")
    assert r.returncode != 0
    assert "no-such-preset" in r.stderr  # the stage's own message reaches the user
    assert not (tmp_path / "model").exists()
    assert not list((tmp_path / "work").glob("*/summary.json"))
