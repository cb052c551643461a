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
- a clip at a tempo with ``fit`` on is generated longer (:func:`~audioldm_daw.engine.tempo_fit.material_seconds`),
  then stretched to the tempo and cut on a beat by the engine (a loop's closure redone after the cut).

Recipe 3 (the edits keep the take): inpaint and continue give the model a window of the take around the
span (or at its end), read from the file alone, and deliver the take's own samples outside what they change,
in every channel, at the take's rate (or the take resampled by :func:`~audioldm_daw.engine.output.resample`
where another rate was asked for); the new audio, level-matched per channel, meets them through crossfades
that lie inside the new part. Upsample delivers the take through a crossover: its own band below the
cutoff, the model's between the cutoff and the model's Nyquist frequency, the take's again above that.
The take's own samples are never held whole: an edit delivers a :class:`~audioldm_daw.engine.takes.TakeEdit`,
which reads them from the file as the result is written. Transfer, variation and upsample of an input longer
than :data:`WINDOWED_ABOVE_S` run in overlapping windows (:class:`LongInput`, :class:`WindowRun`), one plan per
window, joined by :class:`~audioldm_daw.engine.takes.Joiner` as the engine finishes each.
Recipes 1 and 2 keep their splices of the model's reconstruction, so their sidecars recall exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

import numpy as np
import torch

from audioldm_daw.engine.bandwidth import detect_band, extend_band
from audioldm_daw.engine.conditioning import audio_embeddings, require_clap, text_embeddings
from audioldm_daw.engine.cuda_graphs import program_key, program_version
from audioldm_daw.engine.decode import DecodeBackend
from audioldm_daw.engine.errors import EngineError, InputAudioError, InvalidRequest
from audioldm_daw.engine.geometry import Geometry
from audioldm_daw.engine.input_audio import SILENCE_PEAK, load_input, model_mono
from audioldm_daw.engine.model import AudioLDMModel
from audioldm_daw.engine.output import fit_length, resample
from audioldm_daw.engine.params import MAX_DURATION_S, MIN_DURATION_S
from audioldm_daw.engine.request import (
    MAX_CROSSFADE_PART,
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
from audioldm_daw.engine.takes import Joiner, Spool, StreamedAudio, Take, TakeEdit, edge_fades
from audioldm_daw.engine.tempo_fit import material_seconds

LOOP_CONTEXT_CELLS = 8  # latent cells of wrap-around context each side (0.32 s at the public geometry)
SPLICE_RAMP_S = 0.01  # crossfade between the reconstruction and the generated span (recipes 1 and 2)
CONTEXT_S = 4.0  # seconds of the take each side of an inpainted span (before a continuation) that the model hears
LEVEL_CONTEXT_S = 0.5  # the take just outside a span whose RMS the new audio is matched to, each side
SILENT_RMS = 1e-5  # -100 dBFS: context this quiet sets no level; the new audio keeps the model's, at the take's
FADE_OUT_S = 0.005  # the end of a continuation (a generated clip's own fade)
BAND_PROBE_S = 10.0  # the start of a take whose band an upsample extends above (a file's band limit is constant)


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
    # Recipe 3's edits: the chosen decoded waveform (model rate) -> the delivered take, (samples, channels) at
    # ``out_rate``, written as ``subtype``; None: the generated clip is finished as a new clip.
    deliver: Callable[[np.ndarray], np.ndarray | StreamedAudio] | None = None
    out_rate: int | None = None
    subtype: str | None = None
    # A clip fitted to a tempo (tempo_fit.py): the requested bpm; the plan then generates more than ``seconds``.
    fit_bpm: float | None = None
    # A long input heard in windows (:class:`WindowRun`): this plan is its first window's.
    windows: WindowRun | None = None


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
    power, frames = _band_power(wave)
    return _cutoff_from(power / frames, sr, floor_db)


CUTOFF_FFT = 1024  # detect_cutoff's frames, every quarter frame


def _band_power(wave: np.ndarray) -> tuple[np.ndarray, int]:
    """The power spectra of ``wave``'s frames summed, and how many frames (:func:`detect_cutoff`'s analysis)."""
    n_fft = CUTOFF_FFT
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(wave.astype(np.float64), (0, n_fft)), n_fft)[::256]
    return (np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2).sum(axis=0), len(frames)


def _cutoff_from(power: np.ndarray, sr: int, floor_db: float = 30.0) -> float:
    """The band limit of a mean power spectrum (see :func:`detect_cutoff`)."""
    n_fft = CUTOFF_FFT
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


def _long_take(source: InputSource, req: GenerateRequest) -> Take | None:
    """The input as a :class:`Take` where it is heard in windows (recipe 3, longer than
    :data:`WINDOWED_ABOVE_S`); None where it is loaded whole."""
    if req.recipe < 3:
        return None
    take = Take.open(source.input_path)
    return take if take.seconds > WINDOWED_ABOVE_S else None


def _input_seconds(ctx: Context, inp: InputAudio) -> float:
    """The length of a clip that follows its input (transfer, inpaint, upsample)."""
    return min(max(len(inp.raw) / ctx.geometry.sample_rate, MIN_DURATION_S), MAX_DURATION_S)


def _noise_plan(
    ctx: Context, req: GenerateRequest, scheduler: Any, cond: Conditioning, seconds: float, *, loop: bool = False
) -> Plan:
    """A plan that starts from the seed's noise over the cells of ``seconds``."""
    m, g = ctx.model, ctx.geometry
    fit_bpm = req.bpm if req.fit and req.bpm is not None else None
    made = seconds if fit_bpm is None else material_seconds(seconds, fit_bpm, max(seconds, MAX_DURATION_S))
    cells = g.loop_cells(made) if loop else g.cells_for(made, req.recipe)
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
        native_samples=g.samples(made),
        generator=gen,
        noise=noise,
        fit_bpm=fit_bpm,
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
    take = _long_take(source, req)
    if take is not None and req.seconds is None:
        return _variation_windows(ctx, req, scheduler, take)
    if take is not None:  # a length of its own: CLAP hears the start of the input in any case
        inp = _mono_window(ctx, take, 0, math.floor(WINDOWED_ABOVE_S * take.sample_rate), req.recipe)
    else:
        inp = _input(ctx, source, req)
    cond = audio_condition(ctx.model, inp.wave, req.negative, req.guidance, req.candidates)
    seconds = req.seconds if req.seconds is not None else _input_seconds(ctx, inp)  # recipe 3: the input's
    plan = _noise_plan(ctx, req, scheduler, cond, seconds, loop=req.loop)
    plan.reference = inp.wave
    return plan


@make_plan.register
def _transfer(source: Transfer, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    take = _long_take(source, req)
    if take is not None:
        return _transfer_windows(source, ctx, req, scheduler, take)
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
    if req.recipe >= 3:
        return _inpaint_take(source, ctx, req, scheduler)
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
    if req.recipe >= 3:
        return _continue_take(source, ctx, req, scheduler)
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
    if req.recipe >= 3:
        return _upsample_take(source, ctx, req, scheduler)
    inp = _input(ctx, source, req)
    g = ctx.geometry
    sr = g.sample_rate
    plan, mask = _known_region(ctx, req, scheduler, inp, _input_seconds(ctx, inp))
    cutoff = float(source.cutoff_hz) if source.cutoff_hz else detect_cutoff(inp.raw, sr)
    mask[:, :, :, : _known_bins(ctx, cutoff)] = True
    if cutoff < sr / 2 - 1:
        plan.post = lambda audio: splice_low_band(inp.restore(audio), inp.raw, sr, cutoff)
    elif inp.gain != 1.0:
        plan.post = inp.restore
    plan.request = req.with_source(cutoff_hz=round(cutoff, 1))
    return _follow_known(ctx, plan, scheduler, inp, mask)


def _known_bins(ctx: Context, cutoff: float) -> int:
    """Latent frequency bins wholly below ``cutoff`` (the band the upsample keeps), at least one."""
    g = ctx.geometry
    bins = known_mel_bins(cutoff, g.mel_bins, g.sample_rate) // g.vae_factor
    if bins < 1:
        raise InvalidRequest.about(
            "cutoff_hz", f"{cutoff:.0f} Hz leaves no known band to keep; expected a higher cutoff"
        )
    return bins


# -- recipe 3: the edits keep the take ----------------------------------------------------------------
def _mono_window(ctx: Context, take: Take, start: int, frames: int, recipe: int) -> InputAudio:
    """Frames ``start`` .. ``start + frames`` of ``take`` as the model hears them (mono, its rate, its level)."""
    return prepare_input(model_mono(take.read(start, frames), take.sample_rate, ctx.geometry.sample_rate), recipe)


def _rms(x: np.ndarray) -> np.ndarray:
    """RMS per channel of ``x`` (samples, channels), float64."""
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0)) if len(x) else np.zeros(x.shape[1])


def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-in and fade-out gains of an equal-power crossfade of ``n`` samples (the new audio and the take
    are unrelated in phase, so their powers add: a linear fade would dip in the middle)."""
    theta = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.sin(theta)[:, None], np.cos(theta)[:, None]


def _limit(x: np.ndarray, subtype: str) -> np.ndarray:
    """New audio within what an integer WAV holds (a float WAV holds any level)."""
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_S8": 8, "PCM_U8": 8}.get(subtype)
    return x if bits is None else np.clip(x, -1.0, 1.0 - 2.0 ** (1 - bits))


def _out_rate(req: GenerateRequest, take: Take) -> int:
    return int(req.sample_rate) if req.sample_rate is not None else take.sample_rate


def _window_plan(
    ctx: Context, req: GenerateRequest, scheduler: Any, take: Take, inp: InputAudio, seconds: float
) -> tuple[Plan, torch.Tensor]:
    plan, mask = _known_region(ctx, req, scheduler, inp, seconds)
    plan.subtype = take.wav_subtype(req.sample_format)
    return plan, mask


def _inpaint_take(source: Inpaint, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    """Inpaint on a window of ``CONTEXT_S`` around the span; the take's own samples everywhere else."""
    take = Take.open(source.input_path)
    source.check_input(take.seconds, ctx.geometry.cell_seconds)
    g, sr = ctx.geometry, take.sample_rate
    end = min(source.end, take.seconds)
    f0 = max(0, math.floor((source.start - CONTEXT_S) * sr))
    f1 = min(take.frames, math.ceil((end + CONTEXT_S) * sr))
    inp = _mono_window(ctx, take, f0, f1 - f0, req.recipe)
    plan, mask = _window_plan(ctx, req, scheduler, take, inp, len(inp.raw) / g.sample_rate)
    w0 = f0 / sr
    mask[:, :, : g.cell_at(source.start - w0)] = True
    mask[:, :, g.cell_after(end - w0) :] = True
    rate = plan.out_rate = _out_rate(req, take)

    def deliver(wave: np.ndarray) -> TakeEdit:
        n = take.length_at(rate)
        s0, s1 = round(source.start * rate), min(round(end * rate), n)
        new = resample(inp.restore(wave), g.sample_rate, rate)  # the window, from time w0, at the output rate
        o = round(w0 * rate)
        span = fit_length(new[s0 - o : s1 - o].astype(np.float64), s1 - s0)[:, None]
        reach = round(LEVEL_CONTEXT_S * rate)
        a0 = max(0, s0 - reach)
        near = take.range_at(rate, a0, s1 + reach)  # the span and the take just around it: all that is read
        kept = near[s0 - a0 : s1 - a0]
        around = np.concatenate([near[: s0 - a0], near[s1 - a0 :]])
        span = _full_band(req, span, (near[: s0 - a0], near[s1 - a0 :]), rate, g.sample_rate)
        part = splice_inside(kept, _matched(span, _rms(around)), source.crossfade_ms, rate, both=True)
        return TakeEdit(take, rate, [(s0, _limit(part, plan.subtype or "FLOAT"))])  # the rest: the take's own

    plan.deliver = deliver
    return _follow_known(ctx, plan, scheduler, inp, mask)


def _full_band(
    req: GenerateRequest, new: np.ndarray, context: tuple[np.ndarray, ...], rate: int, model_rate: int
) -> np.ndarray:
    """The model's new audio (samples, 1) at ``rate``, extended above the model's band up to the band the take
    has beside it (``context``: its samples before and after the new part, each judged alone, since the jump
    between them would pass for a band), where the request asks for the full band."""
    parts = [c for c in context if len(c)]
    if not req.full_band or rate <= model_rate or not parts:
        return new
    top = max(detect_band(c, rate) for c in parts)
    return extend_band(new, rate, model_rate / 2, rate, int(req.seed or 0), top_hz=top)


def _matched(new: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mono ``new`` (samples, 1) in every channel, each at the RMS ``target`` of that channel's context."""
    have = float(_rms(new)[0])
    gains = np.where(target > SILENT_RMS, target / max(have, 1e-12), 1.0)
    return new * gains[None, :]


def splice_inside(kept: np.ndarray, new: np.ndarray, crossfade_ms: float, rate: int, *, both: bool) -> np.ndarray:
    """``new`` over ``kept`` (same shape): an equal-power crossfade from ``kept`` over the first samples and,
    ``both``, back to it over the last; each at most :data:`MAX_CROSSFADE_PART` of the part, so the fades
    lie inside it and the samples around it stay the take's own."""
    n = len(new)
    xf = min(round(crossfade_ms / 1000 * rate), math.floor(n * MAX_CROSSFADE_PART) if both else n)
    out = new.astype(np.float64, copy=True)
    if xf > 0:
        fade_in, fade_out = equal_power(xf)
        out[:xf] = fade_in * new[:xf] + fade_out * kept[:xf]
        if both:
            out[n - xf :] = fade_out * new[n - xf :] + fade_in * kept[n - xf :]
    return out.astype(np.float32)


def _continue_take(source: Continuation, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    """The take's last ``CONTEXT_S`` as the known region, the continuation after it; the whole take first."""
    take = Take.open(source.input_path)
    g, sr = ctx.geometry, take.sample_rate
    f0 = max(0, take.frames - math.ceil(CONTEXT_S * sr))
    inp = _mono_window(ctx, take, f0, take.frames - f0, req.recipe)
    known_cells = g.whole_cells(len(inp.raw))
    if known_cells < 1:
        raise InputAudioError("input: too short to continue (expected at least one latent cell of audio)")
    plan, mask = _window_plan(ctx, req, scheduler, take, inp, len(inp.raw) / g.sample_rate + source.seconds)
    mask[:, :, :known_cells] = True
    rate = plan.out_rate = _out_rate(req, take)
    plan.seconds = take.seconds + source.seconds

    def deliver(wave: np.ndarray) -> TakeEdit:
        wave = resample(inp.restore(wave), g.sample_rate, rate).astype(np.float64)
        join = round((take.frames - f0) / sr * rate)  # the take's end in the window, at the output rate
        n_new = round(source.seconds * rate)
        new = fit_length(wave[join:], n_new)[:, None]
        n_kept = take.length_at(rate)
        xf = min(round(source.crossfade_ms / 1000 * rate), n_new, n_kept)
        reach = round(LEVEL_CONTEXT_S * rate)
        kept = take.range_at(rate, max(0, n_kept - max(reach, xf)), n_kept)  # the take's end: all that is read
        tail = kept[max(0, len(kept) - reach) :]
        new = _full_band(req, new, (tail,), rate, g.sample_rate)
        model_tail = wave[max(0, join - len(tail)) : join][:, None]  # the model's own take of that tail
        gains = np.where(_rms(tail) > SILENT_RMS, _rms(tail) / max(float(_rms(model_tail)[0]), 1e-12), 1.0)
        new = new * gains[None, :]
        # The take's continuation over the crossfade: its last samples mirrored (no step at the join).
        mirror = np.zeros_like(new)
        mirror[:xf] = kept[len(kept) - xf :][::-1]
        new = splice_inside(mirror, new, source.crossfade_ms, rate, both=False)
        fade = min(round(FADE_OUT_S * rate), n_new - xf)
        if fade > 0:
            new[n_new - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        return TakeEdit(take, rate, tail=_limit(new, plan.subtype or "FLOAT"))  # the whole take, then the new part

    plan.deliver = deliver
    return _follow_known(ctx, plan, scheduler, inp, mask)


def crossover(take: np.ndarray, new: np.ndarray, rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """The take below ``low_hz`` and above ``high_hz``, ``new`` between (per channel, in the spectrum, with
    short raised-cosine transitions inside the new band): below the crossover the take passes unchanged."""
    n = len(take)
    f = np.fft.rfftfreq(n, 1 / rate)
    width = max(low_hz * 0.05, 50.0)
    rise = np.clip((f - low_hz) / width, 0.0, 1.0)
    fall = np.clip((high_hz - f) / width, 0.0, 1.0)
    w = (0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall)))[:, None]  # 1 where the model's band is taken
    spec = np.fft.rfft(take.astype(np.float64), axis=0)
    spec = spec * (1 - w) + np.fft.rfft(new.astype(np.float64), axis=0) * w
    return np.fft.irfft(spec, n, axis=0).astype(np.float32)


def _upsample_take(source: Upsample, ctx: Context, req: GenerateRequest, scheduler: Any) -> Plan:
    """The model fills the band between the take's cutoff and its own Nyquist frequency; the take keeps the
    rest, through a crossover."""
    take = Take.open(source.input_path)
    if take.seconds > WINDOWED_ABOVE_S:
        return _upsample_windows(source, ctx, req, scheduler, take)
    g = ctx.geometry
    msr = g.sample_rate
    inp = _mono_window(ctx, take, 0, take.frames, req.recipe)
    plan, mask = _window_plan(ctx, req, scheduler, take, inp, _input_seconds(ctx, inp))
    cutoff = float(source.cutoff_hz) if source.cutoff_hz else detect_cutoff(inp.raw, msr)
    mask[:, :, :, : _known_bins(ctx, cutoff)] = True
    plan.request = req.with_source(cutoff_hz=round(cutoff, 1))
    rate = plan.out_rate = _upsample_rate(req, take, msr)
    plan.seconds = take.seconds

    def deliver(wave: np.ndarray) -> np.ndarray:
        kept = take.samples_at(rate)
        new = fit_length(resample(inp.restore(wave), msr, rate), len(kept)).astype(np.float64)[:, None]
        band = _band_probe(req, kept[: round(BAND_PROBE_S * rate)], rate)
        out = _fill_band(req, kept, new, rate, msr, cutoff, band, int(req.seed or 0))
        return _limit(out, plan.subtype or "FLOAT").astype(np.float32)

    plan.deliver = deliver
    return _follow_known(ctx, plan, scheduler, inp, mask)


def _upsample_rate(req: GenerateRequest, take: Take, model_rate: int) -> int:
    """An upsample's output rate: the one asked for, else the take's (48 kHz for a take below the model's)."""
    if req.sample_rate is not None:
        return int(req.sample_rate)
    return take.sample_rate if take.sample_rate >= model_rate else 48000


def _band_probe(req: GenerateRequest, start: np.ndarray, rate: int) -> float | None:
    """The band the take has in ``start`` (its first samples at ``rate``), which ``full_band`` extends the
    upsample to; None where the request does not ask for the full band."""
    return detect_band(start, rate) if req.full_band else None


def _fill_band(
    req: GenerateRequest,
    kept: np.ndarray,
    new: np.ndarray,
    rate: int,
    model_rate: int,
    cutoff: float,
    band: float | None,
    seed: int,
) -> np.ndarray:
    """The take ``kept`` (samples, channels) with the model's ``new`` (samples, 1, at the take's level) between
    ``cutoff`` and the model's top, in each channel at that channel's level; with ``band`` (full_band), the
    band above the model's up to the take's ``band`` as well (engine/bandwidth.py), drawn from ``seed``."""
    mono = kept.mean(axis=1, keepdims=True)
    scale = np.where(_rms(mono) > SILENT_RMS, _rms(kept) / max(float(_rms(mono)[0]), 1e-12), 1.0)
    top = model_rate / 2 * 0.97  # the resampler's roll-off below the model's Nyquist frequency
    out = crossover(kept, new * scale[None, :], rate, round(cutoff, 1), top)
    if band is not None:  # the band above what the take and the model give
        out = extend_band(out, rate, max(top, band), rate, seed)
    return out


# -- long inputs in windows (recipe 3) ---------------------------------------------------------------------
WINDOWED_ABOVE_S = MAX_DURATION_S  # transfer, variation and upsample of a longer input run in windows
WINDOW_S = 20.0  # each window: long enough for a phrase, short enough that one window's work fits the memory target
WINDOW_OVERLAP_S = 2.0  # each window overlaps the next by this much, where the next takes over
WINDOW_MARGIN_S = 0.5  # kept clear of a window's edge where it hands over: the crossfade is the overlap less two


@dataclass
class WindowRun:
    """A long input in overlapping windows. The engine runs each window's plan as it runs a clip's (denoise,
    decode, rank the candidates), in order, and hands the chosen wave to :attr:`add`, which joins it to the
    windows before (:class:`~audioldm_daw.engine.takes.Joiner`) and puts away what is finished;
    :attr:`finish` then gives the delivered audio, written block by block."""

    count: int
    plan: Callable[[int], Plan]  # window i's plan, built when its turn comes; window 0's is make_plan's own
    add: Callable[[int, np.ndarray], None]  # window i's chosen decoded wave, at the model's rate
    finish: Callable[[], StreamedAudio]
    rate: int
    subtype: str | None = None


@dataclass(frozen=True)
class Layout:
    """Where the windows of an input lie, in latent cells: each ``size`` long, each overlapping the next by at
    least ``overlap``; the last ends with the input's cells (it overlaps the one before by more)."""

    cells: int
    size: int
    overlap: int
    starts: tuple[int, ...]

    @classmethod
    def of(cls, g: Geometry, seconds: float) -> Layout:
        cells = g.cells(seconds)
        size = min(g.cells(WINDOW_S), cells)
        overlap = min(g.cells(WINDOW_OVERLAP_S), size - 1)
        stride = size - overlap
        count = 1 + max(0, math.ceil((cells - size) / stride))
        return cls(cells, size, overlap, tuple(min(i * stride, cells - size) for i in range(count)))


class LongInput:
    """A take longer than :data:`WINDOWED_ABOVE_S`, heard in the windows of its :class:`Layout`.

    The model hears every window at one level, the take's own (its DC removed and its peak at
    :data:`INPUT_PEAK`, as :func:`prepare_input` sets a whole clip), and each window's noise is its cells of one
    noise drawn from the request's seed for the whole input, so overlapping windows start from the same noise
    where they overlap and ``regenerate`` repeats every window."""

    def __init__(self, ctx: Context, req: GenerateRequest, scheduler: Any, take: Take) -> None:
        self.ctx, self.req, self.scheduler, self.take = ctx, req, scheduler, take
        g = ctx.geometry
        self.layout = Layout.of(g, take.seconds)
        dc, peak = take.level()
        if peak < SILENCE_PEAK:
            raise InputAudioError(f"input: {take.path} is silent (peak below -80 dBFS); expected audible audio")
        self.dc, self.gain = dc, INPUT_PEAK / peak
        assert req.seed is not None, "make_plan takes a resolved request (seed set)"
        m = ctx.model
        shape = g.latent_shape(req.candidates, self.layout.cells)
        self.noise, self.generator = initial_noise(shape, req.seed, m.device, m.dtype)

    def input(self, i: int) -> InputAudio:
        """Window ``i`` of the take as the model hears it (mono, its rate, the take's level)."""
        g = self.ctx.geometry
        first = self.layout.starts[i] * g.samples_per_cell
        raw = self.take.mono_range(g.sample_rate, first, first + self.layout.size * g.samples_per_cell)
        return InputAudio(raw, ((raw - np.float32(self.dc)) * np.float32(self.gain)).astype(np.float32), self.gain)

    def plan(self, i: int, cond: Conditioning, reference: np.ndarray) -> Plan:
        """Window ``i``'s plan from its cells of the input's noise (what :func:`_noise_plan` makes of a clip)."""
        m, g, lay = self.ctx.model, self.ctx.geometry, self.layout
        c0 = lay.starts[i]
        noise = self.noise[:, :, c0 : c0 + lay.size].contiguous()
        return Plan(
            request=self.req,
            seconds=lay.size * g.cell_seconds,
            conditioning=cond,
            latents=noise * self.scheduler.init_noise_sigma,
            start=0,
            unet=m.unet,
            decode=self.ctx.decoder.decode,
            native_samples=lay.size * g.samples_per_cell,
            noise=noise,
            generator=self.generator,
            reference=reference,
        )

    def span(self, i: int, rate: int) -> tuple[int, int]:
        """Window ``i``'s first sample and length at ``rate``."""
        spc, msr = self.ctx.geometry.samples_per_cell, self.ctx.geometry.sample_rate
        return round(self.layout.starts[i] * spc * rate / msr), round(self.layout.size * spc * rate / msr)

    def joiner(self, rate: int, total: int, emit: Callable[[int, np.ndarray], None]) -> Joiner:
        spc, msr = self.ctx.geometry.samples_per_cell, self.ctx.geometry.sample_rate
        starts = [self.span(i, rate)[0] for i in range(len(self.layout.starts))]
        overlap = round(self.layout.overlap * spc * rate / msr)
        margin = min(round(WINDOW_MARGIN_S * rate), (overlap - 1) // 2)
        return Joiner(starts, self.span(0, rate)[1], total, overlap, margin, emit)

    def run(self, plan_of: Callable[[int], Plan], add: Callable[[int, np.ndarray], None],
            finish: Callable[[], StreamedAudio], rate: int, subtype: str | None = None) -> Plan:  # fmt: skip
        """Window 0's plan, carrying the run of them all."""
        first = plan_of(0)
        first.windows = WindowRun(len(self.layout.starts), plan_of, add, finish, rate, subtype)
        return first


def _new_clip_windows(long: LongInput, plan_of: Callable[[int], Plan]) -> Plan:
    """Windows whose decoded waves are a new clip (transfer, variation): each at the output rate (and, with
    full_band, given the band above the model's), joined into one mono clip of the input's length with the
    faded edges and the peak level :func:`~audioldm_daw.engine.output.finish` gives a clip."""
    req, msr = long.req, long.ctx.geometry.sample_rate
    rate = int(req.sample_rate or msr)
    total = round(long.take.seconds * rate)
    spool = Spool(1, mono=True)

    def emit(at: int, audio: np.ndarray) -> None:
        spool.append(edge_fades(audio[:, 0], rate, start=at == 0, end=at + len(audio) == total))

    joiner = long.joiner(rate, total, emit)

    def add(i: int, wave: np.ndarray) -> None:
        wave = np.asarray(wave, dtype=np.float32)
        if not np.all(np.isfinite(wave)):
            raise EngineError("the model produced non-finite audio (NaN/inf); try another seed or fp32")
        audio = resample(wave, msr, rate)
        if req.full_band and rate > msr:
            audio = extend_band(audio, rate, msr / 2, rate, int(req.seed or 0) + i)
        joiner.add(i, fit_length(audio, long.span(i, rate)[1])[:, None])

    return long.run(plan_of, add, lambda: spool.normalized(req.normalize_db), rate)


def _transfer_windows(source: Transfer, ctx: Context, req: GenerateRequest, scheduler: Any, take: Take) -> Plan:
    """A transfer of a long take: every window noised to ``strength`` from its own latent and denoised under
    the prompt."""
    long = LongInput(ctx, req, scheduler, take)
    cond = text_condition(ctx.model, source.prompt, req.negative, req.guidance, req.candidates)
    steps = len(scheduler.timesteps)
    init = min(round(steps * source.strength), steps)

    def plan_of(i: int) -> Plan:
        inp = long.input(i)
        plan = long.plan(i, cond, inp.wave)
        z0 = encode_audio(ctx.model, inp.wave, long.layout.size).expand(req.candidates, -1, -1, -1)
        plan.start = steps - init
        if init == 0:
            plan.latents = z0.clone()
        elif init < steps:
            plan.latents = noised(scheduler, z0, plan.noise, scheduler.timesteps[plan.start])
        return plan

    return _new_clip_windows(long, plan_of)


def _variation_windows(ctx: Context, req: GenerateRequest, scheduler: Any, take: Take) -> Plan:
    """A variation of a long take, as long as the take: every window conditioned on the CLAP audio embedding
    of its own passage, so the variation follows the take's course."""
    long = LongInput(ctx, req, scheduler, take)

    def plan_of(i: int) -> Plan:
        inp = long.input(i)
        cond = audio_condition(ctx.model, inp.wave, req.negative, req.guidance, req.candidates)
        return long.plan(i, cond, inp.wave)

    return _new_clip_windows(long, plan_of)


def _upsample_windows(source: Upsample, ctx: Context, req: GenerateRequest, scheduler: Any, take: Take) -> Plan:
    """An upsample of a long take: each window's missing band made as a whole take's is, the windows joined on
    what they add to the take (so below the crossover the take passes as it is, across the joins too), and the
    take's own samples added back as each stretch is finished."""
    long = LongInput(ctx, req, scheduler, take)
    msr = ctx.geometry.sample_rate
    cutoff = float(source.cutoff_hz) if source.cutoff_hz else _take_cutoff(take, msr)
    bins = _known_bins(ctx, cutoff)
    req = long.req = req.with_source(cutoff_hz=round(cutoff, 1))
    rate = _upsample_rate(req, take, msr)
    subtype = take.wav_subtype(req.sample_format)
    band = _band_probe(req, take.range_at(rate, 0, round(BAND_PROBE_S * rate)), rate)
    fixed = bool(req.prompt.strip()) or ctx.model.clap is None  # a text condition: the same for every window
    text = text_condition(ctx.model, req.prompt, req.negative, req.guidance, req.candidates) if fixed else None
    heard: dict[int, InputAudio] = {}
    total = take.length_at(rate)
    spool = Spool(take.channels)

    def emit(at: int, added: np.ndarray) -> None:
        spool.append(_limit(take.range_at(rate, at, at + len(added)) + added, subtype))

    joiner = long.joiner(rate, total, emit)

    def plan_of(i: int) -> Plan:
        inp = heard[i] = long.input(i)
        k = req.candidates
        cond = text if text is not None else audio_condition(ctx.model, inp.wave, req.negative, req.guidance, k)
        plan = long.plan(i, cond, inp.wave)
        mask = torch.zeros(1, 1, long.layout.size, ctx.geometry.latent_bins, dtype=torch.bool, device=plan.noise.device)
        mask[:, :, :, :bins] = True
        return _follow_known(ctx, plan, scheduler, inp, mask)

    def add(i: int, wave: np.ndarray) -> None:
        first, n = long.span(i, rate)
        kept = take.range_at(rate, first, first + n).astype(np.float64)
        new = fit_length(resample(heard.pop(i).restore(wave), msr, rate), len(kept)).astype(np.float64)[:, None]
        out = _fill_band(req, kept, new, rate, msr, cutoff, band, int(req.seed or 0) + i)
        joiner.add(i, out - kept)

    return long.run(plan_of, add, lambda: spool.normalized(req.normalize_db), rate, subtype)


def _take_cutoff(take: Take, model_rate: int, chunk_s: float = WINDOW_S) -> float:
    """:func:`detect_cutoff` of a long take's mono at the model's rate, its spectrum averaged over the whole
    take read in chunks."""
    n = take.length_at(model_rate)
    step = round(chunk_s * model_rate)
    total, frames = None, 0
    for first in range(0, n, step):
        power, count = _band_power(take.mono_range(model_rate, first, min(n, first + step)))
        total = power if total is None else total + power
        frames += count
    assert total is not None
    return _cutoff_from(total / frames, model_rate)


def _circular_decoder(ctx: Context) -> Callable[[torch.Tensor], torch.Tensor]:
    samples_per_cell = ctx.geometry.samples_per_cell

    def decode(latents: torch.Tensor) -> torch.Tensor:
        n, pad = latents.shape[2], LOOP_CONTEXT_CELLS
        wave = ctx.decoder.decode(circular_extend(latents, pad, pad))
        return wave[:, pad * samples_per_cell : (pad + n) * samples_per_cell]

    return decode
