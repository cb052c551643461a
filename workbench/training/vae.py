"""Stage ``vae``: diffusers AutoencoderKL on the paper's log-mel spectrograms.

The VAE sees (B, 1, frames, 64) log-mel crops and learns L1 reconstruction + a small KL term (optionally a
PatchGAN hinge loss after ``adv_start`` steps). Its export sets ``scaling_factor`` to 1 / std of the
latents of the training data, as Stable Diffusion does, so the LDM works on unit-variance latents.

``decoder_only`` trains on the decoder of a finished VAE (``init``) with its encoder frozen, as Stable
Diffusion's fine-tuned decoders were made: the latent space and its ``scaling_factor`` stay exactly as they
were, so LDMs already trained on that VAE stay valid and only their decoded mels get better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioldm_daw.engine.architecture import PRESETS, build_vae
from audioldm_daw.engine.mel import SILENCE
from audioldm_daw.workbench.training.components import load_vae
from audioldm_daw.workbench.training.data import BatchPlan, clip_mels, crop_start, fit, load_folder
from audioldm_daw.workbench.training.loop import OptimGroup, Stage, TrainConfig, UpdateFn
from audioldm_daw.workbench.training.losses import MelDiscriminator, hinge_d_loss, kl_per_element


@dataclass
class VaeOptions:
    """``seconds``: crop length (rounded up to the VAE's compression); the rest weigh the loss terms."""

    seconds: float = 2.56
    kl_weight: float = 1e-6
    adversarial: bool = False
    adv_weight: float = 0.1
    adv_start: int = 0
    scale_batches: int = 8
    init: Path | None = None  # start from this VAE (a run, model or vae folder)
    decoder_only: bool = False  # freeze the encoder (needs ``init``): the latent space stays the LDMs'


@torch.no_grad()
def fold_input_scale(vae: Any, mean: float, std: float) -> None:
    """Make a freshly built VAE see standardised log-mel and emit log-mel around the data's mean.

    Log-mel sits near -6 with a spread of about 3; a randomly initialised VAE outputs values near 0, and
    Adam moves each weight by about the learning rate per step, so reaching the data's level alone would take
    thousands of steps. Folding the standardisation into the first and last convolutions keeps the public
    layout (raw log-mel in and out, nothing extra in the config) and starts training at the right level.
    """
    conv_in, conv_out = vae.encoder.conv_in, vae.decoder.conv_out
    conv_in.bias -= (mean / std) * conv_in.weight.sum(dim=(1, 2, 3))
    conv_in.weight /= std
    conv_out.weight *= std
    conv_out.bias.mul_(std).add_(mean)


class _VaeForward(nn.Module):
    """encode -> sample -> decode in one ``forward``, so a DDP wrapper sees the whole graph."""

    def __init__(self, vae: Any, frozen_encoder: bool = False) -> None:
        super().__init__()
        self.vae = vae
        self.frozen_encoder = frozen_encoder
        if frozen_encoder:
            for part in (vae.encoder, vae.quant_conv):
                part.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_encoder):
            post = self.vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn_like(post.mean)
        return self.vae.decode(z).sample, post.mean, post.logvar


class VaeStage(Stage):
    name = "vae"
    default_lr = 3e-4

    def __init__(self, options: VaeOptions | None = None) -> None:
        super().__init__()
        self.opt = options or VaeOptions()
        if self.opt.decoder_only and self.opt.init is None:
            raise ValueError("decoder-only training needs --init, the finished VAE whose decoder trains on")

    def setup(self, acc: Any, cfg: TrainConfig) -> None:
        if cfg.data is None:
            raise ValueError("vae: --data is required")
        self.folder = load_folder(cfg.data, cfg.cache, cfg.captions, quiet=cfg.quiet, exclude=[cfg.out])
        self.mels = clip_mels(self.folder, cfg.cache, quiet=cfg.quiet)
        self.plan = BatchPlan(len(self.folder), cfg.batch_size, cfg.seed, acc.num_processes, acc.process_index)
        if self.opt.init is not None:
            vae = load_vae(self.opt.init)  # its own architecture, already at the data's scale
        else:
            vae = build_vae(PRESETS[cfg.preset])
            mean, std = self.mels.stats()
            # One level and spread for the whole image: the per-bin stats combined (law of total variance).
            fold_input_scale(vae, float(mean.mean()), float(np.sqrt((std**2 + (mean - mean.mean()) ** 2).mean())))
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.crop = max(factor, math.ceil(self.opt.seconds * 100 / factor) * factor)
        self.models = {"vae": _VaeForward(vae, frozen_encoder=self.opt.decoder_only)}
        self.groups = {"main": OptimGroup(["vae"], betas=(0.5, 0.9) if self.opt.adversarial else (0.9, 0.999))}
        if self.opt.adversarial:
            self.models["disc"] = MelDiscriminator()
            self.groups["disc"] = OptimGroup(["disc"], betas=(0.5, 0.9))

    def batch(self, step: int) -> torch.Tensor:
        rng = self.plan.rng(step)
        crops = []
        for i in self.plan.items(step):
            mel = self.mels.mel(i)
            s = crop_start(len(mel), self.crop, rng)
            crops.append(fit(mel[s : s + self.crop], self.crop, SILENCE))
        return torch.from_numpy(np.stack(crops)).unsqueeze(1).to(self.acc.device)

    def train_step(self, batch: torch.Tensor, step: int, update: UpdateFn) -> dict[str, float]:
        recon, mean, logvar = self.models["vae"](batch)
        rec = F.l1_loss(recon.float(), batch)
        kl = kl_per_element(mean.float(), logvar.float(), batch.numel())
        loss = rec + self.opt.kl_weight * kl
        out = {"rec": rec.item(), "kl": kl.item()}
        adv_on = self.opt.adversarial and step > self.opt.adv_start
        if adv_on:
            g_adv = -self.models["disc"](recon).float().mean()
            loss = loss + self.opt.adv_weight * g_adv
            out["g_adv"] = g_adv.item()
        update("main", loss)
        if adv_on:
            logits = self.models["disc"](torch.cat([batch, recon.detach()])).float()
            d_loss = hinge_d_loss(logits[: len(batch)], logits[len(batch) :])
            update("disc", d_loss)
            out["d_loss"] = d_loss.item()
        return {"loss": loss.item(), **out}

    @torch.no_grad()
    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        vae = acc.unwrap_model(self.models["vae"]).vae.eval()
        # Latent std over fixed crops of the training data (sampled from the posterior, as SD does).
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        zs, err = [], 0.0
        plan = BatchPlan(len(self.folder), cfg.batch_size, cfg.seed + 1)
        for k in range(1, min(self.opt.scale_batches, max(1, math.ceil(len(self.folder) / cfg.batch_size))) + 1):
            x = self.batch_with(plan, k).float()
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(x.device)
            zs.append(z.flatten().cpu())
            if k == 1:  # one batch is enough for a reconstruction figure in the summary
                err = F.l1_loss(vae.decode(post.mean).sample, x).item()
        std = float(torch.cat(zs).std())
        if self.opt.decoder_only:  # the encoder did not change: the LDMs' scale is the init's
            scale = float(vae.config.scaling_factor)
        else:
            scale = 1.0 / std if std > 0 else 1.0
            vae.register_to_config(scaling_factor=scale)
        vae.save_pretrained(cfg.out / "vae")
        return {"vae": str(cfg.out / "vae"), "scaling_factor": scale, "latent_std": std, "eval_l1": err}

    def batch_with(self, plan: BatchPlan, step: int) -> torch.Tensor:
        saved, self.plan = self.plan, plan
        try:
            return self.batch(step)
        finally:
            self.plan = saved
