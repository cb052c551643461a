"""Reading a user's clip for the manipulations: any soundfile-readable file, any rate and channel count,
converted to mono at the model's rate, with limits that fail early and say why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audioldm_daw.engine.errors import InputAudioError
from audioldm_daw.engine.output import load_soundfile

if TYPE_CHECKING:
    import soundfile as sf

    from audioldm_daw.engine.request import GenerateRequest

MAX_PATH_BYTES = 4095  # PATH_MAX less its terminating zero (Linux); macOS allows less, never more
MAX_NAME_BYTES = 255  # NAME_MAX: one folder or file name
MAX_INPUT_BYTES = 200 * 1024 * 1024
MAX_INPUT_SECONDS = 60.0
MIN_INPUT_SECONDS = 0.5
MAX_DECODED_RATE = 192_000  # the highest rate a studio records at
MAX_DECODED_CHANNELS = 2
# Samples (frames x channels) decoded at once: the longest input in stereo at the highest studio rate. The
# bytes on disk say little (a FLAC of 8 channels at 384 kHz compresses a hundredfold); this bounds memory.
MAX_DECODED_SAMPLES = int(MAX_INPUT_SECONDS * MAX_DECODED_RATE * MAX_DECODED_CHANNELS)
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


def decoded_too_big(frames: int, channels: int, rate: int) -> str | None:
    """Why a file of ``frames`` x ``channels`` at ``rate`` Hz is too much to decode at once, or None.

    Judged from the header, before a sample is read: the decoded size, not the size on disk, is what
    costs memory.
    """
    if frames * max(channels, 1) <= MAX_DECODED_SAMPLES:
        return None
    rate = max(int(rate), 1)
    longest = MAX_DECODED_SAMPLES / (rate * max(channels, 1))
    stereo = MAX_DECODED_SAMPLES / (rate * 2)
    return (
        f"holds {channels} channel(s) x {frames / rate:.1f} s at {rate} Hz, {frames * channels:,} samples to "
        f"decode; the engine decodes at most {MAX_DECODED_SAMPLES:,} (at most {MAX_DECODED_CHANNELS} channels x "
        f"{MAX_INPUT_SECONDS:g} s at {MAX_DECODED_RATE // 1000} kHz; at that rate at most {longest:.1f} s of "
        f"{channels} channel(s), or {stereo:.1f} s of stereo): mix it down to stereo, export it at a lower "
        "rate, or shorten it"
    )


def _shown_path(p: Path) -> str:
    text = str(p)
    return text if len(text) <= 200 else text[:100] + "..." + text[-60:]


def check_input_file(path: str | Path, max_seconds: float = MAX_INPUT_SECONDS) -> sf._SoundFileInfo:
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
        raise InputAudioError(f"input: {p} is {seconds:.1f} s long, expected at most {max_seconds:g} s")
    too_big = decoded_too_big(info.frames, info.channels, info.samplerate)
    if too_big:
        raise InputAudioError(f"input: {p} {too_big}")
    if seconds < MIN_INPUT_SECONDS:
        raise InputAudioError(f"input: {p} is {seconds:.2f} s long, expected at least {MIN_INPUT_SECONDS:g} s")
    return info


def check_request_input(request: GenerateRequest) -> None:
    """The request's input file is readable audio within limits, and the source's rules that need its
    length hold (an inpaint span inside it, a continuation within the maximum). Nothing heavy is loaded,
    so every door can call this before the model: a bad path fails at once."""
    if request.input_path is None:
        return
    info = check_input_file(request.input_path)
    request.typed_source.check_input(info.frames / info.samplerate)


def load_input(path: str | Path, sample_rate: int, max_seconds: float = MAX_INPUT_SECONDS) -> np.ndarray:
    """Mono float32 at ``sample_rate``; raises InputAudioError for unreadable, too long/short or silent input."""
    check_input_file(path, max_seconds)
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
