"""The decode stage (scaled latent -> waveform) behind a small protocol.

The engine only knows :class:`DecodeBackend`; ``audioldm_daw.export`` provides an ONNX Runtime
implementation and hands it in, so the engine never imports the export package (arrows point one way).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class DecodeBackend(Protocol):
    """Turns scaled VAE latents (B, C, T, F) into waveforms (B, N) at the vocoder's native rate."""

    name: str

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Return float32 waveforms; may run on any device, the caller moves the result."""
        ...


class TorchDecoder:
    """VAE decoder + HiFi-GAN vocoder in torch: the reference backend, always available."""

    name = "torch"

    def __init__(self, vae: torch.nn.Module, vocoder: torch.nn.Module) -> None:
        # diffusers' AutoencoderKL and transformers' SpeechT5HifiGan: read through their configs and
        # output objects, which nn.Module's hints do not describe
        self.vae: Any = vae
        self.vocoder: Any = vocoder

    @torch.no_grad()
    def mel(self, latents: torch.Tensor) -> torch.Tensor:
        """Log-mel spectrogram (B, T, n_mels) from scaled latents."""
        z = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(z).sample.squeeze(1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Waveforms (B, N) float32."""
        mel = self.mel(latents).to(self.vocoder.dtype)
        return self.vocoder(mel).float()
