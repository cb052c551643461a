"""Seconds -> samples -> mel frames -> latent cells: the one rule, as a value on the loaded model.

The engine, the ONNX export and its backend selection, and training all size latents from durations;
computed in one place, a clip of any length maps to the same latent everywhere. This module imports
nothing heavy, so a door can use it before torch is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Geometry:
    """The time and frequency grid of one model.

    ``hop`` is the vocoder's total upsampling (waveform samples per mel frame), ``vae_factor`` the VAE's
    compression along both mel axes, ``unet_multiple`` the UNet's total downsampling along time (a latent's
    length must divide by it).
    """

    sample_rate: int
    hop: int
    mel_bins: int
    vae_factor: int
    unet_multiple: int
    latent_channels: int

    @classmethod
    def of(cls, unet_config: Any, vae_config: Any, vocoder_config: Any) -> Geometry:
        """The geometry of a model folder's configs (diffusers UNet and VAE, transformers HiFi-GAN)."""
        return cls.of_mel(
            int(vocoder_config.sampling_rate),
            vocoder_hop(vocoder_config),
            int(vocoder_config.model_in_dim),
            vae_config,
            unet_config,
        )

    @classmethod
    def of_mel(
        cls, sample_rate: int, hop: int, mel_bins: int, vae_config: Any, unet_config: Any | None = None
    ) -> Geometry:
        """The geometry of a mel setting (rate, hop, bins) through a VAE and, when given, a UNet.

        Training uses it before any vocoder exists. Without a UNet (the ONNX export has only the decode
        half) the time multiple is 1 and the latent channels are the VAE's.
        """
        return cls(
            sample_rate=int(sample_rate),
            hop=int(hop),
            mel_bins=int(mel_bins),
            vae_factor=2 ** (len(vae_config.block_out_channels) - 1),
            unet_multiple=1 if unet_config is None else 2 ** (len(unet_config.block_out_channels) - 1),
            latent_channels=int(vae_config.latent_channels if unet_config is None else unet_config.in_channels),
        )

    @classmethod
    def of_decoder(cls, vae_config: Any, vocoder_config: Any) -> Geometry:
        """The geometry of the decode half alone (VAE + vocoder, no UNet): see :meth:`of_mel`."""
        return cls.of_mel(
            int(vocoder_config.sampling_rate),
            vocoder_hop(vocoder_config),
            int(vocoder_config.model_in_dim),
            vae_config,
        )

    @property
    def latent_bins(self) -> int:
        """Latent size along frequency."""
        return self.mel_bins // self.vae_factor

    @property
    def samples_per_cell(self) -> int:
        """Waveform samples per latent time cell (640 at the public checkpoints' 16 kHz, hop 160, factor 4)."""
        return self.hop * self.vae_factor

    @property
    def cell_seconds(self) -> float:
        """Seconds per latent time cell."""
        return self.samples_per_cell / self.sample_rate

    def samples(self, seconds: float) -> int:
        """Waveform samples at the native rate for ``seconds`` (the length a clip is cut to)."""
        return round(seconds * self.sample_rate)

    def cells(self, seconds: float) -> int:
        """Latent time cells covering ``seconds``: mel frames rounded up to the VAE's factor only, as
        diffusers' AudioLDM pipeline sizes its latent (its UNet takes any length). Where diffusers' own count
        (it floors the frames) falls one cell short of the duration, this is one cell longer, so the clip is
        never shorter than asked; the decoded waveform is then cut to :meth:`samples`."""
        frames = math.ceil(self.samples(seconds) / self.hop)
        return max(1, math.ceil(frames / self.vae_factor))

    def unet_cells(self, seconds: float) -> int:
        """:meth:`cells` rounded up to the UNet's multiple: the latent length of recipe 1 (clips made before
        version 0.2, recalled exactly) and of training crops (batches of one fixed, UNet-friendly length)."""
        mult = self.unet_multiple
        return max(mult, math.ceil(self.cells(seconds) / mult) * mult)

    def cells_for(self, seconds: float, recipe: int) -> int:
        """The latent length a request of ``recipe`` uses for ``seconds`` (see ``request.RECIPE``)."""
        return self.unet_cells(seconds) if recipe < 2 else self.cells(seconds)

    def loop_cells(self, seconds: float) -> int:
        """Cells of one loop period: the nearest whole number of cells (at most half a cell off, then
        resampled to the exact length), since a circular latent cannot be cut."""
        return max(1, round(self.samples(seconds) / self.samples_per_cell))

    def whole_cells(self, n_samples: int) -> int:
        """Latent cells that ``n_samples`` of audio fill completely (the known part of a continuation)."""
        return (n_samples // self.hop) // self.vae_factor

    def cell_at(self, seconds: float) -> int:
        """The cell that contains time ``seconds`` (floor)."""
        return math.floor(seconds / self.cell_seconds)

    def cell_after(self, seconds: float) -> int:
        """The first cell that starts at or after ``seconds`` (ceil)."""
        return math.ceil(seconds / self.cell_seconds)

    def latent_shape(self, batch: int, cells: int) -> tuple[int, int, int, int]:
        """(batch, channels, cells, bins) of a latent."""
        return (batch, self.latent_channels, cells, self.latent_bins)


def vocoder_hop(vocoder_config: Any) -> int:
    """Waveform samples per mel frame of a HiFi-GAN: the product of its upsampling rates."""
    hop = 1
    for r in vocoder_config.upsample_rates:
        hop *= int(r)
    return hop
