"""AudioLDM's HiFi-GAN (``first_stage_model.vocoder``) -> transformers' ``SpeechT5HifiGan``.

The original builds one fixed vocoder (16 kHz, 64 mel bins, hop 160; weight norm removed before saving),
and its upsampling strides are not in the weights, so the config is that vocoder's, checked against the
tensor shapes.
"""

from __future__ import annotations

from typing import Any

import torch

from audioldm_daw.workbench.convert.errors import ConversionError

PREFIX = "first_stage_model.vocoder."

CONFIG: dict[str, Any] = {
    "model_in_dim": 64,
    "sampling_rate": 16000,
    "upsample_initial_channel": 1024,
    "upsample_rates": [5, 4, 2, 2, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4, 4],
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "normalize_before": False,
}


def convert(state: dict[str, torch.Tensor]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, state dict) for SpeechT5HifiGan; ``ups.i`` is ``upsampler.i`` there."""
    w = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
    if not w:
        raise ConversionError("vocoder: the checkpoint has no first_stage_model.vocoder.* (AudioLDM's HiFi-GAN)")
    if any(k.endswith(("weight_g", "weight_v")) for k in w):
        raise ConversionError("vocoder: weight-normalised HiFi-GAN tensors (weight_g/weight_v); expected plain weights")
    cfg = dict(CONFIG)
    pre = w.get("conv_pre.weight")
    kernels = [int(w[f"ups.{i}.weight"].shape[-1]) for i in range(len(cfg["upsample_rates"])) if f"ups.{i}.weight" in w]
    if (
        pre is None
        or tuple(pre.shape[:2]) != (cfg["upsample_initial_channel"], cfg["model_in_dim"])
        or kernels != (cfg["upsample_kernel_sizes"])
    ):
        got = None if pre is None else tuple(pre.shape)
        raise ConversionError(
            f"vocoder: expected AudioLDM's HiFi-GAN (conv_pre 1024x64, upsampling kernels 16,16,8,4,4), "
            f"got conv_pre {got} and kernels {kernels}"
        )
    out = {}
    for name, value in w.items():
        out["upsampler" + name[3:] if name.startswith("ups.") else name] = value
    out["mean"] = torch.zeros(cfg["model_in_dim"])
    out["scale"] = torch.ones(cfg["model_in_dim"])
    return cfg, out
