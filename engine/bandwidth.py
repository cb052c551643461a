"""Bandwidth extension: the band above the model's 8 kHz, for clips delivered at 44.1 or 48 kHz.

Every model renders 16 kHz audio, so a clip delivered at a higher rate is empty above 8 kHz and sounds dull
beside anything else in a session. :func:`extend_band` adds the missing band, up to the Nyquist frequency (a
generated clip, an upsample) or to the band a take has beside an edit, and leaves the band below the crossover
as it was:

1. The audio at the output rate is analysed by an STFT (about 43 ms frames, a quarter of that hop, at every
   rate). Per frame, the low band's log power in sixth-octave bands relative to the band edge
   (:func:`low_features`) goes to a small convolutional network (:class:`EnvelopeNet`, weights shipped in
   ``engine/data/``, trained by ``workbench/training/bandwidth.py``), which predicts the log power of sixth-octave
   bands above the edge, relative to the frame's low-band power. Relative on both sides, so the level of a clip
   and the rate it is delivered at do not matter, and the same weights serve every model.
2. The fine structure of the new band is the low band's own top translated upwards (a single-sideband shift by a
   whole number of frames' phase turns, so that transients and the pitch's periodicity carry over), mixed with
   noise drawn from the request's seed, both flattened to unit power per bin.
3. That fine structure, shaped to the predicted envelope and faded in above the crossover, is turned back into
   a waveform (inverse STFT) and added: below the crossover the result is the input, sample for sample, but for
   the new band's tail (far below 0.1 dB).

It runs in float32 on the CPU (the waveform is there already, and a CPU result repeats exactly wherever the clip
was generated, on the CPU or a GPU), deterministic for a seed, so ``regenerate`` rebuilds the clip bit for bit.
:func:`detect_band` finds where a take's own band ends (the edits extend their new audio up to it, an upsample
above it); :func:`exciter` is the simple signal-processing baseline the benchmark
(``benchmarks/bench_bandwidth.py``) compares against.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from audioldm_daw.engine.errors import EngineError

#: The band the models deliver (half their 16 kHz rate): the stage adds what lies above it.
MODEL_BAND_HZ = 8000.0
BANDS_PER_OCTAVE = 6
LOW_BANDS = 30  # sixth-octave bands below the edge: five octaves (250 Hz .. 8 kHz at the model's edge)
HIGH_BANDS = 10  # above it: up to 2 ** (10 / 6) = 3.17 times the edge (25.4 kHz above 8 kHz)
N_FEATURES = LOW_BANDS + 3  # the bands, the sub-band below them, the frame's level in the clip, the edge
N_FFT_48K = 2048  # the STFT at 48 kHz (43 ms); other rates scale it to the nearest power of two
HOPS_PER_FRAME = 4
CROSSOVER = 0.95  # the new band fades in from this fraction of the edge to the edge
SOURCE_BAND = (0.45, 0.9)  # the part of the low band (fractions of the edge) translated upwards
NOISE_SHARE = 0.25  # the new band's power drawn from seeded noise, the rest the translated low band (--tune chose it)
FLOOR = 1e-9  # powers below this fraction of the clip's mean count as silence
WEIGHTS = "bandwidth.safetensors"
BAND_CLIFF_DB = 30.0  # detect_band: the drop within BAND_CLIFF_OCTAVES that marks a band limit
BAND_CLIFF_OCTAVES = 0.5
BAND_SMOOTH_HZ = 200.0  # detect_band: the long-term spectrum averaged over this much (single partials do not count)


#: ``(features, reference, bands) -> band log10 powers``: an envelope other than the network's (see extend_band).
Envelope = Callable[[torch.Tensor, torch.Tensor, "Bands"], torch.Tensor]


@dataclass(frozen=True)
class Bands:
    """Bin ranges of the feature bands and the predicted bands for one STFT size, rate and band edge."""

    n_fft: int
    rate: int
    edge_hz: float

    @property
    def bin_hz(self) -> float:
        return self.rate / self.n_fft

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def low_edges_hz(self) -> np.ndarray:
        """The low bands' edges in Hz, lowest first (LOW_BANDS + 1 of them, the last is the band edge)."""
        return self.edge_hz * 2.0 ** ((np.arange(LOW_BANDS + 1) - LOW_BANDS) / BANDS_PER_OCTAVE)

    def high_edges_hz(self) -> np.ndarray:
        """The predicted bands' edges in Hz, from the band edge up (HIGH_BANDS + 1 of them)."""
        return self.edge_hz * 2.0 ** (np.arange(HIGH_BANDS + 1) / BANDS_PER_OCTAVE)

    def band_matrix(self, edges_hz: np.ndarray) -> torch.Tensor:
        """(bands, bins): 1/count over the bins whose centre lies in each band (at least the nearest bin)."""
        freqs = np.arange(self.n_bins) * self.bin_hz
        m = np.zeros((len(edges_hz) - 1, self.n_bins), dtype=np.float32)
        for i, (lo, hi) in enumerate(itertools.pairwise(edges_hz)):
            sel = (freqs >= lo) & (freqs < hi)
            if not sel.any():
                sel[min(round((lo + hi) / 2 / self.bin_hz), self.n_bins - 1)] = True
            m[i, sel] = 1.0 / sel.sum()
        return torch.from_numpy(m)


def n_fft_for(rate: int) -> int:
    """The STFT size at ``rate``: about 43 ms, a power of two (2048 at 44.1 and 48 kHz)."""
    return int(2 ** round(math.log2(rate * N_FFT_48K / 48000)))


def stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """(..., samples) -> (..., bins, frames) complex, Hann window, centred frames."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    return torch.stft(x, n_fft, n_fft // HOPS_PER_FRAME, window=window, center=True, return_complex=True)


def istft(spec: torch.Tensor, n_fft: int, length: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=spec.device, dtype=torch.float32)
    return torch.istft(spec, n_fft, n_fft // HOPS_PER_FRAME, window=window, center=True, length=length)


def low_features(power: torch.Tensor, bands: Bands) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (..., N_FEATURES, frames) of the band below the edge, and each frame's reference level.

    ``power``: (..., bins, frames) STFT power. The reference is the log10 mean power per bin of the frame's low
    band; the features are each sixth-octave band's log10 power relative to it (and the band below the lowest),
    the frame's reference relative to the clip's mean, and the edge in octaves from 8 kHz."""
    edges = bands.low_edges_hz()
    matrix = bands.band_matrix(np.concatenate([[0.0], edges])).to(power.device)
    below = torch.einsum("kf,...ft->...kt", matrix, power)  # the sub-band, then the LOW_BANDS bands
    edge_bin = max(1, int(bands.edge_hz / bands.bin_hz))
    frame = power[..., :edge_bin, :].mean(dim=-2)
    clip = frame.mean(dim=-1, keepdim=True)
    floor = clip * FLOOR + 1e-30
    ref = torch.log10(frame + floor)
    rel = torch.log10(below + floor.unsqueeze(-2)) - ref.unsqueeze(-2)
    level = (ref - torch.log10(clip + 1e-30)).unsqueeze(-2)
    edge = torch.full_like(level, math.log2(bands.edge_hz / MODEL_BAND_HZ))
    return torch.cat([rel, level, edge], dim=-2), ref


def high_targets(power: torch.Tensor, bands: Bands) -> torch.Tensor:
    """The log10 power per bin of each predicted band (..., HIGH_BANDS, frames), relative to nothing: what
    training compares the prediction plus the reference with. Bands above the rate's Nyquist are NaN."""
    edges = bands.high_edges_hz()
    matrix = bands.band_matrix(edges).to(power.device)
    out = torch.einsum("kf,...ft->...kt", matrix, power)
    edge_bin = max(1, int(bands.edge_hz / bands.bin_hz))
    clip = power[..., :edge_bin, :].mean(dim=(-2, -1))
    out = torch.log10(out + (clip * FLOOR + 1e-30)[..., None, None])
    beyond = torch.as_tensor(edges[1:] > bands.rate / 2 * 1.0001, device=power.device)
    return out.masked_fill(beyond[:, None], float("nan"))


class EnvelopeNet(nn.Module):
    """Low-band features (batch, N_FEATURES, frames) -> the high bands' log10 power relative to the frame's
    low-band power (batch, HIGH_BANDS, frames). Dilated convolutions along time: a third of a second of context
    each side, so a hi-hat's decay or a vowel's onset shapes the band around it."""

    def __init__(self, channels: int = 96, kernel: int = 5, dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = N_FEATURES
        for d in dilations:
            layers += [nn.Conv1d(width, channels, kernel, dilation=d, padding=d * (kernel // 2)), nn.GELU()]
            width = channels
        layers.append(nn.Conv1d(width, HIGH_BANDS, 1))
        self.net = nn.Sequential(*layers)
        self.config = {"channels": channels, "kernel": kernel, "dilations": list(dilations)}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def weights_path() -> Any:
    """The shipped weights (package data of ``audioldm_daw.engine``), in a wheel and an editable install alike."""
    from importlib.resources import files

    return files("audioldm_daw.engine").joinpath("data", WEIGHTS)


@functools.lru_cache(maxsize=1)
def load_net() -> EnvelopeNet:
    """The shipped envelope network, loaded once per process (read-only afterwards, so threads may share it)."""
    from importlib.resources import as_file

    with as_file(weights_path()) as path:
        if not path.is_file():
            raise EngineError(
                f"the bandwidth extension's weights ({WEIGHTS}) are missing from the installed package; reinstall "
                "audioldm-daw, or turn the extension off (fullband 0 over OSC, --no-fullband on the command line)"
            )
        return net_from_file(path)


def net_from_file(path: Any) -> EnvelopeNet:
    """An :class:`EnvelopeNet` from a safetensors file whose metadata holds its ``config`` (as training writes)."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        config = json.loads((f.metadata() or {}).get("config", "{}"))
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open is not a mapping)
    net = EnvelopeNet(
        channels=int(config.get("channels", 96)),
        kernel=int(config.get("kernel", 5)),
        dilations=tuple(int(d) for d in config.get("dilations", (1, 2, 4))),
    )
    net.load_state_dict(state)
    net.eval()
    return net


def _log_envelope(pred_log: torch.Tensor, bands: Bands, bins: torch.Tensor) -> torch.Tensor:
    """Predicted band log-powers (..., HIGH_BANDS, frames) -> per-bin log-powers (..., len(bins), frames),
    linear in log frequency between the bands' centres and held beyond the first and last."""
    edges = bands.high_edges_hz()
    centres = np.log2(np.sqrt(edges[:-1] * edges[1:]))
    f = np.log2(np.maximum(bins.cpu().numpy() * bands.bin_hz, 1.0))
    pos = np.clip(np.interp(f, centres, np.arange(HIGH_BANDS, dtype=np.float64)), 0, HIGH_BANDS - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, HIGH_BANDS - 1)
    w = torch.as_tensor(pos - lo, dtype=pred_log.dtype, device=pred_log.device)[:, None]
    lo_t, hi_t = torch.as_tensor(lo, device=pred_log.device), torch.as_tensor(hi, device=pred_log.device)
    return pred_log[..., lo_t, :] * (1 - w) + pred_log[..., hi_t, :] * w


def _smooth_bins(power: torch.Tensor, width: int) -> torch.Tensor:
    """A moving average of ``power`` (..., bins, frames) along the bins (edges replicated)."""
    if width <= 1:
        return power
    shape = power.shape
    x = power.reshape(-1, shape[-2], shape[-1]).transpose(1, 2).reshape(-1, 1, shape[-2])
    pad = width // 2
    x = torch.nn.functional.pad(x, (pad, width - 1 - pad), mode="replicate")
    x = torch.nn.functional.avg_pool1d(x, width, stride=1)
    return x.reshape(-1, shape[-1], shape[-2]).transpose(1, 2).reshape(shape)


def _translation(n_bins: int, first: int, src_lo: int, src_hi: int, step: int) -> np.ndarray:
    """For each bin from ``first`` up, the source bin in ``src_lo .. src_hi`` it is copied from: a shift by a
    multiple of ``step`` bins (a whole number of phase turns per hop), repeating every period of the source."""
    period = max(step, (src_hi - src_lo) // step * step)
    src_lo = first - math.ceil((first - src_lo) / step) * step  # the shift is a multiple of ``step``
    if src_lo < 1:
        src_lo += math.ceil((1 - src_lo) / step) * step
    target = np.arange(first, n_bins)
    return src_lo + (target - first) % period


def predict_envelope(features: torch.Tensor) -> torch.Tensor:
    """The shipped network's prediction for ``features`` (batch, N_FEATURES, frames)."""
    with torch.inference_mode():
        return load_net()(features)


def extend_band(
    audio: np.ndarray,
    sr: int,
    band_hz: float = MODEL_BAND_HZ,
    out_sr: int | None = None,
    seed: int = 0,
    *,
    top_hz: float | None = None,
    periodic: bool = False,
    noise_share: float = NOISE_SHARE,
    envelope: Envelope | None = None,
) -> np.ndarray:
    """``audio`` (samples,) or (samples, channels) at ``sr``, whose content ends at ``band_hz``, at ``out_sr``
    (default ``sr``) with a band added from ``band_hz`` up to ``top_hz`` (default: the output's Nyquist frequency;
    never above it nor 3.17 times ``band_hz``). Up to the Nyquist frequency because that is the band of what a
    session records; a lower default was measured and dropped (docs/benchmarks.md, "Bandwidth extension").

    The band is new only above ``CROSSOVER * band_hz``; below, the result is the input resampled to ``out_sr``
    (by the engine's resampler), so an upsample keeps its take's own band. ``seed`` draws the noise part of the
    new band (the same seed gives the same samples); ``periodic``: the audio is one period of a loop, and the
    new band wraps around as the loop does. Nothing is added where ``out_sr`` leaves no room above the band.
    ``envelope(features, reference, bands)``: the new band's log10 powers (HIGH_BANDS, frames) in place of the
    shipped network's (the benchmark's bound: the original's own).
    """
    from audioldm_daw.engine.output import resample

    out_sr = int(out_sr or sr)
    x = np.asarray(audio, dtype=np.float32)
    if sr != out_sr:
        x = resample(x, sr, out_sr) if x.ndim == 1 else np.stack([resample(c, sr, out_sr) for c in x.T], axis=1)
    top = min(out_sr / 2, band_hz * 2 ** (HIGH_BANDS / BANDS_PER_OCTAVE), out_sr / 2 if top_hz is None else top_hz)
    if top <= band_hz * 1.05 or len(x) == 0 or not np.any(x):
        return x
    mono = x.ndim == 1
    chans = x[:, None] if mono else x
    added = np.stack(
        [
            _added_band(chans[:, c], out_sr, band_hz, top, seed + c, periodic, noise_share, envelope)
            for c in range(chans.shape[1])
        ],
        axis=1,
    )
    out = (chans + added).astype(np.float32)
    return out[:, 0] if mono else out


def _added_band(
    x: np.ndarray,
    rate: int,
    band_hz: float,
    top_hz: float,
    seed: int,
    periodic: bool,
    noise_share: float,
    envelope: Envelope | None = None,
) -> np.ndarray:
    """The new band for one channel: a waveform of ``len(x)`` samples with (almost) nothing below the crossover."""
    n_fft = n_fft_for(rate)
    n = len(x)
    pad = n_fft if periodic else 0
    signal = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    noise = torch.randn(n, generator=gen, dtype=torch.float32)
    if periodic and n > 1:  # the loop's end flows into its start: so do the signal's and the noise's frames
        idx = torch.arange(-pad, n + pad) % n
        signal, noise = signal[idx], noise[idx]
    short = n_fft + 1 - len(signal)
    if short > 0:  # shorter than a frame: silence after it (the centred frames reflect at the edges)
        signal = torch.nn.functional.pad(signal, (0, short))
        noise = torch.nn.functional.pad(noise, (0, short))
    bands = Bands(n_fft, rate, float(band_hz))
    spec = stft(signal, n_fft)
    power = spec.real.square() + spec.imag.square()
    features, ref = low_features(power, bands)
    if envelope is not None:
        pred = envelope(features, ref, bands)
    else:
        pred = predict_envelope(features[None])[0] + ref[None, :]

    first = math.floor(CROSSOVER * band_hz / bands.bin_hz)
    last = min(bands.n_bins - 1, math.ceil(top_hz / bands.bin_hz))
    bins = torch.arange(first, last + 1)
    log_env = _log_envelope(pred, bands, bins)  # (bins, frames)

    src_lo, src_hi = (round(f * band_hz / bands.bin_hz) for f in SOURCE_BAND)
    src = torch.as_tensor(_translation(bands.n_bins, first, src_lo, src_hi, HOPS_PER_FRAME)[: len(bins)])
    width = max(3, round(band_hz / 12 / bands.bin_hz))  # about a sixth of an octave at the top of the source
    smooth = _smooth_bins(power, width)
    clip_floor = power[: first + 1].mean() * FLOOR + 1e-30
    translated = spec[src] / torch.sqrt(smooth[src] + clip_floor)
    window_power = torch.hann_window(n_fft).square().sum()
    shaped_noise = stft(noise, n_fft)[bins] / torch.sqrt(window_power)
    fine = math.sqrt(1 - noise_share) * translated + math.sqrt(noise_share) * shaped_noise

    freqs = bins.to(torch.float32) * bands.bin_hz
    lo_hz = CROSSOVER * band_hz
    rise = torch.clamp((freqs - lo_hz) / max(band_hz - lo_hz, 1e-6), 0, 1)
    fall = torch.clamp((top_hz - freqs) / max(0.02 * top_hz, bands.bin_hz), 0, 1)
    fade = 0.5 - 0.5 * torch.cos(math.pi * torch.minimum(rise, fall))
    gain = torch.pow(10.0, 0.5 * log_env) * fade[:, None]
    new = torch.zeros_like(spec)
    new[first : last + 1] = fine * gain
    wave = istft(new, n_fft, len(signal))
    start = pad if periodic and n > 1 else 0
    return wave[start : start + n].numpy()


def detect_band(audio: np.ndarray, sr: int, cliff_db: float = BAND_CLIFF_DB) -> float:
    """Where the band of ``audio`` (samples,) or (samples, channels) at ``sr`` ends: the highest frequency whose
    long-term level stands ``cliff_db`` above everything :data:`BAND_CLIFF_OCTAVES` and more above it, or the
    Nyquist frequency where there is no such cliff (0 for silence).

    A band limit (a resampler's, a codec's low-pass, a brick wall) drops the level that far within half an
    octave, wherever it lies relative to the rate; a recording's own spectrum mostly falls slower (a lone low
    drone can pass for a band limit: the edits then add no band to it, which it would not have wanted)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if len(x) == 0 or not np.any(x):
        return 0.0
    n_fft = n_fft_for(sr)
    bin_hz = sr / n_fft
    signal = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(x)), (0, max(0, n_fft + 1 - len(x))))
    spec = stft(signal, n_fft)
    power = (spec.real.square() + spec.imag.square()).mean(dim=-1)
    width = max(1, round(BAND_SMOOTH_HZ / bin_hz))
    level = (10 * torch.log10(_smooth_bins(power[:, None], width)[:, 0] + 1e-30)).numpy()
    above = np.maximum.accumulate(level[::-1])[::-1]  # the loudest level at or above each bin
    reach = np.maximum(2, np.round(np.arange(len(level)) * (2**BAND_CLIFF_OCTAVES - 1))).astype(np.int64)
    ahead = np.arange(len(level)) + reach
    inside = ahead < len(level)
    cliff = np.zeros(len(level), dtype=bool)
    cliff[inside] = level[inside] - above[ahead[inside]] >= cliff_db
    found = np.flatnonzero(cliff)
    return float((found.max() + 1) * bin_hz) if len(found) else sr / 2


def exciter(
    audio: np.ndarray, sr: int, band_hz: float = MODEL_BAND_HZ, gain: float = 0.5, top_hz: float | None = None
) -> np.ndarray:
    """The signal-processing baseline: a harmonic exciter. The octave below the edge, high-passed, through a
    full-wave rectifier (which doubles its frequencies), high-passed again above the edge, ``gain`` times,
    added (and low-passed at ``top_hz``, where given). (samples,) or (samples, channels) at ``sr`` in, the same
    out. ``gain`` is the one of several that gave the lowest distance on held-out training recordings
    (``workbench/training/bandwidth.py --tune``)."""
    x = np.asarray(audio, dtype=np.float64)
    n = len(x)
    f = np.fft.rfftfreq(n, 1 / sr)
    if x.ndim > 1:
        f = f[:, None]

    def highpass(y: np.ndarray, hz: float) -> np.ndarray:
        ramp = np.clip((f - hz * CROSSOVER) / (hz * (1 - CROSSOVER)), 0, 1)
        return np.fft.irfft(np.fft.rfft(y, axis=0) * (0.5 - 0.5 * np.cos(np.pi * ramp)), n, axis=0)

    harmonics = highpass(np.abs(highpass(x, band_hz / 2)), band_hz)
    if top_hz is not None:
        harmonics = harmonics - highpass(harmonics, top_hz)
    return (x + gain * harmonics).astype(np.float32)
