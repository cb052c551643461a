"""CLAP embeddings of a loaded model: the text condition at sampling time, the audio embedding for
variation, and similarity scores for re-ranking candidates.

AudioLDM conditions the UNet on one L2-normalised CLAP vector per clip (as the class embedding), so text
and audio embeddings are interchangeable as conditions; that is what lets training skip captions. These
are thin model-level wrappers: the tokenisation, features and embedding code is :mod:`.clap`, shared with
training and evaluation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine import clap
from audioldm_daw.engine.errors import EngineError
from audioldm_daw.engine.model import AudioLDMModel


@torch.no_grad()
def text_embeddings(model: AudioLDMModel, prompts: list[str]) -> torch.Tensor:
    """L2-normalised CLAP text embeddings (B, D) in ``model.dtype`` from the folder's text encoder.

    With a text offset in the folder (a UNet trained on audio embeddings; engine/model.py), every prompt but
    the empty one is moved by it and normalised again: the empty prompt is the unconditional branch, which
    trained on the empty text's own embedding."""
    e = clap.embed_text(model.text_encoder, model.tokenizer, prompts)
    if model.text_offset is not None:
        shifted = F.normalize(e.float() + model.text_offset.to(e.device), dim=-1).to(e.dtype)
        keep = torch.tensor([bool(p.strip()) for p in prompts], device=e.device).unsqueeze(1)
        e = torch.where(keep, shifted, e)
    return e.to(model.dtype)


def prompt_truncation(model: AudioLDMModel, prompt: str) -> clap.Truncation | None:
    """None when ``prompt`` fits the text encoder's token limit, else what the condition actually sees."""
    return clap.text_truncation(model.tokenizer, prompt)


def require_clap(model: AudioLDMModel, why: str) -> None:
    """Raise a clear error when a feature needs the audio tower that this folder lacks."""
    if model.clap is None:
        raise EngineError(
            f"{why} needs a CLAP audio tower, and model folder {model.path} has no clap/ "
            "(a transformers ClapModel saved next to unet/, vae/ ...)"
        )


@torch.no_grad()
def audio_embeddings(model: AudioLDMModel, waves: list[np.ndarray], sr: int) -> torch.Tensor:
    """L2-normalised float32 CLAP audio embeddings (B, D) of mono waveforms at rate ``sr``.

    Features run in float64 on the CPU: that reproduces transformers' feature extractor, which earlier
    versions used, so a sidecar's variation regenerates the same audio.
    """
    require_clap(model, "an audio embedding")
    try:
        features = clap.ClapAudioFeatures(model.clap_feature_extractor, dtype=torch.float64)
    except ValueError as exc:
        raise EngineError(f"model folder {model.path}: clap/ {exc}") from exc
    tensors = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in waves]
    return clap.embed_audio(model.clap, features, tensors, sr)


def clap_scores(model: AudioLDMModel, waves: list[np.ndarray], sr: int, prompt: str) -> list[float]:
    """Cosine similarity of each waveform to the prompt in CLAP space (higher is a better match)."""
    require_clap(model, "re-ranking candidates (candidates > 1)")
    a = audio_embeddings(model, waves, sr)
    t = clap.embed_text(model.clap, model.clap_tokenizer, [prompt]).float()
    return [float(x) for x in (a @ t.T).squeeze(1).cpu()]


def clap_scores_against_audio(
    model: AudioLDMModel, waves: list[np.ndarray], sr: int, reference_wave: np.ndarray
) -> list[float]:
    """Cosine similarity of each waveform to ``reference_wave`` (same rate) in CLAP audio space.

    Ranks the candidates of a variation that has no prompt: the closest to the source clip wins. The
    reference is embedded on its own, so its embedding does not depend on how many candidates there are.
    """
    require_clap(model, "re-ranking candidates (candidates > 1)")
    a = audio_embeddings(model, waves, sr)
    ref = audio_embeddings(model, [reference_wave], sr)
    return [float(x) for x in (a @ ref.T).squeeze(1).cpu()]
