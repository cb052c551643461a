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

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

import numpy as np
import torch

from audioldm_daw.engine.conditioning import audio_embeddings, require_clap, text_embeddings
from audioldm_daw.engine.cuda_graphs import program_key, program_version
from audioldm_daw.engine.decode import DecodeBackend
from audioldm_daw.engine.errors import InputAudioError, InvalidRequest
from audioldm_daw.engine.geometry import Geometry
from audioldm_daw.engine.input_audio import load_input
from audioldm_daw.engine.model import AudioLDMModel
from audioldm_daw.engine.params import MAX_DURATION_S, MIN_DURATION_S
from audioldm_daw.engine.request import (
    RECIPE,
    Continuation,
    GenerateRequest,
    Inpaint,
    InputSource,
    Source,
    TextToAudio,
    Transfer,
    Upsample,
    Variation,
)
from audioldm_daw.engine.sampling import AfterStepFn, Conditioning, DenoisingUNet, initial_noise

LOOP_CONTEXT_CELLS = 8  # latent cells of wrap-around context each side (0.32 s at the public geometry)
SPLICE_RAMP_S = 0.01  # crossfade between the reconstruction and the generated span


@dataclass
class Context:
    """What a plan is built from: the loaded model and its decode backend (not the Engine, so that the
    arrows point one way: the engine calls plans, plans never call back into it)."""

    model: AudioLDMModel
    decoder: DecodeBackend

    @property
    def geometry(self) -> Geometry:
        return self.model.geometry


@dataclass
class Plan:
    """Everything the engine's loop needs for one request (built by :func:`make_plan`)."""

    request: GenerateRequest
    seconds: float  # the delivered clip's length
    conditioning: Conditioning
    latents: torch.Tensor
    start: int
    unet: DenoisingUNet
    decode: Callable[[torch.Tensor], torch.Tensor]
    native_samples: int | None  # None: the decoded length is one loop period, resampled as a whole
    noise: torch.Tensor  # the seed's initial noise, which also noises the input's known latent
    generator: torch.Generator | None = None  # goes on drawing after the initial noise (DDIM eta > 0)
    after_step: AfterStepFn | None = None
    post: Callable[[np.ndarray], np.ndarray] | None = None
    reference: np.ndarray | None = None  # the input audio, which candidates are ranked against without a prompt


def noised(scheduler: Any, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """``z0`` diffused to timestep ``t``: sqrt(a_t) z0 + sqrt(1 - a_t) noise (DDIM and DPM-Solver alike).

    ``a_t`` stays a CPU scalar (the schedulers keep their alphas on the CPU): a GPU operation takes it as a
    plain number, so with ``t`` on the CPU too nothing here waits for the GPU."""
    a = scheduler.alphas_cumprod[int(t)].to(torch.float32)
    return (a.sqrt() * z0.float() + (1 - a).sqrt() * noise.float()).to(z0.dtype)


def circular_extend(x: torch.Tensor, left: int, right: int, dim: int = 2) -> torch.Tensor:
    """Pad ``x`` along ``dim`` with its own wrap-around (works for pads longer than ``x``)."""
    n = x.shape[dim]
    idx = torch.arange(-left, n + right, device=x.device) % n
    return x.index_select(dim, idx)


@dataclass(frozen=True)
class UNetSample:
    """A UNet's answer reduced to what the step function reads (:class:`~audioldm_daw.engine.sampling.UNetOutput`)."""

    sample: torch.Tensor


class CircularUNet:
    """The UNet seen through circular padding along time, cropped back: no seam at the loop point.

    It answers like a diffusers UNet (an object with ``.sample``), which is all the step function reads."""

    def __init__(self, unet: DenoisingUNet, multiple: int, pad: int = LOOP_CONTEXT_CELLS) -> None:
        self.unet, self.multiple, self.pad = unet, multiple, pad

    @property
    def cache_key(self) -> tuple[str, Hashable, int, int]:
        """The same program for every looping clip over the same UNet (a captured step is reused by it)."""
        return ("circular", program_key(self.unet), self.multiple, self.pad)

    @property
    def version(self) -> int:
        """The wrapped UNet's :func:`~audioldm_daw.engine.cuda_graphs.program_version`."""
        return program_version(self.unet)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, /, **kwargs: Any) -> UNetSample:
        n = x.shape[2]
        extra = (-(n + 2 * self.pad)) % self.multiple
        out = self.unet(circular_extend(x, self.pad, self.pad + extra), t, **kwargs).sample
        return UNetSample(sample=out[:, :, self.pad : self.pad + n])


def encode_audio(model: AudioLDMModel, wave: np.ndarray, cells: int) -> torch.Tensor:
    """Input waveform (model rate) -> scaled VAE latent (1, C, cells, F) via the paper's log-mel."""
    from audioldm_daw.engine.mel import SILENCE, log_mel

    m = model
    mel = log_mel(torch.as_tensor(wave, dtype=torch.float32))
    frames = cells * m.geometry.vae_factor
    if mel.shape[0] < frames:
        mel = torch.cat([mel, torch.full((frames - mel.shape[0], mel.shape[1]), SILENCE)])
    mel = mel[:frames][None, None].to(m.device, m.vae.dtype)
    with torch.no_grad():
        z = m.vae.encode(mel).latent_dist.mode()
    return (z * m.vae.config.scaling_factor).to(m.dtype)


@dataclass
class InputAudio:
    """An input clip as loaded (mono, model rate) and as the model sees it.

    The original AudioLDM removes DC and normalises a clip to a peak of 0.5 before its log-mel and CLAP
    (the level its VAE and CLAP were trained at); ``wave = (raw - dc) * gain``. Recipe 1 fed the raw audio.
    """

    raw: np.ndarray
    wave: np.ndarray
    gain: float

    def restore(self, audio: np.ndarray) -> np.ndarray:
        """Audio made in the model's level back at the input's level (for splicing it back)."""
        return audio if self.gain == 1.0 else (audio / self.gain).astype(np.float32)


INPUT_PEAK = 0.5


def prepare_input(raw: np.ndarray, recipe: int = RECIPE) -> InputAudio:
    """The input as the model should see it under ``recipe`` (see :class:`InputAudio`)."""
    raw = np.asarray(raw, dtype=np.float32)
    if recipe < 2:
        return InputAudio(raw, raw, 1.0)
    centred = raw - np.float32(raw.mean())
    peak = float(np.max(np.abs(centred)))
    gain = INPUT_PEAK / peak if peak > 0 else 1.0
    return InputAudio(raw, (centred * gain).astype(np.float32), gain)


def reconstruct(ctx: Context, raw: np.ndarray, recipe: int = RECIPE) -> np.ndarray:
    """What the model makes of ``raw`` with no generation at all: decode(encode(input)), trimmed, at the
    input's own level."""
    inp = prepare_input(raw, recipe)
    cells = ctx.geometry.cells_for(len(raw) / ctx.geometry.sample_rate, recipe)
    out = ctx.decoder.decode(encode_audio(ctx.model, inp.wave, cells)).float().cpu().numpy()[0]
    return inp.restore(out[: len(raw)])


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


def text_condition(model: AudioLDMModel, prompt: str, negative: str, guidance: float, batch: int) -> Conditioning:
    """The prompt's CLAP text embedding and its unconditional twin (the negative prompt's, or "")."""
    cond = text_embeddings(model, [prompt])
    uncond = text_embeddings(model, [negative]) if guidance > 1.0 else cond
    return Conditioning(cond.repeat(batch, 1), uncond.repeat(batch, 1), float(guidance))


def audio_condition(model: AudioLDMModel, wave: np.ndarray, negative: str, guidance: float, batch: int) -> Conditioning:
    """The input's CLAP audio embedding as the condition (text and audio embeddings share one space)."""
    cond = audio_embeddings(model, [wave], model.sampling_rate).to(model.dtype)
    uncond = text_embeddings(model, [negative])
    return Conditioning(cond.repeat(batch, 1), uncond.repeat(batch, 1), float(guidance))


def _prompt_or_input(model: AudioLDMModel, req: GenerateRequest, wave: np.ndarray) -> Conditioning:
    """Text condition when there is a prompt; the input's CLAP audio embedding when there is none (and the
    folder has an audio tower; without one, the unconditional text embedding)."""
    k = req.candidates
    if req.prompt.strip() or model.clap is None:
        return text_condition(model, req.prompt, req.negative, req.guidance, k)
    return audio_condition(model, wave, req.negative, req.guidance, k)


def _replace_known(scheduler: Any, z0: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> AfterStepFn:
    """The after-step hook: known cells follow the input's latent, noised to the level of the next step."""
    timesteps = scheduler.timesteps.cpu()  # read on the host between steps, without waiting for the GPU

    def after(latents: torch.Tensor, index: int, t: torch.Tensor) -> torch.Tensor:
        nxt = index + 1
        known = noised(scheduler, z0, noise, timesteps[nxt]) if nxt < len(timesteps) else z0
        return torch.where(mask, known.expand_as(latents), latents)

    return after


def _input(ctx: Context, source: InputSource, req: GenerateRequest) -> InputAudio:
    raw = load_input(source.input_path, ctx.geometry.sample_rate)
    return prepare_input(raw, req.recipe)


def _input_seconds(ctx: Context, inp: InputAudio) -> float:
    """The length of a clip that follows its input (transfer, inpaint, upsample)."""
    return min(max(len(inp.raw) / ctx.geometry.sample_rate, MIN_DURATION_S), MAX_DURATION_S)


def _noise_plan(
    ctx: Context, req: GenerateRequest, scheduler: Any, cond: Conditioning, seconds: float, *, loop: bool = False
) -> Plan:
    """A plan that starts from the seed's noise over the cells of ``seconds``."""
    m, g = ctx.model, ctx.geometry
    cells = g.loop_cells(seconds) if loop else g.cells_for(seconds, req.recipe)
    assert req.seed is not None, "make_plan takes a resolved request (seed set)"
    noise, gen = initial_noise(g.latent_shape(req.candidates, cells), req.seed, m.device, m.dtype)
    plan = Plan(
        request=req,
        seconds=seconds,
        conditioning=cond,
        latents=noise * scheduler.init_noise_sigma,
        start=0,
        unet=m.unet,
        decode=ctx.decoder.decode,
        native_samples=g.samples(seconds),
        generator=gen,
        noise=noise,
    )
    if loop:
        plan.unet = CircularUNet(m.unet, g.unet_multiple)
        plan.decode = _circular_decoder(ctx)
        plan.native_samples = None
    return plan


@singledispatch
def make_plan(source: Source, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    """Set up ``req`` (already resolved: seed set) on ``scheduler`` (timesteps already set); one function
    per source type, registered below."""
    raise InvalidRequest(f"source: no plan for {type(source).__name__}")


@make_plan.register
def _text(source: TextToAudio, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    cond = text_condition(ctx.model, source.prompt, req.negative, req.guidance, req.candidates)
    return _noise_plan(ctx, req, scheduler, cond, req.seconds, loop=req.loop)  # type: ignore[arg-type]


@make_plan.register
def _variation(source: Variation, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    require_clap(ctx.model, "variation (conditioning on the input's CLAP audio embedding)")
    inp = _input(ctx, source, req)
    cond = audio_condition(ctx.model, inp.wave, req.negative, req.guidance, req.candidates)
    plan = _noise_plan(ctx, req, scheduler, cond, req.seconds, loop=req.loop)  # type: ignore[arg-type]
    plan.reference = inp.wave
    return plan


@make_plan.register
def _transfer(source: Transfer, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    inp = _input(ctx, source, req)
    cond = _prompt_or_input(ctx.model, req, inp.wave)
    plan = _noise_plan(ctx, req, scheduler, cond, _input_seconds(ctx, inp))
    plan.reference = inp.wave
    noise = plan.noise
    z0 = encode_audio(ctx.model, inp.wave, plan.latents.shape[2]).expand(req.candidates, -1, -1, -1)
    steps = len(scheduler.timesteps)
    init = min(round(steps * source.strength), steps)
    plan.start = steps - init
    if init == 0:
        plan.latents = z0.clone()  # nothing to denoise: the input's reconstruction
    elif init < steps:
        plan.latents = noised(scheduler, z0, noise, scheduler.timesteps[plan.start])
    return plan  # strength 1: pure noise, independent of the input


def _known_region(
    ctx: Context, req: GenerateRequest, scheduler: Any, inp: InputAudio, seconds: float
) -> tuple[Plan, torch.Tensor]:
    """A plan whose known latent region follows the input: returns the plan and an all-False mask, which
    the caller marks and :func:`_follow_known` then wires in."""
    plan = _noise_plan(ctx, req, scheduler, _prompt_or_input(ctx.model, req, inp.wave), seconds)
    plan.reference = inp.wave
    g = ctx.geometry
    mask = torch.zeros(1, 1, plan.latents.shape[2], g.latent_bins, dtype=torch.bool, device=ctx.model.device)
    return plan, mask


def _follow_known(ctx: Context, plan: Plan, scheduler: Any, inp: InputAudio, mask: torch.Tensor) -> Plan:
    noise = plan.noise
    k = plan.request.candidates
    z0 = encode_audio(ctx.model, inp.wave, plan.latents.shape[2]).expand(k, -1, -1, -1)
    plan.latents = torch.where(mask, noised(scheduler, z0, noise, scheduler.timesteps[0]), plan.latents)
    plan.after_step = _replace_known(scheduler, z0, noise, mask)
    return plan


def _keep_outside(ctx: Context, plan: Plan, inp: InputAudio, start_s: float, end_s: float) -> None:
    """Splice the input's own reconstruction back outside the generated span, at the input's level."""
    kept = reconstruct(ctx, inp.raw, plan.request.recipe)
    sr = ctx.geometry.sample_rate
    plan.post = lambda audio: splice_span(inp.restore(audio), kept, sr, start_s, end_s)


@make_plan.register
def _inpaint(source: Inpaint, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    inp = _input(ctx, source, req)
    seconds = _input_seconds(ctx, inp)
    source.check_input(seconds)
    plan, mask = _known_region(ctx, req, scheduler, inp, seconds)
    g = ctx.geometry
    a, b = g.cell_at(source.start), g.cell_after(min(source.end, seconds))
    mask[:, :, :a] = True
    mask[:, :, b:] = True
    _keep_outside(ctx, plan, inp, source.start, source.end)
    return _follow_known(ctx, plan, scheduler, inp, mask)


@make_plan.register
def _continue(source: Continuation, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    inp = _input(ctx, source, req)
    g = ctx.geometry
    source.check_input(len(inp.raw) / g.sample_rate)
    seconds = len(inp.raw) / g.sample_rate + source.seconds
    known_cells = g.whole_cells(len(inp.raw))
    if known_cells < 1:
        raise InputAudioError("input: too short to continue (expected at least one latent cell of audio)")
    plan, mask = _known_region(ctx, req, scheduler, inp, seconds)
    mask[:, :, :known_cells] = True
    _keep_outside(ctx, plan, inp, known_cells * g.samples_per_cell / g.sample_rate, seconds)
    return _follow_known(ctx, plan, scheduler, inp, mask)


@make_plan.register
def _upsample(source: Upsample, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    inp = _input(ctx, source, req)
    g = ctx.geometry
    sr = g.sample_rate
    plan, mask = _known_region(ctx, req, scheduler, inp, _input_seconds(ctx, inp))
    cutoff = float(source.cutoff_hz) if source.cutoff_hz else detect_cutoff(inp.raw, sr)
    bins = known_mel_bins(cutoff, g.mel_bins, sr) // g.vae_factor
    if bins < 1:
        raise InvalidRequest.about(
            "cutoff_hz", f"{cutoff:.0f} Hz leaves no known band to keep; expected a higher cutoff"
        )
    mask[:, :, :, :bins] = True
    if cutoff < sr / 2 - 1:
        plan.post = lambda audio: splice_low_band(inp.restore(audio), inp.raw, sr, cutoff)
    elif inp.gain != 1.0:
        plan.post = inp.restore
    plan.request = req.with_source(cutoff_hz=round(cutoff, 1))
    return _follow_known(ctx, plan, scheduler, inp, mask)


def _circular_decoder(ctx: Context) -> Callable[[torch.Tensor], torch.Tensor]:
    samples_per_cell = ctx.geometry.samples_per_cell

    def decode(latents: torch.Tensor) -> torch.Tensor:
        n, pad = latents.shape[2], LOOP_CONTEXT_CELLS
        wave = ctx.decoder.decode(circular_extend(latents, pad, pad))
        return wave[:, pad * samples_per_cell : (pad + n) * samples_per_cell]

    return decode
