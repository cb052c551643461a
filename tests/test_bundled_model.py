"""The bundled model: in the repository, loads offline through the same code as any folder, makes clips of the
exact length, and is the very folder its card describes (content hash); found through its package (audioldm_daw.models)
in an editable install as in a wheel."""

from __future__ import annotations

import re

import numpy as np

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.model import bundled_model_dir, content_hash, default_model


def test_the_bundled_model_is_the_default_and_matches_its_card(monkeypatch) -> None:
    monkeypatch.delenv("AUDIOLDM_DAW_MODEL", raising=False)
    folder = bundled_model_dir()
    assert default_model() == str(folder)
    card = (folder / "README.md").read_text()
    recorded = re.search(r"Content hash of the folder less this card: `([0-9a-f]{64})`", card)
    assert recorded, "the card names the folder's content hash"
    assert content_hash(folder, skip=("README.md",)) == recorded.group(1)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 20 * 2**20, f"{size / 2**20:.1f} MB: the bundled model must stay under 20 MB"


def test_the_bundled_model_generates_the_exact_length_offline() -> None:
    engine = Engine.load(bundled_model_dir(), device="cpu")
    assert engine.model.clap is not None  # variation and candidate ranking work out of the box
    clip = engine.generate(GenerateRequest("a low piano melody", duration=1.37, steps=3, seed=1, sample_rate=44100))
    assert len(clip.audio) == round(1.37 * 44100)
    assert np.all(np.isfinite(clip.audio)) and float(np.max(np.abs(clip.audio))) > 0.1


def test_the_bundled_model_decodes_with_the_vocoder_its_card_names() -> None:
    """Griffin-Lim by its decode.json, as the card says; the HiFi-GAN stays in the folder for diffusers and
    ``--vocoder hifigan``, and gives a clip of the same length."""
    folder = bundled_model_dir()
    engine = Engine.load(folder, device="cpu")
    assert engine.model.vocoder_name == "griffin-lim"
    assert "Decodes with: Griffin-Lim" in (folder / "README.md").read_text()
    hifi = Engine.load(folder, device="cpu", vocoder="hifigan")
    req = GenerateRequest("a slow flute melody", duration=0.9, steps=2, seed=4, sample_rate=16000)
    assert len(engine.generate(req).audio) == len(hifi.generate(req).audio) == 14400


def test_the_editable_install_finds_it_through_the_package_and_answers_with_the_checkouts_folder() -> None:
    """importlib.resources reaches the model through the strict editable install's link tree (as it reaches an
    installed wheel's copy); the folder returned is the checkout's own, so a file added later is seen."""
    from importlib.resources import files
    from pathlib import Path

    through_package = Path(str(files("audioldm_daw.models"))) / "audioldm-daw-mini"
    assert (through_package / "model_index.json").is_file()
    checkout = Path(__file__).resolve().parent.parent / "models" / "audioldm-daw-mini"
    assert bundled_model_dir() == checkout
    assert (through_package / "model_index.json").resolve() == checkout / "model_index.json"
