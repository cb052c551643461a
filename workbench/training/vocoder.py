"""Stage ``vocoder``: transformers SpeechT5HifiGan from the paper's log-mel to 16 kHz audio.

Short segments (HiFi-GAN trains on ~0.5 s) cut on the mel frame grid: the input is the slice of the clip's
cached mel, the target the matching samples ``[f0 * 160, (f0 + n) * 160)``. Losses: L1 between the log-mel
of the output and of the target, plus a multi-resolution STFT loss; optionally HiFi-GAN's adversarial and
feature-matching terms from a slim multi-period/multi-scale discriminator after ``adv_start`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine.architecture import HOP, PRESETS, build_vocoder
from audioldm_daw.engine.mel import SILENCE, log_mel
from audioldm_daw.workbench.training.components import load_vocoder
from audioldm_daw.workbench.training.data import BatchPlan, clip_mels, crop_start, fit, load_folder
from audioldm_daw.workbench.training.loop import OptimGroup, Stage, TrainConfig, UpdateFn
from audioldm_daw.workbench.training.losses import (
    WaveDiscriminator,
    lsgan_d_loss,
    lsgan_g_loss,
    multi_resolution_stft_loss,
)


@torch.no_grad()
def fold_input_scale(vocoder: Any, mean: np.ndarray, std: np.ndarray) -> None:
    """Let a fresh HiFi-GAN see per-bin standardised log-mel without changing its public layout.

    The same idea as the VAE's: raw log-mel (about -6 +- 3) into a randomly initialised ``conv_pre`` gives
    large, biased activations that the first steps spend undoing; folding the standardisation into
    ``conv_pre`` starts from unit-scale activations. (``normalize_before`` would do it too, but it is a
    config flag the decode graph would have to carry.)
    """
    conv = vocoder.conv_pre
    m, s = torch.from_numpy(mean).to(conv.weight), torch.from_numpy(std).to(conv.weight)
    conv.bias -= (conv.weight * (m / s)[None, :, None]).sum(dim=(1, 2))
    conv.weight /= s[None, :, None]


@dataclass
class VocoderOptions:
    """``segment_frames``: mel frames per training segment (64 = 0.64 s = 10240 samples)."""

    segment_frames: int = 64
    mel_weight: float = 1.0
    stft_weight: float = 1.0
    adversarial: bool = False
    adv_weight: float = 0.05
    fm_weight: float = 0.1
    adv_start: int = 0
    init: Path | None = None  # start from these weights (a finished run, model or vocoder folder)


class VocoderStage(Stage):
    name = "vocoder"
    default_lr = 2e-4

    def __init__(self, options: VocoderOptions | None = None) -> None:
        super().__init__()
        self.opt = options or VocoderOptions()

    def setup(self, acc: Any, cfg: TrainConfig) -> None:
        if cfg.data is None:
            raise ValueError("vocoder: --data is required")
        self.folder = load_folder(cfg.data, cfg.cache, cfg.captions, quiet=cfg.quiet, exclude=[cfg.out])
        self.mels = clip_mels(self.folder, cfg.cache, quiet=cfg.quiet)
        self.plan = BatchPlan(len(self.folder), cfg.batch_size, cfg.seed, acc.num_processes, acc.process_index)
        if self.opt.init is not None:
            vocoder = load_vocoder(self.opt.init)  # its own architecture; already at the data's scale
        else:
            vocoder = build_vocoder(PRESETS[cfg.preset])
            fold_input_scale(vocoder, *self.mels.stats())
        self.models = {"vocoder": vocoder}
        self.groups = {"main": OptimGroup(["vocoder"], betas=(0.8, 0.99))}
        if self.opt.adversarial:
            self.models["disc"] = WaveDiscriminator()
            self.groups["disc"] = OptimGroup(["disc"], betas=(0.8, 0.99))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.plan.rng(step)
        n = self.opt.segment_frames
        mels, waves = [], []
        for i in self.plan.items(step):
            mel = self.mels.mel(i)
            f0 = crop_start(len(mel), n, rng)
            mels.append(fit(mel[f0 : f0 + n], n, SILENCE))
            waves.append(fit(self.folder.wave(i)[f0 * HOP : (f0 + n) * HOP], n * HOP))
        dev = self.acc.device
        return torch.from_numpy(np.stack(mels)).to(dev), torch.from_numpy(np.stack(waves)).to(dev)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int, update: UpdateFn) -> dict[str, float]:
        mel, wave = batch
        # Kernels that are not 2x the stride (the small presets) make a few extra samples at the end.
        fake = self.models["vocoder"](mel).float()[:, : wave.shape[1]]
        mel_l1 = F.l1_loss(log_mel(fake), log_mel(wave))
        stft = multi_resolution_stft_loss(fake, wave)
        loss = self.opt.mel_weight * mel_l1 + self.opt.stft_weight * stft
        out = {"mel": mel_l1.item(), "stft": stft.item()}
        adv_on = self.opt.adversarial and step > self.opt.adv_start
        if adv_on:
            disc = self.models["disc"]
            both = disc(torch.cat([wave, fake]))
            real_out = [(lg[: len(wave)], [f[: len(wave)] for f in fs]) for lg, fs in both]
            fake_out = [(lg[len(wave) :], [f[len(wave) :] for f in fs]) for lg, fs in both]
            adv, fm = lsgan_g_loss(fake_out, real_out)
            loss = loss + self.opt.adv_weight * adv + self.opt.fm_weight * fm
            out |= {"g_adv": adv.item(), "fm": fm.item()}
        update("main", loss)
        if adv_on:
            d_loss = lsgan_d_loss(self.models["disc"](torch.cat([wave, fake.detach()])), len(wave))
            update("disc", d_loss)
            out["d_loss"] = d_loss.item()
        return {"loss": loss.item(), **out}

    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        vocoder = acc.unwrap_model(self.models["vocoder"])
        vocoder.save_pretrained(cfg.out / "vocoder")
        return {"vocoder": str(cfg.out / "vocoder")}
