"""Checking the input audio a manipulation request names, before the job is queued.

A bad input path should fail at the door with a message that says what was expected, not minutes later
in the queue; and a client must not be able to make the engine chew on a 5 GB file or a device node.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from audioldm_daw.engine.errors import InputAudioError
from audioldm_daw.engine.input_audio import MAX_INPUT_BYTES, MAX_INPUT_SECONDS, check_input_file, path_too_long

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_INPUT_SECONDS",
    "check_clip_path",
    "check_input_audio",
    "check_path_text",
    "client_path",
]
_MAX_VOLUME = re.compile(r"^[^/:\\]+:(/.*)$")  # Max on macOS writes "Macintosh HD:/Users/..."


def check_path_text(text: str, arg: str) -> None:
    """Refuse, before any file-system call, a string that cannot be a path (too long, a NUL byte)."""
    if "\x00" in text:
        raise ValueError(f"{arg}: a path cannot contain a NUL character; check the path")
    too_long = path_too_long(text)
    if too_long:
        shown = text if len(text) <= 80 else text[:60] + "..." + text[-15:]
        raise ValueError(f"{arg}: {shown!r} {too_long}")


def client_path(text: str, base: Path) -> Path:
    """A path as a client wrote it -> an absolute path: ``~`` expanded, a Max volume prefix dropped,
    relative paths taken from ``base`` (the clips folder, so a client can name a clip it just got)."""
    check_path_text(text, "path")
    m = _MAX_VOLUME.match(text)
    if m and not re.match(r"^[A-Za-z]:[/\\]", text):
        text = m.group(1)
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = base / path
    return path.resolve()


def check_input_audio(text: str, base: Path, *, arg: str = "input_path") -> Path:
    """The input file as an absolute path, or ValueError naming ``arg`` and what was expected.

    The checks themselves are the engine's (existence, size, readability, duration), so the door
    refuses exactly what the engine would refuse later.
    """
    if not text.strip():
        raise ValueError(f"{arg}: expected the path of an audio file, got an empty string")
    check_path_text(text, arg)
    try:
        path = client_path(text, base)
    except OSError as exc:
        raise ValueError(f"{arg}: {text!r} cannot be reached ({(exc.strerror or str(exc)).lower()})") from None
    try:
        check_input_file(path)
    except InputAudioError as exc:
        raise ValueError(str(exc).replace("input:", f"{arg}:", 1)) from None
    return path


def check_clip_path(text: str, clips_dir: Path) -> Path:
    """A clip to audition: an existing file inside the clips folder (nothing else is played)."""
    try:
        path = client_path(text, clips_dir)
    except OSError as exc:
        raise ValueError(f"path: {text!r} cannot be reached ({(exc.strerror or str(exc)).lower()})") from None
    root = clips_dir.resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path: {path} is outside the clips folder {root} (only clips there can be played)")
    if not path.is_file():
        raise ValueError(f"path: {path} does not exist (expected a clip in {root})")
    return path
