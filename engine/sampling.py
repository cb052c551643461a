"""Denoising loops as plain functions over (unet, scheduler, latents, conditioning, callbacks).

One guided step function serves every loop: text-to-audio starts from pure noise at the first
timestep; the manipulations start later (style transfer) or overwrite a known region after each step
(inpainting, super-resolution) through the ``after_step`` hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from audioldm_daw.engine.errors import Cancelled

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


def step_kwargs(scheduler: Any, generator: torch.Generator | None, eta: float) -> dict[str, Any]:
    """Only pass what the scheduler's ``step`` accepts (DDIM takes eta, DPM-Solver does not)."""
    params = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in params:
        kwargs["eta"] = eta
    if "generator" in params:
        kwargs["generator"] = generator
    return kwargs


def guided_prediction(
    unet: DenoisingUNet, scheduler: Any, latents: torch.Tensor, t: torch.Tensor, c: Conditioning
) -> torch.Tensor:
    """The UNet's guided output at timestep ``t`` (classifier-free guidance in one batched call).

    What the output is (noise, or velocity for a v-prediction model) is the scheduler's business: its
    ``step`` reads the model's ``prediction_type`` from the same config, so the loop never needs to know.
    """
    if c.guided:
        x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        labels = torch.cat([c.uncond, c.cond])
        out = unet(x, t, encoder_hidden_states=None, class_labels=labels).sample
        out_u, out_c = out.chunk(2)
        return out_u + c.scale * (out_c - out_u)
    x = scheduler.scale_model_input(latents, t)
    return unet(x, t, encoder_hidden_states=None, class_labels=c.cond).sample


@torch.no_grad()
def denoise(
    unet: DenoisingUNet,
    scheduler: Any,
    latents: torch.Tensor,
    conditioning: Conditioning,
    *,
    start: int = 0,
    extra_step: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    after_step: AfterStepFn | None = None,
) -> torch.Tensor:
    """Run the scheduler's timesteps from index ``start`` to the end and return the clean latents.

    ``cancel`` is polled before every step (so a cancel lands within one step); ``progress`` is called
    after every step with (done, total); ``after_step(latents, index, t)`` may rewrite the latents
    (known-region replacement for inpainting and super-resolution).
    """
    timesteps = scheduler.timesteps[start:]
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled before step {i + 1} of {total}")
        prediction = guided_prediction(unet, scheduler, latents, t, conditioning)
        latents = scheduler.step(prediction, t, latents, **(extra_step or {})).prev_sample
        if after_step is not None:
            latents = after_step(latents, start + i, t)
        if progress is not None:
            progress(i + 1, total)
    return latents
