"""Losses and small discriminators for the VAE and vocoder stages.

The adversarial parts are optional (``--adversarial``): on a 2-core CPU the reconstruction losses alone
train a usable small model; the GAN terms sharpen it on a GPU. Discriminators are kept small (a few
hundred thousand weights) because they never ship in the model folder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Magnitude floor of the log-magnitude term, the log-mel's own floor: below it (about -100 dB under a
# full-scale bin) differences are inaudible, and a lower floor lets silent bins, where log(|S|) is
# arbitrarily negative, dominate the loss over the harmonics.
MAG_FLOOR = 1e-5
# (n_fft, hop, window) at 16 kHz: short, medium and long analysis windows (Parallel WaveGAN's recipe,
# scaled from 24 kHz).
STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((256, 64, 256), (512, 128, 512), (1024, 256, 1024))


def kl_per_element(mean: torch.Tensor, logvar: torch.Tensor, n_inputs: int) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over latent cells, divided by the number of input elements, so its
    weight means the same at any crop size (Stable Diffusion's sum-KL, sum-L1 ratio)."""
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.sum() / n_inputs


def multi_resolution_stft_loss(
    fake: torch.Tensor, real: torch.Tensor, resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over resolutions (waveforms (B, N))."""
    total = fake.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win, device=fake.device, dtype=fake.dtype)
        s_f = torch.stft(fake, n_fft, hop, win, window, return_complex=True).abs().clamp(min=MAG_FLOOR)
        s_r = torch.stft(real, n_fft, hop, win, window, return_complex=True).abs().clamp(min=MAG_FLOOR)
        sc = torch.linalg.norm(s_r - s_f, dim=(1, 2)) / torch.linalg.norm(s_r, dim=(1, 2)).clamp(min=1e-7)
        mag = F.l1_loss(torch.log(s_f), torch.log(s_r))
        total = total + sc.mean() + mag
    return total / len(resolutions)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


class MelDiscriminator(nn.Module):
    """A PatchGAN on (B, 1, frames, mels) spectrograms for the VAE's optional adversarial loss."""

    def __init__(self, channels: int = 32, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(1, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = channels
        for _ in range(1, layers):
            mods += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.GroupNorm(8, ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        mods += [nn.Conv2d(ch, 1, 3, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _PeriodDisc(nn.Module):
    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        ins = (1, *channels[:-1])
        self.convs = nn.ModuleList(nn.Conv2d(i, o, (5, 1), (3, 1), (2, 0)) for i, o in zip(ins, channels, strict=True))
        self.out = nn.Conv2d(channels[-1], 1, (3, 1), 1, (1, 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, n = x.shape
        if n % self.period:
            x = F.pad(x, (0, self.period - n % self.period), mode="reflect")
        h = x.view(b, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.out(h).flatten(1), feats


class _ScaleDisc(nn.Module):
    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        ins = (1, *channels[:-1])
        self.convs = nn.ModuleList(
            nn.Conv1d(i, o, 15 if k == 0 else 41, 1 if k == 0 else 4, 7 if k == 0 else 20, groups=1 if k == 0 else 4)
            for k, (i, o) in enumerate(zip(ins, channels, strict=True))
        )
        self.out = nn.Conv1d(channels[-1], 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = x.unsqueeze(1)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.out(h).flatten(1), feats


class WaveDiscriminator(nn.Module):
    """HiFi-GAN's multi-period (2, 3, 5, 7, 11) and a single-scale discriminator, slimmed down."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        self.discs = nn.ModuleList([*(_PeriodDisc(p, channels) for p in periods), _ScaleDisc((16, 32, 64, 64))])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(x) for d in self.discs]


def lsgan_d_loss(outputs: list[tuple[torch.Tensor, list[torch.Tensor]]], n_real: int) -> torch.Tensor:
    """Discriminator loss on one forward of ``cat([real, fake])`` (one call keeps DDP happy)."""
    total = outputs[0][0].new_zeros(())
    for logits, _ in outputs:
        real, fake = logits[:n_real], logits[n_real:]
        total = total + (1 - real).pow(2).mean() + fake.pow(2).mean()
    return total


def lsgan_g_loss(
    fake_out: list[tuple[torch.Tensor, list[torch.Tensor]]], real_out: list[tuple[torch.Tensor, list[torch.Tensor]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature matching) generator terms, HiFi-GAN style."""
    adv = fake_out[0][0].new_zeros(())
    fm = fake_out[0][0].new_zeros(())
    for (logits, f_feats), (_, r_feats) in zip(fake_out, real_out, strict=True):
        adv = adv + (1 - logits).pow(2).mean()
        for a, b in zip(f_feats, r_feats, strict=True):
            fm = fm + F.l1_loss(a, b.detach())
    return adv, fm
