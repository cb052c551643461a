"""The two ways from log-mel to audio: the model folder's HiFi-GAN, or Griffin-Lim phase retrieval, and which one a
model folder asks for.

Why a model can prefer Griffin-Lim: a HiFi-GAN is convolutional with a fixed hop, so where every mel frame is the
same (a steady note) its output repeats every hop, 160 samples: whatever the note, it comes out as a 100 Hz comb.
A large HiFi-GAN trained on real recordings (the public checkpoints) meets few perfectly steady mels; the small one
the project trains on its synthetic instruments meets many, and measured so (``audioldm-daw evaluate --ceilings``:
every steady test note from 55 Hz to 1.6 kHz came out at 100 Hz, where Griffin-Lim keeps most within 50 cents, and
the classifier recognised 90% of the real held-out clips through Griffin-Lim against 54% through that HiFi-GAN).
Griffin-Lim iterates STFTs from a zero phase, so the same mel always gives the same audio (exact recall holds).

A folder says which it wants in ``decode.json`` (``{"vocoder": "griffin-lim"}``); without one, the HiFi-GAN. The
folder keeps its HiFi-GAN either way, so diffusers' AudioLDMPipeline still loads it as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audioldm_daw.engine.architecture import HOP, MEL_BINS, SAMPLE_RATE
from audioldm_daw.engine.mel import F_MAX, F_MIN, N_FFT, WIN_LENGTH

HIFIGAN = "hifigan"
GRIFFIN_LIM = "griffin-lim"
#: What ``--vocoder`` takes: ``auto`` is the model folder's choice (decode.json), else the HiFi-GAN.
CHOICES = ("auto", HIFIGAN, GRIFFIN_LIM)
PREFERENCE_FILE = "decode.json"
#: Iterations: 8 kept 87% of the real clips recognisable, 16 89%, 32 90% (5 s clips, 0.08 / 0.1 / 0.2 s each on
#: one CPU thread), so 32.
ITERATIONS = 32
#: Non-negative refinement of the pseudo-inverse (multiplicative updates towards the linear magnitudes whose mel
#: is the input). The clipped pseudo-inverse alone smears each band's energy over its bins, which kept 90% of the
#: real held-out clips recognisable (organs 0%: rebuilt as strings or brass); 30 updates 96%, 100 updates 97%
#: (organs 80%), through the VAE 81% -> 88%; 100 cost 0.15 s more per 5 s clip on one CPU thread.
INVERSION_ITERATIONS = 100
#: The loudest log-mel Griffin-Lim takes: a full-scale sine reaches about 1 here, so 8 leaves a thousandfold
#: headroom, while a VAE decoding latents far outside what it learnt can emit 100 and more, whose exponential
#: overflows float32 (the HiFi-GAN, which never exponentiates, turns those into loud but finite audio).
LOG_CEILING = 8.0


class VocoderChoiceError(ValueError):
    """A vocoder name, or a model folder's decode.json, that is not one of the choices."""


@dataclass(frozen=True)
class GriffinLimConfig:
    """What the engine reads from a vocoder's config (sampling rate, hop as the product of its upsampling, mel
    bins), for the same geometry as the HiFi-GAN it stands in for."""

    sampling_rate: int = SAMPLE_RATE
    upsample_rates: tuple[int, ...] = (HOP,)
    model_in_dim: int = MEL_BINS
    iterations: int = ITERATIONS
    momentum: float = 0.99
    inversion_iterations: int = INVERSION_ITERATIONS


class GriffinLimVocoder(torch.nn.Module):
    """Log-mel (B, frames, 64) -> audio (B, frames * 160): the mel filterbank inverted by its pseudo-inverse
    (negative magnitudes clipped), then torchaudio's Griffin-Lim with zero initial phase. Computes in float32
    whatever dtype the engine runs in (half-precision FFTs lose the phase)."""

    #: torch's inverse STFT checks its window envelope on the host (a synchronisation), which a CUDA graph cannot
    #: hold: the decoder runs it uncaptured instead of trying and falling back with a warning.
    capturable = False

    def __init__(
        self, iterations: int = ITERATIONS, momentum: float = 0.99, inversion_iterations: int = INVERSION_ITERATIONS
    ) -> None:
        super().__init__()
        import torchaudio

        if inversion_iterations < 0:
            raise ValueError(f"inversion_iterations: expected 0 or more, got {inversion_iterations}")
        bank = torchaudio.functional.melscale_fbanks(
            N_FFT // 2 + 1, F_MIN, F_MAX, MEL_BINS, SAMPLE_RATE, norm="slaney", mel_scale="slaney"
        )
        self.register_buffer("bank", bank.T.contiguous(), persistent=False)  # (mels, freqs)
        self.register_buffer("inverse", _pinv_one_thread(bank.T), persistent=False)  # (freqs, mels)
        self.register_buffer("window", torch.hann_window(WIN_LENGTH), persistent=False)
        self.config = GriffinLimConfig(
            iterations=iterations, momentum=momentum, inversion_iterations=inversion_iterations
        )
        self.bank: torch.Tensor
        self.inverse: torch.Tensor
        self.window: torch.Tensor

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the engine moved it to (its input is cast to this; it computes in float32 regardless)."""
        return self.inverse.dtype

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        import torchaudio

        frames = mel.shape[-2]
        target = mel.float().clamp(max=LOG_CEILING).exp().transpose(-1, -2)  # (B, mels, frames)
        mags = self.linear_magnitudes(target)
        # The centred STFT of frames * hop samples has one frame more than the mel (which drops it).
        mags = torch.cat([mags, mags[..., -1:]], dim=-1)
        audio = torchaudio.functional.griffinlim(
            mags,
            self.window.float(),
            N_FFT,
            HOP,
            WIN_LENGTH,
            1.0,
            self.config.iterations,
            self.config.momentum,
            frames * HOP,
            False,
        )
        return audio.to(mel.dtype)

    def linear_magnitudes(self, target: torch.Tensor) -> torch.Tensor:
        """Non-negative linear magnitudes (B, freqs, frames) whose mel is close to ``target`` (B, mels, frames).

        Starts from the clipped pseudo-inverse and runs ``inversion_iterations`` multiplicative updates of
        non-negative least squares (Lee and Seung's rule with the filterbank as the fixed basis): each keeps the
        magnitudes non-negative and lowers the mel error, moving energy onto the bins that explain the mel
        rather than spreading it evenly over a band, so harmonics come back where they were.
        """
        bank = self.bank.float()
        mags = (self.inverse.float() @ target).clamp(min=0.0)
        if not self.config.inversion_iterations:
            return mags
        # A multiplicative update cannot move an exact zero: lift every bin a little first.
        mags = mags + 1e-3 * mags.mean(dim=(-2, -1), keepdim=True) + 1e-12
        numerator = bank.T @ target
        for _ in range(self.config.inversion_iterations):
            mags = mags * numerator / (bank.T @ (bank @ mags) + 1e-12)
        return mags


def _pinv_one_thread(matrix: torch.Tensor) -> torch.Tensor:
    """``torch.linalg.pinv`` on one intra-op thread: the SVD of a filterbank this small gains nothing from more,
    and on a busy machine its threads wait on each other for a large part of a one-shot command's start."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.pinv(matrix)
    finally:
        torch.set_num_threads(threads)


def _settings(path: Path) -> dict[str, Any]:
    """A model folder's decode.json (empty without one)."""
    f = Path(path) / PREFERENCE_FILE
    if not f.is_file():
        return {}
    try:
        settings = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise VocoderChoiceError(f'{f}: unreadable ({exc}); expected {{"vocoder": "{GRIFFIN_LIM}"}}') from exc
    if not isinstance(settings, dict):
        raise VocoderChoiceError(f'{f}: expected an object like {{"vocoder": "{GRIFFIN_LIM}"}}, got {settings!r}')
    return settings


def preferred(path: Path) -> str:
    """The vocoder a model folder asks for in decode.json (the HiFi-GAN without one)."""
    name = _settings(path).get("vocoder", HIFIGAN)
    if name not in (HIFIGAN, GRIFFIN_LIM):
        raise VocoderChoiceError(
            f"{Path(path) / PREFERENCE_FILE}: vocoder {name!r}: expected {HIFIGAN!r} or {GRIFFIN_LIM!r}"
        )
    return str(name)


def resolve(path: Path, choice: str = "auto") -> str:
    """``choice`` with ``auto`` made the folder's preference."""
    if choice not in CHOICES:
        raise VocoderChoiceError(f"vocoder: expected one of {', '.join(CHOICES)}, got {choice!r}")
    return preferred(path) if choice == "auto" else choice


def write_preference(folder: Path, name: str) -> None:
    """Make ``folder`` decode with ``name`` by default (decode.json; the HiFi-GAN: no file)."""
    f = Path(folder) / PREFERENCE_FILE
    if name == HIFIGAN:
        f.unlink(missing_ok=True)
        return
    if name != GRIFFIN_LIM:
        raise VocoderChoiceError(f"vocoder: expected {HIFIGAN!r} or {GRIFFIN_LIM!r}, got {name!r}")
    # The refinement is pinned in the folder, so a later default cannot change what its clips sound like.
    f.write_text(json.dumps({"vocoder": name, "inversion_iterations": INVERSION_ITERATIONS}) + "\n")


def inversion_iterations(path: Path) -> int:
    """The Griffin-Lim mel inversion's refinement a model folder pins in decode.json: the default without a
    decode.json, none where a decode.json names no iterations (written before the refinement existed, so its
    folder keeps decoding, and recalling clips, exactly as it was measured)."""
    settings = _settings(path)
    value = settings.get("inversion_iterations", 0 if settings else INVERSION_ITERATIONS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise VocoderChoiceError(
            f"{Path(path) / PREFERENCE_FILE}: inversion_iterations {value!r}: expected a whole number, 0 or more"
        )
    return value


def load_vocoder(path: Path, choice: str = "auto") -> tuple[str, torch.nn.Module]:
    """(name, module) of the vocoder ``choice`` picks for the model folder ``path`` (its ``vocoder/`` folder for
    the HiFi-GAN)."""
    name = resolve(path, choice)
    if name == GRIFFIN_LIM:
        return name, GriffinLimVocoder(inversion_iterations=inversion_iterations(Path(path)))
    from transformers import SpeechT5HifiGan

    vocoder_dir = Path(path) / "vocoder" if (Path(path) / "vocoder").is_dir() else Path(path)
    return name, SpeechT5HifiGan.from_pretrained(vocoder_dir)
