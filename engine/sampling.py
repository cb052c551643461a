"""What the denoising loop is written over: the conditioning, the UNet as the loop calls it, the callbacks,
and the seed's initial noise.

The loop itself, one guided step function for every mode, is :func:`audioldm_daw.engine.fast_sampling.table_denoise`:
text-to-audio starts from pure noise at the first timestep; the manipulations start later (style transfer) or
overwrite a known region after each step (inpainting, super-resolution) through the ``after_step`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
AfterStepFn = Callable[[torch.Tensor, int, torch.Tensor], torch.Tensor]


@dataclass
class Conditioning:
    """The conditional and unconditional class embeddings (B, D) and the guidance scale.

    Guidance > 1 runs both branches in one batched UNet call; otherwise only the conditional one
    (the same rule as diffusers' pipelines, so outputs agree).
    """

    cond: torch.Tensor
    uncond: torch.Tensor
    scale: float

    @property
    def guided(self) -> bool:
        return self.scale > 1.0


class UNetOutput(Protocol):
    """What a denoising step reads from the UNet's answer (diffusers' ``UNet2DConditionOutput`` has it)."""

    @property
    def sample(self) -> torch.Tensor: ...


class DenoisingUNet(Protocol):
    """The UNet as the loop calls it: ``unet(latents, t, encoder_hidden_states=..., class_labels=...)``.

    A diffusers ``UNet2DConditionModel`` is one; so is :class:`audioldm_daw.engine.plans.CircularUNet`."""

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor, /, **kwargs: Any) -> UNetOutput: ...


def initial_noise(
    shape: tuple[int, ...], seed: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Generator]:
    """Seed -> initial latent noise: ``torch.randn`` on a CPU ``torch.Generator`` seeded with ``seed``.

    Drawing on the CPU and then moving makes one seed give the same clip on CPU, CUDA and MPS, and
    equals diffusers' ``randn_tensor`` with a CPU generator. The generator is returned because DDIM
    with eta > 0 keeps drawing from it, as diffusers does.
    """
    gen = torch.Generator("cpu").manual_seed(int(seed))
    noise = torch.randn(shape, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)
    return noise, gen
