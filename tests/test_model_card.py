"""scripts/model_card.py: the bundled model's card states the folder's hash, both models' figures and, when the
evaluation measured them, what each stage of the model lets through."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from audioldm_daw.engine.model import content_hash

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "model_card.py"


def _card_module() -> Any:
    spec = importlib.util.spec_from_file_location("model_card", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _report(acc: float, ceilings: bool) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "prompts": 140,
        "steps": 25,
        "guidance": 2.5,
        "accuracy": acc,
        "accuracy_per_category": {"bass": acc, "noise": 1.0},
        "accuracy_decoded_mel": acc + 0.1,
        "fd": 30.0,
        "kl": 2.0,
        "clap_score": 0.3,
        "classifier_accuracy_on_real": 0.99,
    }
    if ceilings:
        rep["ceilings"] = {
            "clips": 140,
            "real_mel": 0.99,
            "vocoder_on_real_mel": 0.47,
            "vae_reconstruction_mel": 0.64,
            "vae_and_vocoder": 0.31,
            "vae_l1": 0.97,
        }
    return rep


def test_card_names_the_hash_both_models_and_the_stage_ceilings(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.08, False), _report(0.21, True)], "bash x.sh", ["- old"], "text")
    assert f"`{content_hash(folder, skip=('README.md',))}`" in text
    assert "| category accuracy | 8% | 21% |" in text
    assert "| through the vocoder | 47% |" in text and "| through the VAE and the vocoder | 31% |" in text
    assert "| generated from their prompts (for comparison) | 21% |" in text
    assert "not reached yet" in text and text.rstrip().endswith("- old")


def test_card_without_ceilings_has_no_such_section(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.72, False), _report(0.75, False)], "bash x.sh", [], "audio")
    assert "What limits it" not in text and "is reached." in text
