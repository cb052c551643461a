"""How each request mode sets up the shared denoising loop: starting latents, condition, start step,
known-region replacement, loop wrap-around, and what happens to the waveform afterwards.

- generate: noise -> text condition (the paper's text-to-audio).
- variation: noise -> the CLAP *audio* embedding of the input as condition.
- transfer: the input's latent noised to step ``strength * steps``, then denoised with the text condition.
- inpaint / continue: after every step the known time cells are overwritten by the input's latent noised
  to the current step; continue is inpainting of a span appended after the input.
- upsample: the same along frequency: the low latent bins are known; the delivered clip keeps the
  input's own low band below the cutoff (spliced back in the spectrum).
- loop: the UNet and the decoder see the latent circularly padded along time, so the last sample
  flows into the first; the period is then resampled to the exact length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audioldm_daw.engine.conditioning import audio_embeddings, require_clap, text_embeddings
from audioldm_daw.engine.errors import InputAudioError, InvalidRequest
from audioldm_daw.engine.input_audio import load_input
from audioldm_daw.engine.request import MAX_DURATION_S, MIN_DURATION_S, GenerateRequest
from audioldm_daw.engine.sampling import AfterStepFn, Conditioning, initial_noise

if TYPE_CHECKING:
    from audioldm_daw.engine.engine import Engine

LOOP_CONTEXT_CELLS = 8  # latent cells of wrap-around context each side (0.32 s at the public geometry)
LOOP_MODES = ("generate", "variation")
SPLICE_RAMP_S = 0.01  # crossfade between the reconstruction and the generated span


@dataclass
class Plan:
    """Everything the engine's loop needs for one request (built by :func:`make_plan`)."""

    request: GenerateRequest
    conditioning: Conditioning
    latents: torch.Tensor
    start: int
    unet: Any
    decode: Callable[[torch.Tensor], torch.Tensor]
    native_samples: int | None  # None: the decoded length is one loop period, resampled as a whole
    generator: torch.Generator | None = None  # goes on drawing after the initial noise (DDIM eta > 0)
    after_step: AfterStepFn | None = None
    post: Callable[[np.ndarray], np.ndarray] | None = None


def noised(scheduler: Any, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """``z0`` diffused to timestep ``t``: sqrt(a_t) z0 + sqrt(1 - a_t) noise (DDIM and DPM-Solver alike)."""
    a = scheduler.alphas_cumprod[int(t)].to(device=z0.device, dtype=torch.float32)
    return (a.sqrt() * z0.float() + (1 - a).sqrt() * noise.float()).to(z0.dtype)


def circular_extend(x: torch.Tensor, left: int, right: int, dim: int = 2) -> torch.Tensor:
    """Pad ``x`` along ``dim`` with its own wrap-around (works for pads longer than ``x``)."""
    n = x.shape[dim]
    idx = torch.arange(-left, n + right, device=x.device) % n
    return x.index_select(dim, idx)


class CircularUNet:
    """The UNet seen through circular padding along time, cropped back: no seam at the loop point."""

    def __init__(self, unet: Any, multiple: int, pad: int = LOOP_CONTEXT_CELLS) -> None:
        self.unet, self.multiple, self.pad = unet, multiple, pad

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> SimpleNamespace:
        n = x.shape[2]
        extra = (-(n + 2 * self.pad)) % self.multiple
        out = self.unet(circular_extend(x, self.pad, self.pad + extra), t, **kwargs).sample
        return SimpleNamespace(sample=out[:, :, self.pad : self.pad + n])


def encode_audio(engine: Engine, wave: np.ndarray, cells: int) -> torch.Tensor:
    """Input waveform (model rate) -> scaled VAE latent (1, C, cells, F) via the paper's log-mel."""
    from audioldm_daw.engine.mel import SILENCE, log_mel

    m = engine.model
    mel = log_mel(torch.as_tensor(wave, dtype=torch.float32))
    frames = cells * m.vae_scale_factor
    if mel.shape[0] < frames:
        mel = torch.cat([mel, torch.full((frames - mel.shape[0], mel.shape[1]), SILENCE)])
    mel = mel[:frames][None, None].to(m.device, m.vae.dtype)
    with torch.no_grad():
        z = m.vae.encode(mel).latent_dist.mode()
    return (z * m.vae.config.scaling_factor).to(m.dtype)


def reconstruct(engine: Engine, wave: np.ndarray) -> np.ndarray:
    """What the model makes of ``wave`` with no generation at all: decode(encode(wave)), trimmed."""
    cells = engine.latent_frames(len(wave) / engine.model.sampling_rate)
    out = engine.decoder.decode(encode_audio(engine, wave, cells)).float().cpu().numpy()[0]
    return out[: len(wave)]


def detect_cutoff(wave: np.ndarray, sr: int, floor_db: float = 30.0) -> float:
    """The input's band limit: the highest frequency whose average power is within ``floor_db`` of the
    median level of the lower half of the spectrum (band-limited audio falls far below it past its
    cutoff; the median keeps a loud tone from setting the reference)."""
    n_fft = 1024
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(wave.astype(np.float64), (0, n_fft)), n_fft)[::256]
    power = (np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2).mean(axis=0)
    level = 10 * np.log10(power + 1e-30)
    above = np.nonzero(level > np.median(level[: len(level) // 2]) - floor_db)[0]
    top = int(above.max()) if len(above) else len(level) - 1
    return float(np.clip((top + 1) * sr / n_fft, 500.0, sr / 2))


def known_mel_bins(cutoff_hz: float, n_mels: int, sr: int) -> int:
    """How many mel bins lie entirely below ``cutoff_hz`` (their filters have no weight above it)."""
    import torchaudio.functional as AF

    fb = AF.melscale_fbanks(513, 0.0, sr / 2, n_mels, sr, norm="slaney", mel_scale="slaney")
    freqs = torch.linspace(0, sr / 2, 513)
    top = [float(freqs[fb[:, i] > 0].max()) if bool((fb[:, i] > 0).any()) else 0.0 for i in range(n_mels)]
    return sum(1 for f in top if f <= cutoff_hz)


def splice_low_band(generated: np.ndarray, original: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Keep the input's own spectrum below the cutoff and the generated one above (short transition)."""
    n = len(generated)
    orig = np.zeros(n, dtype=np.float64)
    orig[: min(n, len(original))] = original[:n]
    g, o = np.fft.rfft(generated.astype(np.float64)), np.fft.rfft(orig)
    f = np.fft.rfftfreq(n, 1 / sr)
    width = max(cutoff_hz * 0.05, 50.0)
    w = np.clip((f - (cutoff_hz - width)) / width, 0.0, 1.0)  # 0 below the transition, 1 above the cutoff
    return np.fft.irfft(o * (1 - w) + g * w, n).astype(np.float32)


def splice_span(generated: np.ndarray, kept: np.ndarray, sr: int, start_s: float, end_s: float) -> np.ndarray:
    """``kept`` outside [start, end], ``generated`` inside, with short linear crossfades just outside.

    The VAE decoder attends over the whole clip, so decoding the inpainted latent shifts the audio
    outside the span too; splicing the known region's own decode back keeps it exactly as it was.
    """
    n = len(generated)
    t = np.arange(n) / sr
    ramp = SPLICE_RAMP_S
    w = np.clip(np.minimum((t - (start_s - ramp)) / ramp, ((end_s + ramp) - t) / ramp), 0.0, 1.0)
    k = np.zeros(n, dtype=np.float32)
    k[: min(n, len(kept))] = kept[:n]
    return (w * generated + (1 - w) * k).astype(np.float32)


def _condition(engine: Engine, req: GenerateRequest, wave: np.ndarray | None, k: int) -> Conditioning:
    """Text condition when there is a prompt; the input's CLAP audio embedding when there is none."""
    m = engine.model
    if req.prompt.strip() or wave is None or m.clap is None:
        return engine.conditioning(req.prompt, req.negative, req.guidance, k)
    cond = audio_embeddings(m, [wave], m.sampling_rate).to(m.dtype)
    uncond = text_embeddings(m, [req.negative])
    return Conditioning(cond.repeat(k, 1), uncond.repeat(k, 1), float(req.guidance))


def _replace_known(scheduler: Any, z0: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> AfterStepFn:
    """The after-step hook: known cells follow the input's latent, noised to the level of the next step."""
    timesteps = scheduler.timesteps

    def after(latents: torch.Tensor, index: int, t: torch.Tensor) -> torch.Tensor:
        nxt = index + 1
        known = noised(scheduler, z0, noise, timesteps[nxt]) if nxt < len(timesteps) else z0
        return torch.where(mask, known.expand_as(latents), latents)

    return after


def make_plan(engine: Engine, req: GenerateRequest, scheduler: Any) -> Plan:
    """Set up ``req`` (already resolved: seed set) on ``scheduler`` (timesteps already set)."""
    m = engine.model
    k = req.candidates
    if req.loop and req.mode not in LOOP_MODES:
        raise InvalidRequest(f"loop: applies to {' and '.join(LOOP_MODES)}, not to {req.mode}")
    wave = load_input(req.input_path, m.sampling_rate) if req.mode != "generate" else None
    if req.mode in ("transfer", "inpaint", "upsample"):
        req = replace(req, duration=min(max(len(wave) / m.sampling_rate, MIN_DURATION_S), MAX_DURATION_S))
    elif req.mode == "continue":
        total = len(wave) / m.sampling_rate + float(req.extend_s)
        if total > MAX_DURATION_S:
            raise InvalidRequest(f"seconds: input plus extension is {total:.1f} s, expected at most {MAX_DURATION_S:g}")
        req = replace(req, duration=total)
    if req.mode == "variation":
        require_clap(m, "variation (conditioning on the input's CLAP audio embedding)")
        cond = Conditioning(
            audio_embeddings(m, [wave], m.sampling_rate).to(m.dtype).repeat(k, 1),
            text_embeddings(m, [req.negative]).repeat(k, 1),
            float(req.guidance),
        )
    elif req.mode == "generate":
        cond = engine.conditioning(req.prompt, req.negative, req.guidance, k)
    else:
        cond = _condition(engine, req, wave, k)

    native = engine.native_samples(req.duration)
    cells = engine.latent_frames(req.duration)
    if req.loop:
        cells = max(1, round(native / (m.hop_length * m.vae_scale_factor)))
    shape = (k, m.latent_channels, cells, m.latent_bins)
    noise, gen = initial_noise(shape, req.seed, m.device, m.dtype)
    plan = Plan(
        request=req,
        conditioning=cond,
        latents=noise * scheduler.init_noise_sigma,
        start=0,
        unet=m.unet,
        decode=engine.decoder.decode,
        native_samples=native,
        generator=gen,
    )
    if req.loop:
        plan.unet = CircularUNet(m.unet, m.unet_time_multiple)
        plan.decode = _circular_decoder(engine)
        plan.native_samples = None
        return plan
    if req.mode in ("generate", "variation"):
        return plan

    z0 = encode_audio(engine, wave, cells).expand(k, -1, -1, -1)
    if req.mode == "transfer":
        steps = len(scheduler.timesteps)
        init = min(round(steps * req.strength), steps)
        plan.start = steps - init
        if init == 0:
            plan.latents = z0.clone()  # nothing to denoise: the input's reconstruction
        elif init < steps:
            plan.latents = noised(scheduler, z0, noise, scheduler.timesteps[plan.start])
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(plan.start)
        return plan  # strength 1: pure noise, independent of the input

    mask = torch.zeros(1, 1, cells, m.latent_bins, dtype=torch.bool, device=m.device)
    sr = m.sampling_rate
    if req.mode == "inpaint":
        if req.span_start >= req.duration:
            raise InvalidRequest(f"start_s: {req.span_start:g} is past the input's end ({req.duration:.2f} s)")
        cell_s = m.hop_length * m.vae_scale_factor / sr
        a, b = math.floor(req.span_start / cell_s), math.ceil(min(req.span_end, req.duration) / cell_s)
        mask[:, :, :a] = True
        mask[:, :, b:] = True
    elif req.mode == "continue":
        known_cells = (len(wave) // m.hop_length) // m.vae_scale_factor
        if known_cells < 1:
            raise InputAudioError("input: too short to continue (expected at least one latent cell of audio)")
        mask[:, :, :known_cells] = True
    else:  # upsample
        cutoff = float(req.cutoff_hz) if req.cutoff_hz else detect_cutoff(wave, sr)
        bins = known_mel_bins(cutoff, int(m.vocoder.config.model_in_dim), sr) // m.vae_scale_factor
        if bins < 1:
            raise InvalidRequest(f"cutoff: {cutoff:.0f} Hz leaves no known band to keep; expected a higher cutoff")
        mask[:, :, :, :bins] = True
        if cutoff < sr / 2 - 1:
            plan.post = lambda audio: splice_low_band(audio, wave, sr, cutoff)
        plan.request = replace(req, cutoff_hz=round(cutoff, 1))
    if req.mode in ("inpaint", "continue"):
        span = (
            (req.span_start, req.span_end)
            if req.mode == "inpaint"
            else (known_cells * m.hop_length * m.vae_scale_factor / sr, req.duration)
        )
        kept = reconstruct(engine, wave)
        plan.post = lambda audio: splice_span(audio, kept, sr, *span)
    plan.latents = torch.where(mask, noised(scheduler, z0, noise, scheduler.timesteps[0]), plan.latents)
    plan.after_step = _replace_known(scheduler, z0, noise, mask)
    return plan


def _circular_decoder(engine: Engine) -> Callable[[torch.Tensor], torch.Tensor]:
    m = engine.model
    samples_per_cell = m.hop_length * m.vae_scale_factor

    def decode(latents: torch.Tensor) -> torch.Tensor:
        n, pad = latents.shape[2], LOOP_CONTEXT_CELLS
        wave = engine.decoder.decode(circular_extend(latents, pad, pad))
        return wave[:, pad * samples_per_cell : (pad + n) * samples_per_cell]

    return decode
