"""The paper's log-mel front end: what the VAE reconstructs, the vocoder inverts, the LDM and the manipulations see.

16 kHz audio, STFT n_fft 1024 / window 1024 / hop 160, 64 Slaney mel bins from 0 to 8 kHz, magnitude
(power 1), then ``log(clamp(x, 1e-5))`` (AudioLDM's ``dynamic_range_compression``). Every training stage and
any engine code that manipulates spectrograms uses this one definition, so a mel made here decodes with
the vocoder trained on it.

Frames are ``samples // hop``: frame ``f`` is centred on sample ``f * hop`` (centred STFT, reflect padding),
and the vocoder maps it back to samples ``[f * hop, (f + 1) * hop)``. A crop of ``n`` frames starting at
frame ``f0`` therefore pairs with the waveform crop ``[f0 * hop, (f0 + n) * hop)``, which lets the stages cut
crops from one mel computed per clip instead of recomputing mels per crop.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from audioldm_daw.engine.architecture import HOP, MEL_BINS, SAMPLE_RATE

N_FFT = 1024
WIN_LENGTH = 1024
F_MIN = 0.0
F_MAX = 8000.0
LOG_FLOOR = 1e-5
# log(LOG_FLOOR): the value of a silent frame; padding a mel with it equals padding the audio with silence.
SILENCE = math.log(LOG_FLOOR)


class LogMel(torch.nn.Module):
    """Waveform (..., samples) at 16 kHz -> log-mel (..., frames, 64) with ``frames = samples // 160``."""

    def __init__(self) -> None:
        super().__init__()
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE,
            n_fft=N_FFT,
            win_length=WIN_LENGTH,
            hop_length=HOP,
            f_min=F_MIN,
            f_max=F_MAX,
            n_mels=MEL_BINS,
            power=1.0,
            norm="slaney",
            mel_scale="slaney",
            center=True,
            pad_mode="reflect",
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.shape[-1] // HOP
        spec = self.mel(wave.float())[..., :frames]  # the centred STFT has one extra frame at the end
        return torch.log(torch.clamp(spec, min=LOG_FLOOR)).transpose(-1, -2)


@lru_cache(maxsize=8)
def _front_end(device: str) -> LogMel:
    return LogMel().to(device)


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    """Log-mel (..., frames, 64) of 16 kHz mono audio (..., samples), on the audio's device.

    Inputs shorter than half a window are zero-padded to it first (reflect padding needs that much).
    """
    if wave.shape[-1] <= N_FFT // 2:
        n = wave.shape[-1]
        wave = torch.nn.functional.pad(wave, (0, N_FFT // 2 + 1 - n))
        return _front_end(str(wave.device))(wave)[..., : n // HOP, :]
    return _front_end(str(wave.device))(wave)


def frames_for(samples: int) -> int:
    """Mel frames for a number of 16 kHz samples."""
    return samples // HOP


def samples_for(frames: int) -> int:
    """Samples the vocoder makes from a number of mel frames."""
    return frames * HOP
