"""The text-to-audio offset of a CLAP, measured on (audio, caption) pairs, for a UNet trained on audio embeddings.

The paper trains its diffusion model on CLAP audio embeddings and samples it with text embeddings, relying on
CLAP's shared space. A CLAP trained on a few thousand pairs leaves the two modalities apart (a mean text
embedding and a mean audio embedding that point different ways), so the text a musician types lands where the
UNet saw few conditions. The offset between the two means, added to a prompt's embedding before it is
normalised again, moves it there. It is a property of the CLAP and its paired data: the UNet still trains on
audio alone. On the project's small model it raised the audio-trained UNet's category accuracy on held-out text
prompts (the model card, models/audioldm-daw-mini/README.md, gives the scores).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from audioldm_daw.engine import clap
from audioldm_daw.engine.conditioning import audio_embeddings
from audioldm_daw.engine.model import CONDITIONING_FILE, AudioLDMModel, load_model
from audioldm_daw.workbench.training.data import SAMPLE_RATE, DataError, load_audio, read_captions

BATCH = 32


@torch.no_grad()
def measure_text_offset(model: AudioLDMModel, captions: dict[Path, list[str]]) -> dict[str, Any]:
    """Mean audio embedding minus mean text embedding over the pairs (each clip's captions averaged first, so
    a clip with many phrasings weighs as much as one with a single caption), with the mean cosine between
    each clip's audio and its captions before and after the shift."""
    files = sorted(captions)
    if not files:
        raise DataError("text offset: no (audio, caption) pairs to measure on")
    audio, text = [], []
    for i in range(0, len(files), BATCH):
        chunk = files[i : i + BATCH]
        audio.append(audio_embeddings(model, [load_audio(f, SAMPLE_RATE) for f in chunk], SAMPLE_RATE).cpu())
        for f in chunk:
            e = clap.embed_text(model.text_encoder, model.tokenizer, captions[f]).float().cpu()
            text.append(F.normalize(e.mean(0), dim=0))
    a, t = torch.cat(audio), torch.stack(text)
    offset = a.mean(0) - t.mean(0)
    moved = F.normalize(t + offset, dim=1)
    return {
        "text_offset": [round(float(v), 7) for v in offset],
        "pairs": len(files),
        "captions": sum(len(captions[f]) for f in files),
        "paired_cosine": {
            "before": round(float((a * t).sum(1).mean()), 4),
            "after": round(float((a * moved).sum(1).mean()), 4),
        },
    }


def write_text_offset(model_dir: Path, data: Path, captions_file: Path | None = None) -> dict[str, Any]:
    """Measure the offset of ``model_dir``'s CLAP on ``data``'s captioned clips and write it into the folder
    (``conditioning.json``), which the engine then applies to every prompt. Needs the folder's clap/ tower."""
    model = load_model(model_dir, device="cpu", dtype="fp32")
    if model.clap is None:
        raise DataError(f"text offset: model folder {model_dir} has no clap/ audio tower to embed the clips with")
    pairs = {p: c for p, c in read_captions(Path(data), captions_file).items() if p.is_file()}
    info = measure_text_offset(model, pairs)
    info["data"] = str(data)
    (Path(model_dir) / CONDITIONING_FILE).write_text(json.dumps(info) + "\n")
    return info
