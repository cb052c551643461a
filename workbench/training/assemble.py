"""Trained stages -> one model folder in the diffusers AudioLDM layout the engine loads.

The CLAP text tower doubles as ``text_encoder`` (a ClapTextModelWithProjection with the CLAP model's own
text weights), so the text embedding used at sampling and the audio embedding the LDM trained on share one
space. ``training.json`` records how the folder was made: the stages' settings and data, and for a
fine-tuned model its parent (id, path, content hash), so a clip's sidecar can be traced to its lineage.
``knows.json`` says what the model was trained on (the training data's kinds and a sample of its captions), so the
engine can warn about a prompt far from all of it (engine/knowledge.py).
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any

from audioldm_daw.engine.architecture import SCHEDULER_FILE, read_scheduler_config, save_model_folder
from audioldm_daw.engine.vocoders import GRIFFIN_LIM, write_preference
from audioldm_daw.workbench.dataset.knows import write_for_data
from audioldm_daw.workbench.training.components import (
    ComponentError,
    load_clap,
    load_unet,
    load_vae,
    load_vocoder,
    text_encoder_from_clap,
)

TRAINING_FILE = "training.json"
FORMAT = 1


def _stage_record(path: Path) -> dict[str, Any]:
    """A run folder's config and summary (empty for a folder that is not a training run)."""
    rec: dict[str, Any] = {"path": str(path)}
    for name in ("config.json", "summary.json"):
        f = path / name
        data = json.loads(f.read_text()) if f.is_file() else None
        if isinstance(data, dict) and "stage" in data:  # a component's own config.json is not a run record
            rec[name.removesuffix(".json")] = data
    return rec


def training_record(kind: str, **fields: Any) -> dict[str, Any]:
    """The common head of ``training.json``."""
    from audioldm_daw import __version__

    return {
        "format": FORMAT,
        "kind": kind,
        "engine_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **fields,
    }


def _unet_scheduler(unet: Path) -> dict[str, Any]:
    """The scheduler config the UNet trained under: beside it in its run or model folder."""
    folder = unet.parent if unet.name == "unet" and not (unet / SCHEDULER_FILE).is_file() else unet
    return read_scheduler_config(folder)


def assemble(
    out: Path,
    *,
    clap: Path,
    vae: Path,
    vocoder: Path,
    unet: Path,
    training: dict[str, Any] | None = None,
    decode_with: str = GRIFFIN_LIM,
) -> Path:
    """Write ``out`` from the four stages' outputs (run folders, model folders or component folders).

    ``decode_with``: the vocoder the folder asks the engine for (engine/vocoders.py). Griffin-Lim by default: the
    HiFi-GANs this pipeline trains are small, and a small HiFi-GAN renders every steady note at 100 Hz."""
    clap_model, tokenizer, fe = load_clap(clap)
    parts = {
        "unet": load_unet(unet),
        "vae": load_vae(vae),
        "text_encoder": text_encoder_from_clap(clap_model),
        "vocoder": load_vocoder(vocoder),
        "clap": clap_model,
    }
    u, v = parts["unet"].config, parts["vae"].config
    if int(u.in_channels) != int(v.latent_channels):
        raise ComponentError(f"assemble: UNet takes {u.in_channels} latent channels, VAE makes {v.latent_channels}")
    if int(u.projection_class_embeddings_input_dim or 0) != int(clap_model.config.projection_dim):
        raise ComponentError(
            f"assemble: UNet conditions on {u.projection_class_embeddings_input_dim}-d embeddings, "
            f"CLAP makes {clap_model.config.projection_dim}-d"
        )
    out = Path(out)
    save_model_folder(
        out, parts, tokenizer=tokenizer, feature_extractor=fe, scheduler_config=_unet_scheduler(Path(unet))
    )
    stages = {name: _stage_record(Path(p)) for name, p in (("clap", clap), ("vae", vae), ("vocoder", vocoder))}
    stages["ldm"] = _stage_record(Path(unet))
    record = training_record("assembled", parent=None, stages=stages)
    for k, val in (training or {}).items():
        if k == "stages":
            for s, extra in val.items():
                record["stages"].setdefault(s, {}).update(extra)
        else:
            record[k] = val
    (out / TRAINING_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    write_preference(out, decode_with)
    data = training_data(record["stages"])
    if data is not None:
        write_for_data(out, data)
    return out


def training_data(stages: dict[str, Any]) -> Path | None:
    """The data folder the captions came from: the CLAP stage's (its captions made the text space), else the
    LDM's; None when no run recorded one that still exists."""
    for name in ("clap", "ldm"):
        data = ((stages.get(name) or {}).get("config") or {}).get("config", {}).get("data")
        if data and Path(data).is_dir():
            return Path(data)
    return None


def derive_model_folder(parent: Path, unet: Any, out: Path, record: dict[str, Any]) -> Path:
    """A copy of model folder ``parent`` with a new ``unet`` and a ``training.json`` naming the parent.

    Everything else (scheduler config, tokenizer, text encoder, VAE, vocoder, clap/) is the parent's, byte
    for byte, because fine-tuning changes only the UNet. Files are copied, not hard-linked: ``save_pretrained``
    rewrites files in place, so re-saving the parent would silently change a linked child.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(
        parent,
        out,
        ignore=shutil.ignore_patterns("unet", TRAINING_FILE, ".*"),
    )
    unet.save_pretrained(out / "unet")
    (out / TRAINING_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out
