"""What each stage of a model loses, measured on the real held-out clips: the classifier's accuracy on their
log-mels, on the vocoder's audio from those mels, on the VAE's reconstruction of them, and on the vocoder's audio
from that reconstruction.

A generated clip goes through the LDM, the VAE decoder and the vocoder; its category accuracy can be no better
than what the VAE and the vocoder keep of a real clip. Comparing ``accuracy`` (generated) with these ceilings says
which stage to train next: far below ``vae_and_vocoder`` means the diffusion model; a low ``vocoder_on_real_mel``
means the vocoder. The same for pitch: steady notes through the vocoder, and through the VAE and the vocoder
(:mod:`.pitch`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audioldm_daw.engine.mel import log_mel
from audioldm_daw.workbench.evaluation.classifier import Classifier, read_split
from audioldm_daw.workbench.evaluation.pitch import vocoder_pitch


@torch.no_grad()
def stage_ceilings(
    model_dir: str | Path, dataset: Path, classifier: Classifier, limit: int | None = None, vocoder: str = "auto"
) -> dict[str, Any]:
    """Classifier accuracy at each stage on the held-out split of ``dataset`` (``limit``: its first N clips), and
    pitch through the vocoder (``vocoder``: as the engine chooses it, ``auto`` being the folder's choice)."""
    from audioldm_daw.engine.vocoders import load_vocoder
    from audioldm_daw.workbench.training.components import load_vae

    waves, cats = read_split(Path(dataset), "test")
    waves, cats = waves[:limit], cats[:limit]
    vae = load_vae(model_dir).eval()
    name, vocoder_module = load_vocoder(Path(model_dir), vocoder)
    vocoder_module.eval()
    factor = 2 ** (len(vae.config.block_out_channels) - 1)

    def through_vae(mel: torch.Tensor) -> torch.Tensor:
        frames = mel.shape[-2] // factor * factor
        return vae.decode(vae.encode(mel.reshape(1, 1, -1, mel.shape[-1])[:, :, :frames]).latent_dist.mode()).sample

    mels = [log_mel(torch.as_tensor(w, dtype=torch.float32)) for w in waves]
    recon = [through_vae(m)[0, 0] for m in mels]

    def hits(probs: np.ndarray) -> float:
        return float(np.mean([classifier.labels[k] == c for k, c in zip(probs.argmax(1), cats, strict=True)]))

    def voiced(ms: list[torch.Tensor]) -> list[np.ndarray]:
        return [vocoder_module(m[None]).squeeze(0).numpy() for m in ms]

    pitch_keys = ("median_abs_cents", "within_50_cents", "reference_within_50_cents", "lowest_hz", "highest_hz")
    return {
        "clips": len(waves),
        "vocoder": name,
        "real_mel": hits(classifier.embed_mels(mels)[1]),
        "vocoder_on_real_mel": hits(classifier.embed(voiced(mels))[1]),
        "vae_reconstruction_mel": hits(classifier.embed_mels(recon)[1]),
        "vae_and_vocoder": hits(classifier.embed(voiced(recon))[1]),
        "vae_l1": float(np.mean([(r - m[: r.shape[0]]).abs().mean().item() for r, m in zip(recon, mels, strict=True)])),
        "vocoder_pitch": {k: v for k, v in vocoder_pitch(vocoder_module).items() if k in pitch_keys},
        "vae_and_vocoder_pitch": {
            k: v for k, v in vocoder_pitch(lambda m: vocoder_module(through_vae(m)[:, 0])).items() if k in pitch_keys
        },
    }
