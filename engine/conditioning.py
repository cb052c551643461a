"""CLAP embeddings: the text condition at sampling time, the audio embedding for training/variation,
and audio-text similarity for re-ranking candidates.

AudioLDM conditions the UNet on one L2-normalised 512-d CLAP vector per clip (as the class embedding),
so text and audio embeddings are interchangeable as conditions; that is what lets training skip captions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine.errors import EngineError
from audioldm_daw.engine.model import AudioLDMModel

CLAP_AUDIO_RATE = 48000


@torch.no_grad()
def text_embeddings(model: AudioLDMModel, prompts: list[str]) -> torch.Tensor:
    """L2-normalised CLAP text embeddings (B, D) from the folder's text encoder, padded as in training."""
    tok = model.tokenizer(
        prompts,
        padding="max_length",
        max_length=model.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    out = model.text_encoder(tok.input_ids.to(model.device), attention_mask=tok.attention_mask.to(model.device))
    return F.normalize(out.text_embeds, dim=-1).to(model.dtype)


def require_clap(model: AudioLDMModel, why: str) -> None:
    """Raise a clear error when a feature needs the audio tower that this folder lacks."""
    if model.clap is None:
        raise EngineError(
            f"{why} needs a CLAP audio tower, and model folder {model.path} has no clap/ "
            "(a transformers ClapModel saved next to unet/, vae/ ...)"
        )


def _clap_audio_features(model: AudioLDMModel, waves: list[np.ndarray], sr: int) -> dict[str, torch.Tensor]:
    import torchaudio.functional as AF

    batch = []
    for w in waves:
        t = torch.as_tensor(np.asarray(w, dtype=np.float32))
        if sr != CLAP_AUDIO_RATE:
            t = AF.resample(t, sr, CLAP_AUDIO_RATE)
        batch.append(t.numpy())
    feats = model.clap_feature_extractor(batch, sampling_rate=CLAP_AUDIO_RATE, return_tensors="pt")
    return {k: v.to(model.device) for k, v in feats.items() if k in ("input_features", "is_longer")}


@torch.no_grad()
def audio_embeddings(model: AudioLDMModel, waves: list[np.ndarray], sr: int) -> torch.Tensor:
    """L2-normalised CLAP audio embeddings (B, D) of mono waveforms at rate ``sr``."""
    require_clap(model, "an audio embedding")
    out = model.clap.get_audio_features(**_clap_audio_features(model, waves, sr))
    return F.normalize(out.pooler_output.float(), dim=-1)


@torch.no_grad()
def clap_text_embeddings(model: AudioLDMModel, prompts: list[str]) -> torch.Tensor:
    """L2-normalised text embeddings from the folder's full CLAP model (for scoring, not conditioning)."""
    require_clap(model, "a CLAP text embedding")
    tok = model.clap_tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")
    out = model.clap.get_text_features(
        input_ids=tok.input_ids.to(model.device), attention_mask=tok.attention_mask.to(model.device)
    )
    return F.normalize(out.pooler_output.float(), dim=-1)


def clap_scores(model: AudioLDMModel, waves: list[np.ndarray], sr: int, prompt: str) -> list[float]:
    """Cosine similarity of each waveform to the prompt in CLAP space (higher is a better match)."""
    require_clap(model, "re-ranking candidates (candidates > 1)")
    a = audio_embeddings(model, waves, sr)
    t = clap_text_embeddings(model, [prompt])
    return [float(x) for x in (a @ t.T).squeeze(1).cpu()]
