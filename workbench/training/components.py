"""Finding and loading the trained parts that later stages build on.

A stage's ``--vae`` / ``--clap`` / ``--vocoder`` may name the run folder of that stage (which holds
``vae/`` ...), a complete model folder (which holds all of them), or the component folder itself; all three
resolve to the same component, so the pipeline composes with published model folders too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ComponentError(ValueError):
    """A component folder is missing or incomplete."""


def component_dir(path: str | Path, name: str) -> Path:
    """``path/name`` when it holds a saved component, else ``path`` itself when it does."""
    p = Path(path)
    for cand in (p / name, p):
        if (cand / "config.json").is_file():
            return cand
    raise ComponentError(f"{name}: no {name}/config.json under {p} (expected a {name} run folder or model folder)")


def load_vae(path: str | Path) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(component_dir(path, "vae"))


def load_vocoder(path: str | Path) -> Any:
    from transformers import SpeechT5HifiGan

    return SpeechT5HifiGan.from_pretrained(component_dir(path, "vocoder"))


def load_unet(path: str | Path) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(component_dir(path, "unet"))


def load_tokenizer(*candidates: Path) -> Any:
    """The first folder among ``candidates`` that holds a tokenizer."""
    from transformers import AutoTokenizer

    for c in candidates:
        if (c / "tokenizer_config.json").is_file():
            return AutoTokenizer.from_pretrained(str(c))
    raise ComponentError(f"tokenizer: none found in {', '.join(str(c) for c in candidates)}")


def load_clap(path: str | Path) -> tuple[Any, Any, Any]:
    """(ClapModel, its tokenizer, its ClapFeatureExtractor) from a clap run, model folder or clap folder."""
    from transformers import ClapFeatureExtractor, ClapModel

    d = component_dir(path, "clap")
    model = ClapModel.from_pretrained(d)
    tok = load_tokenizer(d, d.parent / "tokenizer")
    if not (d / "preprocessor_config.json").is_file():
        raise ComponentError(f"clap: {d} has no preprocessor_config.json (the CLAP feature extractor)")
    return model, tok, ClapFeatureExtractor.from_pretrained(str(d))


def text_encoder_from_clap(clap: Any) -> Any:
    """A ClapTextModelWithProjection holding the CLAP model's own text tower and projection.

    AudioLDM conditions on CLAP text embeddings at sampling time and CLAP audio embeddings in training;
    both must live in one space, so the conditioning encoder *is* the trained CLAP's text half.
    """
    from transformers import ClapTextModelWithProjection

    te = ClapTextModelWithProjection(clap.config.text_config)
    te.text_model.load_state_dict(clap.text_model.state_dict())
    te.text_projection.load_state_dict(clap.text_projection.state_dict())
    return te.eval()
