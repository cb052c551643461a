"""Reading a user's clip for the manipulations: any soundfile-readable file, any rate and channel count,
converted to mono at the model's rate, with limits that fail early and say why.

A take may be long (up to :data:`MAX_INPUT_SECONDS`): inpaint and continue read only a window of it
(:func:`read_window`, soundfile seeks), so their cost follows the edited span, not the take; transfer,
variation and upsample of an input longer than :data:`~audioldm_daw.engine.params.MAX_DURATION_S` hear it in
overlapping windows of that kind, one after another (engine/plans.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audioldm_daw.engine.errors import InputAudioError, InvalidRequest
from audioldm_daw.engine.output import load_soundfile
from audioldm_daw.engine.params import MAX_DURATION_S, MAX_INPUT_SECONDS

if TYPE_CHECKING:
    import soundfile as sf

    from audioldm_daw.engine.request import GenerateRequest

MAX_PATH_BYTES = 4095  # PATH_MAX less its terminating zero (Linux); macOS allows less, never more
MAX_NAME_BYTES = 255  # NAME_MAX: one folder or file name
MAX_INPUT_BYTES = 2048 * 1024 * 1024  # the longest take as 32-bit float stereo at 192 kHz fits; its decode is bounded
MIN_INPUT_SECONDS = 0.5
WINDOWED_MODES = ("inpaint", "continue")  # the modes that read a window of the take, not all of it
#: The modes that hear an input longer than MAX_DURATION_S in overlapping windows (recipe 3).
LONG_INPUT_MODES = ("transfer", "variation", "upsample")


@dataclass(frozen=True)
class DecodeBound:
    """At most ``channels`` x ``seconds`` at ``rate`` Hz of samples (frames x channels) held decoded.

    The bytes on disk say little (a FLAC of 8 channels at 384 kHz compresses a hundredfold): this, judged
    from the header before a sample is read, is what bounds the memory an input costs."""

    seconds: float
    rate: int
    channels: int = 2

    @property
    def samples(self) -> int:
        return int(self.seconds * self.rate * self.channels)


#: A file decoded whole (transfer, variation, upsample of up to MAX_DURATION_S): the longest such input in stereo
#: at the highest rate a studio records at.
WHOLE_DECODE = DecodeBound(MAX_DURATION_S, 192_000)
#: A take heard in windows (inpaint and continue; transfer, variation and upsample of a longer input) whose
#: result is as long as the take: the longest take in stereo at 48 kHz.
TAKE_DECODE = DecodeBound(MAX_INPUT_SECONDS, 48_000)
SILENCE_PEAK = 1e-4  # -80 dBFS: nothing a model could take style, band or context from


def path_too_long(text: str) -> str | None:
    """Why ``text`` cannot be a path on this system (too long in all, or one name too long), or None.

    Checked before any file-system call, so an oversized string is refused in words instead of as an
    operating-system error, and costs nothing.
    """
    raw = os.fsencode(text)
    if len(raw) > MAX_PATH_BYTES:
        return f"is {len(raw)} bytes long, longer than a path can be ({MAX_PATH_BYTES} bytes); check the path"
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > MAX_NAME_BYTES:
        return (
            f"has a folder or file name of {longest} bytes, longer than a name can be ({MAX_NAME_BYTES} bytes); "
            "check the path"
        )
    return None


def decoded_too_big(frames: int, channels: int, rate: int, bound: DecodeBound = WHOLE_DECODE) -> str | None:
    """Why a file of ``frames`` x ``channels`` at ``rate`` Hz is more than ``bound`` allows, or None.

    Judged from the header, before a sample is read: the decoded size, not the size on disk, is what
    costs memory.
    """
    if frames * max(channels, 1) <= bound.samples:
        return None
    rate = max(int(rate), 1)
    longest = bound.samples / (rate * max(channels, 1))
    stereo = bound.samples / (rate * 2)
    return (
        f"holds {channels} channel(s) x {frames / rate:.1f} s at {rate} Hz, {frames * channels:,} samples to "
        f"decode; the engine decodes at most {bound.samples:,} (at most {bound.channels} channels x "
        f"{_length_words(bound.seconds)} at {bound.rate / 1000:g} kHz; at this file's rate at most "
        f"{_length_words(longest)} of {channels} channel(s), or {_length_words(stereo)} of stereo): mix it down "
        "to stereo, export it at a lower rate, or shorten it"
    )


def _length_words(seconds: float) -> str:
    """A length as people say it: "61.0 s", or "20 minutes" / "21.5 minutes" from two minutes on."""
    if seconds < 120:
        return f"{seconds:.1f} s" if not float(seconds).is_integer() else f"{seconds:g} s"
    minutes = seconds / 60
    return f"{minutes:g} minutes" if float(minutes).is_integer() else f"{minutes:.1f} minutes"


def _shown_path(p: Path) -> str:
    text = str(p)
    return text if len(text) <= 200 else text[:100] + "..." + text[-60:]


def check_input_file(
    path: str | Path, max_seconds: float = MAX_INPUT_SECONDS, bound: DecodeBound = TAKE_DECODE
) -> sf._SoundFileInfo:
    """Validate without decoding the samples (the OSC server calls this before queueing a job)."""
    p = Path(path)
    too_long = path_too_long(str(p))
    if too_long:
        raise InputAudioError(f"input: the path {_shown_path(p)} {too_long}")
    try:
        exists, is_file = p.exists(), p.is_file()
        size = p.stat().st_size if is_file else 0
    except PermissionError:
        raise InputAudioError(
            f"input: {p} cannot be reached: no permission to open a folder on its path; check its permissions"
        ) from None
    except OSError as exc:
        raise InputAudioError(
            f"input: {p} cannot be reached ({(exc.strerror or str(exc)).lower()}); check the path and the drive"
        ) from None
    if not exists:
        raise InputAudioError(f"input: {p} does not exist (expected the path of an audio file)")
    if not is_file:
        raise InputAudioError(f"input: {p} is not a regular file (expected an audio file)")
    if size > MAX_INPUT_BYTES:
        raise InputAudioError(f"input: {p} is {size / 2**20:.0f} MB, expected at most {MAX_INPUT_BYTES // 2**20} MB")
    if not os.access(p, os.R_OK):
        raise InputAudioError(f"input: {p} is not readable (no permission); change its permissions or copy it")
    sf = load_soundfile()
    try:
        info = sf.info(str(p))  # the header only: nothing is decoded before every bound below holds
    except (RuntimeError, TypeError, OSError) as exc:  # libsndfile's error is a RuntimeError
        raise InputAudioError(
            f"input: {p} is not an audio file soundfile can read (expected WAV, FLAC, AIFF or OGG)"
        ) from exc
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    if seconds > max_seconds:
        raise InputAudioError(
            f"input: {p} is {_length_words(seconds)} long, expected at most {_length_words(max_seconds)}"
        )
    too_big = decoded_too_big(info.frames, info.channels, info.samplerate, bound)
    if too_big:
        raise InputAudioError(f"input: {p} {too_big}")
    if seconds < MIN_INPUT_SECONDS:
        raise InputAudioError(f"input: {p} is {seconds:.2f} s long, expected at least {MIN_INPUT_SECONDS:g} s")
    return info


def check_request_input(request: GenerateRequest, cell_seconds: float = 0.0) -> None:
    """The request's input file is readable audio within limits, and the source's rules that need its
    length hold (an inpaint span inside it, at least ``cell_seconds`` long, not the whole take; a
    continuation within the maximum). Nothing heavy is loaded, so every door can call this before the
    model: a bad path fails at once."""
    if request.input_path is None:
        return
    info = check_input_file(request.input_path)
    seconds = info.frames / info.samplerate
    if request.recipe < 3 and seconds > MAX_DURATION_S:
        raise InputAudioError(
            f"input: {request.input_path} is {_length_words(seconds)} long; clips recalled under recipe "
            f"{request.recipe} took at most {MAX_DURATION_S:g} s"
        )
    if request.mode == "variation" and request.loop and seconds > MAX_DURATION_S and request.seconds is None:
        raise InvalidRequest.about(
            "loop",
            f"a looping variation is made in one piece, and this input is {_length_words(seconds)} long (a "
            f"variation without a duration takes the input's length; a loop is at most {MAX_DURATION_S:g} s): "
            "give a duration",
        )
    windowed = request.mode in WINDOWED_MODES or (request.mode in LONG_INPUT_MODES and seconds > MAX_DURATION_S)
    whole = request.recipe < 3 or not windowed  # decoded whole, not in windows
    too_big = decoded_too_big(info.frames, info.channels, info.samplerate, WHOLE_DECODE) if whole else None
    if too_big:
        raise InputAudioError(f"input: {request.input_path} {too_big}")
    request.typed_source.check_input(seconds, cell_seconds)


def content_hash(path: str | Path) -> str:
    """sha256 of the file's bytes (recorded in the sidecar: recall can tell whether the take changed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_window(path: str | Path, start: int, frames: int) -> np.ndarray:
    """``frames`` frames of the file from frame ``start`` (fewer at its end), float32, (frames, channels).

    soundfile seeks, so a window of a long take costs the window, not the take. PCM_16 and PCM_24 samples
    are exact in float32 and are written back exactly, which is what keeps the take's own samples."""
    try:
        with load_soundfile().SoundFile(str(path)) as f:
            f.seek(max(int(start), 0))
            data = f.read(max(int(frames), 0), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise InputAudioError(
            f"input: {path} could not be decoded (damaged, or changed while it was read); export it again"
        ) from exc
    if not np.all(np.isfinite(data)):
        raise InputAudioError(f"input: {path} contains NaN or infinite samples")
    return data


def model_mono(window: np.ndarray, sr_in: int, sample_rate: int) -> np.ndarray:
    """A window of the take as the model hears it: the channels' mean, at the model's rate."""
    from audioldm_daw.engine.output import resample

    return resample(window.mean(axis=1).astype(np.float32), int(sr_in), sample_rate)


def load_input(path: str | Path, sample_rate: int, max_seconds: float = MAX_INPUT_SECONDS) -> np.ndarray:
    """Mono float32 at ``sample_rate``; raises InputAudioError for unreadable, too long/short or silent input."""
    check_input_file(path, max_seconds, WHOLE_DECODE)
    try:
        data, sr = load_soundfile().read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise InputAudioError(
            f"input: {path} could not be decoded (damaged, or changed while it was read); export it again"
        ) from exc
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise InputAudioError(f"input: {path} contains NaN or infinite samples")
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise InputAudioError(f"input: {path} is silent (peak below -80 dBFS); expected audible audio")
    from audioldm_daw.engine.output import resample

    return resample(mono, int(sr), sample_rate)
