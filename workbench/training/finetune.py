"""Fine-tuning an existing model's UNet on a folder of the user's own, uncaptioned audio.

The paper's point: the LDM learns from CLAP *audio* embeddings, so a sample folder needs no captions. The
parent's VAE and CLAP stay frozen (latents and embeddings are the ones the parent samples with), the UNet
starts from the parent's weights, and the result is a new model folder ``OUT/model`` that is the parent
with a new ``unet/`` and a ``training.json`` naming the parent (id, path, content hash).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audioldm_daw.engine.errors import EngineError
from audioldm_daw.workbench.training.assemble import TRAINING_FILE, derive_model_folder, training_record
from audioldm_daw.workbench.training.ldm import LdmOptions, LdmStage
from audioldm_daw.workbench.training.loop import TrainConfig, TrainResult, run


@dataclass
class FinetuneResult:
    """The new model folder and the training run behind it."""

    model_dir: Path
    train: TrainResult
    skipped: int


class FinetuneStage(LdmStage):
    """The LDM stage started from a parent model; its export writes the derived model folder."""

    name = "finetune"
    default_lr = 5e-5

    def __init__(self, options: LdmOptions, parent_id: str, parent_dir: Path) -> None:
        super().__init__(options)
        self.parent_id, self.parent_dir = parent_id, parent_dir

    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        from audioldm_daw.engine.model import content_hash

        info = super().export(acc, cfg)
        parent_training = None
        if (self.parent_dir / TRAINING_FILE).is_file():
            parent_training = json.loads((self.parent_dir / TRAINING_FILE).read_text())
        record = training_record(
            "finetune",
            parent={"id": self.parent_id, "path": str(self.parent_dir), "hash": content_hash(self.parent_dir)},
            lineage=[*(parent_training or {}).get("lineage", []), {"id": self.parent_id, "path": str(self.parent_dir)}],
            data=self.folder.info(),
            condition=self.opt.condition,
            steps=cfg.steps,
            config=cfg.to_json(),
            options=self.info(),
        )
        unet = acc.unwrap_model(self.models["unet"])
        info["model"] = str(derive_model_folder(self.parent_dir, unet, cfg.out / "model", record))
        return info


def finetune(
    model: str, cfg: TrainConfig, seconds: float = 5.12, crops_per_clip: int = 4, cond_drop: float = 0.1
) -> FinetuneResult:
    """Fine-tune ``model`` (folder or hub id) on ``cfg.data``; the new folder is ``cfg.out / "model"``."""
    from audioldm_daw.engine.model import check_layout, resolve_model_dir

    model_id, path = resolve_model_dir(model)
    check_layout(path)
    if not (path / "clap").is_dir():
        raise EngineError(
            f"finetune: model folder {path} has no clap/ (a CLAP model with its audio tower); fine-tuning on "
            "uncaptioned audio conditions on CLAP audio embeddings, so it needs one"
        )
    if (cfg.out / "model").resolve() == path.resolve():
        raise EngineError(f"finetune: --out {cfg.out} would overwrite the parent model {path}; pick another folder")
    opts = LdmOptions(
        vae=path,
        clap=path,
        condition="audio",
        seconds=seconds,
        crops_per_clip=crops_per_clip,
        cond_drop=cond_drop,
        init_unet=path,
        text_encoder=path,
        scheduler_config=json.loads((path / "scheduler" / "scheduler_config.json").read_text()),
    )
    stage = FinetuneStage(opts, model_id, path)
    result = run(stage, cfg)
    return FinetuneResult(cfg.out / "model", result, len(stage.folder.skipped))
