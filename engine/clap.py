"""CLAP in one place: the 48 kHz rate, the tokenisation of text, the audio features and the embeddings.

Inference (the text condition, variation's audio embedding, re-ranking), training (the LDM's condition,
CLAP's own training) and evaluation all embed text and audio through this module, so an embedding means
the same thing wherever it was made: a prompt is padded the same way, a clip is resampled and featurised
the same way.

Audio features: transformers' ``ClapFeatureExtractor`` computes its 48 kHz log-mel with a Python loop over
frames (about 0.3 s per 10 s clip), which would dominate CLAP training and the LDM's embedding pass, and
draws long clips' windows from the global ``np.random``. :class:`ClapAudioFeatures` computes the same
features (``rand_trunc`` truncation with ``repeatpad``/``repeat``/``pad`` padding: periodic Hann window,
centred reflect-padded STFT, power spectrum, the extractor's own Slaney filter bank,
``10 * log10(max(x, 1e-10))``) with ``torch.stft`` on whole batches. The same code runs in float64 for
inference and evaluation, where it reproduces the extractor's float32 features exactly (so clips made
before this module regenerate identically), and in float32 for training, where speed matters more than
the last 1e-3 dB. Clips longer than the window are cut by the caller (training: at a seeded offset, so features are
a pure function of the data and the seed) or else to their first window, never at a random offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: The rate every CLAP audio tower takes (the LAION checkpoints and the ones trained here).
CLAP_SAMPLE_RATE = 48000
_MEL_FLOOR = 1e-10
_PADDINGS = ("repeatpad", "repeat", "pad")


# -- text ------------------------------------------------------------------------------------------------
def tokenize(tokenizer: Any, texts: list[str]) -> Any:
    """The one tokenisation of text for CLAP: padded to the tokenizer's ``model_max_length``, truncated.

    Fixed-length padding is what the engine's text condition has always used; the LDM's unconditional
    embedding of ``""`` is computed the same way in training, so the two must not differ.
    """
    return tokenizer(
        texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )


@dataclass(frozen=True)
class Truncation:
    """A text longer than the tokenizer's limit: ``tokens`` it needs (special tokens included), the
    ``limit`` (the same count), and the part the text tower actually sees, as text (``kept``)."""

    tokens: int
    limit: int
    kept: str


def text_truncation(tokenizer: Any, text: str) -> Truncation | None:
    """None when ``text`` fits the tokenizer's limit, else what :func:`tokenize` cuts it to.

    Truncation is silent in the embedding, so a long prompt's last words just stop mattering; the engine
    reports this to the user instead.
    """
    limit = int(tokenizer.model_max_length)
    full = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    if len(full) <= limit:
        return None
    kept_ids = tokenizer(text, truncation=True, max_length=limit)["input_ids"]
    kept = tokenizer.decode(kept_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return Truncation(tokens=len(full), limit=limit, kept=kept)


def _device_of(module: Any) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def embed_text(encoder: Any, tokenizer: Any, texts: list[str]) -> torch.Tensor:
    """L2-normalised CLAP text embeddings (B, D) in the encoder's dtype.

    ``encoder``: a ``ClapTextModelWithProjection`` (a model folder's ``text_encoder/``) or a full
    ``ClapModel`` (its text tower). The result stays in the encoder's dtype because the fp16 text
    condition must be bit-identical to what earlier versions computed; callers cast.
    """
    tok = tokenize(tokenizer, texts)
    dev = _device_of(encoder)
    ids, mask = tok.input_ids.to(dev), tok.attention_mask.to(dev)
    if hasattr(encoder, "get_text_features"):
        emb = encoder.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
    else:
        emb = encoder(ids, attention_mask=mask).text_embeds
    return F.normalize(emb, dim=-1)


# -- audio -----------------------------------------------------------------------------------------------
def to_clap_rate(wave: torch.Tensor, sr: int) -> torch.Tensor:
    """Resample (..., samples) audio at ``sr`` to CLAP's 48 kHz, as AudioLDM does before its audio embedding."""
    import torchaudio.functional as AF

    return wave if sr == CLAP_SAMPLE_RATE else AF.resample(wave, sr, CLAP_SAMPLE_RATE)


def pad_to(wave: torch.Tensor, max_len: int, padding: str = "repeatpad") -> torch.Tensor:
    """The extractor's padding of a clip to ``max_len`` samples (longer clips keep their first window).

    ``repeatpad`` tiles a short clip a whole number of times, then pads with zeros; ``repeat`` tiles once
    more and cuts; ``pad`` pads with zeros only.
    """
    n = wave.shape[-1]
    if n >= max_len:
        return wave[..., :max_len]
    if n == 0:
        return wave.new_zeros(max_len)
    if padding == "repeat":
        return wave.repeat(max_len // n + 1)[:max_len]
    if padding == "repeatpad":
        wave = wave.repeat(max_len // n)
    return F.pad(wave, (0, max_len - wave.shape[-1]))


class ClapAudioFeatures(torch.nn.Module):
    """48 kHz waveforms -> (``input_features`` (B, 1, frames, mels), ``is_longer`` (B, 1)) for a ClapModel.

    ``dtype``: float64 reproduces transformers' extractor (inference, evaluation; keep the module on a
    device with float64, i.e. not MPS), float32 (within about 1e-3 dB of it) is for training at dataset
    scale.
    """

    window: torch.Tensor  # buffers (register_buffer below)
    filters: torch.Tensor

    def __init__(self, feature_extractor: Any, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        fe = feature_extractor
        truncation, padding = getattr(fe, "truncation", "rand_trunc"), getattr(fe, "padding", "repeatpad")
        if truncation != "rand_trunc" or padding not in _PADDINGS:
            raise ValueError(
                f"CLAP feature extractor with truncation={truncation!r}, padding={padding!r} is not supported "
                f"(expected truncation 'rand_trunc' and padding one of {', '.join(_PADDINGS)}: the unfused "
                "CLAP models, e.g. laion/clap-htsat-unfused)"
            )
        self.padding = padding
        self.n_fft = int(fe.fft_window_size)
        self.hop = int(fe.hop_length)
        self.max_len = int(fe.nb_max_samples)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True, dtype=dtype))
        self.register_buffer("filters", torch.as_tensor(np.asarray(fe.mel_filters_slaney), dtype=dtype))  # (f, m)

    def forward(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        dev, dtype = self.window.device, self.window.dtype
        longer = torch.tensor([[w.shape[-1] > self.max_len] for w in waves], dtype=torch.bool)
        batch = torch.stack([pad_to(w.to(dev, dtype), self.max_len, self.padding) for w in waves])
        spec = torch.stft(
            batch, self.n_fft, self.hop, window=self.window, center=True, pad_mode="reflect", return_complex=True
        )
        if spec.dtype == torch.complex128:
            # The extractor stores its float64 FFT as complex64 before squaring; rounding the same way makes
            # the float64 path reproduce its features bit for bit (measured in tests/test_clap.py).
            spec = spec.to(torch.complex64).to(torch.complex128)
        power = spec.abs() ** 2  # (B, freqs, frames)
        mel = torch.clamp(torch.einsum("fm,bft->btm", self.filters, power), min=_MEL_FLOOR)
        feats = (10.0 * torch.log10(mel)).unsqueeze(1)
        return feats, longer.to(feats.device)


def audio_features(extractor: ClapAudioFeatures, waves: list[torch.Tensor], sr: int) -> dict[str, torch.Tensor]:
    """ClapModel audio inputs for mono waveforms at ``sr`` (resampled in float32, then featurised)."""
    for w in waves:
        if w.ndim != 1:
            raise ValueError(f"expected mono 1-D waveforms, got shape {tuple(w.shape)}")
    feats, longer = extractor([to_clap_rate(w.float(), sr) for w in waves])
    return {"input_features": feats, "is_longer": longer}


@torch.no_grad()
def embed_audio(clap: Any, extractor: ClapAudioFeatures, waves: list[torch.Tensor], sr: int) -> torch.Tensor:
    """L2-normalised float32 CLAP audio embeddings (B, D) of mono waveforms at ``sr``, from a ClapModel."""
    inputs = audio_features(extractor, waves, sr)
    param = next(clap.parameters())
    feats = inputs["input_features"].to(param.device, param.dtype)
    out = clap.get_audio_features(input_features=feats, is_longer=inputs["is_longer"].to(param.device))
    return F.normalize(out.pooler_output.float(), dim=-1)
