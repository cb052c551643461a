"""The text-to-audio offset (``conditioning.json``): measured on captioned clips by ``train text-offset``, applied
by the engine to every prompt but the empty one, refused with a clear error when malformed, absent otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from audioldm_daw.bridge.cli import main
from audioldm_daw.engine import Engine, GenerateRequest, clap
from audioldm_daw.engine.conditioning import text_embeddings
from audioldm_daw.engine.errors import ModelLoadError
from audioldm_daw.engine.model import CONDITIONING_FILE, load_model


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture
def captioned(tmp_path: Path) -> Path:
    """Six short clips with captions in a metadata.jsonl, as the training data folders have them."""
    root = tmp_path / "clips"
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i, (word, f0) in enumerate(
        [("bell", 880), ("hum", 110), ("beep", 1500), ("drone", 70), ("chirp", 3000), ("buzz", 220)]
    ):
        t = np.arange(16000) / 16000
        wave = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(root / f"{i}.wav", wave.astype(np.float32), 16000)
        rows.append({"file": f"{i}.wav", "caption": f"a {word} sound"})
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_prompts_move_by_the_offset_and_the_empty_prompt_does_not(model_copy: Path) -> None:
    plain = load_model(model_copy, device="cpu")
    dim = int(plain.text_encoder.config.projection_dim)
    offset = torch.linspace(-0.5, 0.5, dim)
    (model_copy / CONDITIONING_FILE).write_text(json.dumps({"text_offset": offset.tolist()}))
    moved = load_model(model_copy, device="cpu")
    assert moved.content_hash != plain.content_hash  # a clip's sidecar names weights and offset together
    prompts = ["a glassy bell", ""]
    raw = clap.embed_text(plain.text_encoder, plain.tokenizer, prompts).float()
    got = text_embeddings(moved, prompts).float()
    assert torch.allclose(got[0], F.normalize(raw[0] + offset, dim=0), atol=1e-6)
    assert torch.allclose(got[1], raw[1])  # the unconditional branch trained on the empty text itself
    assert torch.allclose(text_embeddings(plain, prompts).float(), raw)  # no file: sampled as released
    req = GenerateRequest("a glassy bell", duration=1.0, steps=3, seed=2, normalize_db=None)
    a = Engine.load(model_copy, device="cpu").generate(req).audio
    (model_copy / CONDITIONING_FILE).unlink()
    b = Engine.load(model_copy, device="cpu").generate(req).audio
    assert a.shape == b.shape and not np.allclose(a, b)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "unreadable"),
        ('{"offset": [1, 2]}', "unreadable"),
        ('{"text_offset": [0.1, 0.2]}', "finite numbers"),
        ('{"text_offset": "NaN"}', "unreadable"),
    ],
)
def test_a_malformed_offset_file_is_refused_clearly(model_copy: Path, content: str, said: str) -> None:
    (model_copy / CONDITIONING_FILE).write_text(content)
    with pytest.raises(ModelLoadError, match=said) as info:
        load_model(model_copy, device="cpu")
    assert CONDITIONING_FILE in str(info.value)


def test_nan_in_the_offset_is_refused(model_copy: Path) -> None:
    dim = int(load_model(model_copy, device="cpu").text_encoder.config.projection_dim)
    values = [0.0] * dim
    values[3] = float("nan")
    (model_copy / CONDITIONING_FILE).write_text(json.dumps({"text_offset": values}))
    with pytest.raises(ModelLoadError, match="finite numbers"):
        load_model(model_copy, device="cpu")


def test_train_text_offset_measures_the_gap_and_writes_it(
    model_copy: Path, captioned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "text-offset", "--model", str(model_copy), "--data", str(captioned)]) == 0
    info = json.loads((model_copy / CONDITIONING_FILE).read_text())
    assert info["pairs"] == 6 and info["captions"] == 6
    m = load_model(model_copy, device="cpu")
    assert m.text_offset is not None and m.text_offset.shape == (int(m.text_encoder.config.projection_dim),)
    # the offset is the difference of the two means: shifted captions sit closer to their clips on average
    assert info["paired_cosine"]["after"] > info["paired_cosine"]["before"]
    assert "written into" in capsys.readouterr().out


def test_train_text_offset_needs_captions_and_a_clap(
    model_copy: Path,
    tiny_model_dir_no_clap: Path,
    captioned: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    sf.write(bare / "x.wav", np.zeros(16000, np.float32), 16000)
    assert main(["train", "text-offset", "--model", str(model_copy), "--data", str(bare)]) == 2
    assert "no (audio, caption) pairs" in capsys.readouterr().err
    no_clap = Path(shutil.copytree(tiny_model_dir_no_clap, tmp_path / "noclap"))
    assert main(["train", "text-offset", "--model", str(no_clap), "--data", str(captioned)]) == 2
    assert "no clap/ audio tower" in capsys.readouterr().err
    assert not (no_clap / CONDITIONING_FILE).exists() and not (model_copy / CONDITIONING_FILE).exists()
