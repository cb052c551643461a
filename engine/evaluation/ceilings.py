"""What each stage of a model loses, measured on the real held-out clips: the classifier's accuracy on their
log-mels, on the vocoder's audio from those mels, on the VAE's reconstruction of them, and on the vocoder's audio
from that reconstruction.

A generated clip goes through the LDM, the VAE decoder and the vocoder; its category accuracy can be no better
than what the VAE and the vocoder keep of a real clip. Comparing ``accuracy`` (generated) with these ceilings says
which stage to train next: far below ``vae_and_vocoder`` means the diffusion model; a low ``vocoder_on_real_mel``
means the vocoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audioldm_daw.engine.evaluation.classifier import Classifier, read_split
from audioldm_daw.engine.mel import log_mel


@torch.no_grad()
def stage_ceilings(
    model_dir: str | Path, dataset: Path, classifier: Classifier, limit: int | None = None
) -> dict[str, Any]:
    """Classifier accuracy at each stage on the held-out split of ``dataset`` (``limit``: its first N clips)."""
    from audioldm_daw.engine.training.components import load_vae, load_vocoder

    waves, cats = read_split(Path(dataset), "test")
    waves, cats = waves[:limit], cats[:limit]
    vae, vocoder = load_vae(model_dir).eval(), load_vocoder(model_dir).eval()
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    mels = [log_mel(torch.as_tensor(w, dtype=torch.float32)) for w in waves]
    recon = []
    for m in mels:
        frames = m.shape[0] // factor * factor
        z = vae.encode(m[None, None, :frames]).latent_dist.mode()
        recon.append(vae.decode(z).sample[0, 0])

    def hits(probs: np.ndarray) -> float:
        return float(np.mean([classifier.labels[k] == c for k, c in zip(probs.argmax(1), cats, strict=True)]))

    def voiced(ms: list[torch.Tensor]) -> list[np.ndarray]:
        return [vocoder(m[None]).squeeze(0).numpy() for m in ms]

    return {
        "clips": len(waves),
        "real_mel": hits(classifier.embed_mels(mels)[1]),
        "vocoder_on_real_mel": hits(classifier.embed(voiced(mels))[1]),
        "vae_reconstruction_mel": hits(classifier.embed_mels(recon)[1]),
        "vae_and_vocoder": hits(classifier.embed(voiced(recon))[1]),
        "vae_l1": float(np.mean([(r - m[: r.shape[0]]).abs().mean().item() for r, m in zip(recon, mels, strict=True)])),
    }
