"""Checking the input audio a manipulation request names, before the job is queued.

A bad input path should fail at the door with a message that says what was expected, not minutes later
in the queue; and a client must not be able to make the engine chew on a 5 GB file or a device node.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_INPUT_BYTES = 200 * 1024 * 1024
MAX_INPUT_SECONDS = 600.0
_MAX_VOLUME = re.compile(r"^[^/:\\]+:(/.*)$")  # Max on macOS writes "Macintosh HD:/Users/..."


def client_path(text: str, base: Path) -> Path:
    """A path as a client wrote it -> an absolute path: ``~`` expanded, a Max volume prefix dropped,
    relative paths taken from ``base`` (the clips folder, so a client can name a clip it just got)."""
    m = _MAX_VOLUME.match(text)
    if m and not re.match(r"^[A-Za-z]:[/\\]", text):
        text = m.group(1)
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = base / path
    return path.resolve()


def check_input_audio(text: str, base: Path, *, arg: str = "input_path") -> Path:
    """The input file as an absolute path, or ValueError naming ``arg`` and what was expected."""
    import soundfile as sf

    if not text.strip():
        raise ValueError(f"{arg}: expected the path of an audio file, got an empty string")
    path = client_path(text, base)
    if not path.exists():
        raise ValueError(f"{arg}: {path} does not exist (expected an absolute path to an audio file)")
    if not path.is_file():
        raise ValueError(f"{arg}: {path} is not a regular file (expected an audio file)")
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise ValueError(f"{arg}: {path} is {size / 2**20:.0f} MB, expected at most {MAX_INPUT_BYTES // 2**20} MB")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/TypeError for non-audio
        raise ValueError(
            f"{arg}: {path} is not an audio file soundfile can read (expected WAV, FLAC, AIFF or OGG): {exc}"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise ValueError(f"{arg}: {path} holds no audio")
    if info.duration > MAX_INPUT_SECONDS:
        raise ValueError(f"{arg}: {path} is {info.duration:.0f} s long, expected at most {MAX_INPUT_SECONDS:.0f} s")
    return path


def check_clip_path(text: str, clips_dir: Path) -> Path:
    """A clip to audition: an existing file inside the clips folder (nothing else is played)."""
    path = client_path(text, clips_dir)
    root = clips_dir.resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path: {path} is outside the clips folder {root} (only clips there can be played)")
    if not path.is_file():
        raise ValueError(f"path: {path} does not exist (expected a clip in {root})")
    return path
