"""CLAP audio features and embeddings in torch, for training at dataset scale.

transformers' ``ClapFeatureExtractor`` computes its 48 kHz log-mel with a Python loop over frames (about
0.3 s per 10 s clip), which would dominate CLAP training and the LDM's embedding pass. This module computes
the same features (``rand_trunc``/``repeatpad`` path: periodic Hann window, centred reflect-padded STFT,
power spectrum, the extractor's own Slaney filter bank, ``10 * log10(max(x, 1e-10))``) with ``torch.stft`` on
whole batches, in float32 (within 1e-4 dB of the extractor's float64). Long clips are cut by the caller at a
seeded offset instead of ``np.random``, so features are a pure function of the data and the seed (resume must
reproduce them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine.architecture import SAMPLE_RATE

CLAP_RATE = 48000
_MEL_FLOOR = 1e-10


def to_clap_rate(wave: torch.Tensor, sr: int = SAMPLE_RATE) -> torch.Tensor:
    """Resample (..., samples) audio to CLAP's 48 kHz, as AudioLDM does before its audio embedding."""
    import torchaudio.functional as AF

    return wave if sr == CLAP_RATE else AF.resample(wave, sr, CLAP_RATE)


def repeat_pad(wave: torch.Tensor, max_len: int) -> torch.Tensor:
    """The extractor's ``repeatpad``: tile a short clip a whole number of times, then pad with zeros."""
    n = wave.shape[-1]
    if n >= max_len:
        return wave[..., :max_len]
    if n == 0:
        return wave.new_zeros(max_len)
    tiled = wave.repeat(max_len // n)
    return F.pad(tiled, (0, max_len - tiled.shape[-1]))


class ClapAudioFeatures(torch.nn.Module):
    """48 kHz waveforms -> (``input_features`` (B, 1, frames, mels), ``is_longer`` (B, 1)) for ClapModel."""

    def __init__(self, feature_extractor: Any) -> None:
        super().__init__()
        fe = feature_extractor
        self.n_fft = int(fe.fft_window_size)
        self.hop = int(fe.hop_length)
        self.max_len = int(fe.nb_max_samples)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True, dtype=torch.float32))
        filters = torch.as_tensor(np.asarray(fe.mel_filters_slaney), dtype=torch.float32)  # (freqs, mels)
        self.register_buffer("filters", filters)

    def forward(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        longer = torch.tensor([[w.shape[-1] > self.max_len] for w in waves], dtype=torch.bool)
        batch = torch.stack([repeat_pad(w.to(self.window.device, torch.float32), self.max_len) for w in waves])
        spec = torch.stft(
            batch,
            self.n_fft,
            self.hop,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.abs() ** 2  # (B, freqs, frames)
        mel = torch.clamp(torch.einsum("fm,bft->btm", self.filters, power), min=_MEL_FLOOR)
        feats = (10.0 * torch.log10(mel)).unsqueeze(1)
        return feats, longer.to(feats.device)


def _lengths_ok(waves: list[torch.Tensor]) -> None:
    for w in waves:
        if w.ndim != 1:
            raise ValueError(f"expected mono 1-D waveforms, got shape {tuple(w.shape)}")


def audio_features(
    extractor: ClapAudioFeatures, waves16k: list[torch.Tensor], sr: int = SAMPLE_RATE
) -> dict[str, torch.Tensor]:
    """ClapModel audio inputs for mono waveforms at ``sr`` (cut longer clips before calling)."""
    _lengths_ok(waves16k)
    feats, longer = extractor([to_clap_rate(w.float(), sr) for w in waves16k])
    return {"input_features": feats, "is_longer": longer}


@torch.no_grad()
def clap_audio_embeddings(
    clap: Any, extractor: ClapAudioFeatures, waves16k: list[torch.Tensor], sr: int = SAMPLE_RATE
) -> torch.Tensor:
    """L2-normalised CLAP audio embeddings (B, D): the LDM's training condition, from a ClapModel alone."""
    inputs = audio_features(extractor, waves16k, sr)
    device = next(clap.parameters()).device
    out = clap.get_audio_features(**{k: v.to(device) for k, v in inputs.items()})
    return F.normalize(out.pooler_output.float(), dim=-1)


@torch.no_grad()
def clap_text_embeddings(clap: Any, tokenizer: Any, texts: list[str]) -> torch.Tensor:
    """L2-normalised CLAP text embeddings (B, D), tokenised exactly as the engine's text condition is
    (padding to the tokenizer's max length), so the LDM's unconditional embedding of "" matches sampling."""
    tok = tokenizer(
        texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    device = next(clap.parameters()).device
    out = clap.get_text_features(input_ids=tok.input_ids.to(device), attention_mask=tok.attention_mask.to(device))
    return F.normalize(out.pooler_output.float(), dim=-1)
