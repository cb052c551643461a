"""Checking the input audio a manipulation request names, before the job is queued.

A bad input path should fail at the door with a message that says what was expected, not minutes later
in the queue; and a client must not be able to make the engine chew on a 5 GB file or a device node.

The server's door also keeps to a set of folders it reads inputs from (:func:`input_folders`: the
clips folder plus the user's home and the system temp folder, or the folders ``serve --input-dir``
names). A path outside them is refused before the file system is touched, checked on the path's text
first and again once links are resolved, with the same sentence whether or not the file exists: an
error must not tell a client which files the engine could read (``/etc/shadow`` opened as root). The
local CLI reads files for the person running it and keeps no such rule.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath

from audioldm_daw.engine.errors import EngineError, InputAudioError
from audioldm_daw.engine.input_audio import MAX_INPUT_BYTES, MAX_INPUT_SECONDS, check_input_file, path_too_long

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_INPUT_SECONDS",
    "check_clip_path",
    "check_input_audio",
    "check_path_text",
    "client_path",
    "client_text_path",
    "input_folders",
]
_MAX_VOLUME = re.compile(r"^[^/:\\]+:(/.*)$")  # Max on macOS writes "Macintosh HD:/Users/..."
SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev")  # never read from, whatever --input-dir says


def check_path_text(text: str, arg: str) -> None:
    """Refuse, before any file-system call, a string that cannot be a path (too long, a NUL byte)."""
    if "\x00" in text:
        raise ValueError(f"{arg}: a path cannot contain a NUL character; check the path")
    too_long = path_too_long(text)
    if too_long:
        shown = text if len(text) <= 80 else text[:60] + "..." + text[-15:]
        raise ValueError(f"{arg}: {shown!r} {too_long}")


def client_text_path(text: str, base: Path) -> Path:
    """A path as a client wrote it -> an absolute, normalised path, without touching the file system:
    ``~`` expanded, a Max volume prefix dropped, relative paths taken from ``base`` (the clips folder, so
    a client can name a clip it just got), ``.`` and ``..`` folded as text."""
    check_path_text(text, "path")
    m = _MAX_VOLUME.match(text)
    if m and not re.match(r"^[A-Za-z]:[/\\]", text):
        text = m.group(1)
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = base / path
    return Path(os.path.normpath(path))


def client_path(text: str, base: Path) -> Path:
    """:func:`client_text_path`, links resolved (this one touches the file system)."""
    return client_text_path(text, base).resolve()


@functools.cache
def _system_folders() -> tuple[Path, ...]:
    out = []
    for name in SYSTEM_FOLDERS:
        out.append(Path(name))
        with contextlib.suppress(OSError, RuntimeError):
            out.append(Path(name).resolve())  # macOS: /etc is /private/etc
    return tuple(out)


def input_folders(dirs: Iterable[str | os.PathLike[str]] | None, clips_dir: Path) -> tuple[Path, ...]:
    """The folders the server reads input files from: the clips folder, plus ``dirs`` (``--input-dir``),
    or, when none are named, the user's home folder and the system temp folder (where DAWs and Max
    bounce their takes). Each resolved once, at start. ValueError for a system folder (/etc, /proc,
    /sys, /dev), which is never read from."""
    named = list(dirs or ())
    chosen = named if named else [Path.home(), Path(tempfile.gettempdir())]
    system = _system_folders()
    out: list[Path] = [Path(clips_dir).expanduser().resolve()]
    for d in chosen:
        p = Path(os.path.expanduser(str(d))).resolve()
        if any(_inside(p, s) for s in system):
            raise ValueError(
                f"--input-dir {d}: system folders ({', '.join(SYSTEM_FOLDERS)}) are never read from; name the "
                "folder where your takes are"
            )
        if p not in out:
            out.append(p)
    return tuple(out)


def _inside(path: PurePath, root: PurePath) -> bool:
    return path == root or root in path.parents


def _permitted(path: PurePath, allowed: Sequence[Path]) -> bool:
    if any(_inside(path, s) for s in _system_folders()):
        return False
    return any(_inside(path, root) for root in allowed)


def _refusal(arg: str, shown: Path, allowed: Sequence[Path]) -> str:
    folders = ", ".join(str(p) for p in allowed)
    return (
        f"{arg}: {_shown(str(shown))} is outside the folders this engine reads input files from ({folders}); "
        "copy the file into one of them, or start the engine with --input-dir naming the file's folder "
        "(repeatable; system folders such as /etc are never read)"
    )


def _shown(text: str) -> str:
    return text if len(text) <= 200 else text[:120] + "..." + text[-60:]


def check_input_audio(text: str, base: Path, *, arg: str = "input_path", allowed: Sequence[Path] | None = None) -> Path:
    """The input file as an absolute path, or ValueError naming ``arg`` and what was expected.

    With ``allowed`` (the server's :func:`input_folders`), a path outside them is refused first, on its
    text alone, then again once links are resolved, in one sentence that does not depend on the file.
    The checks themselves are the engine's (existence, size, readability, duration, decoded size), so
    the door refuses exactly what the engine would refuse later.
    """
    if not text.strip():
        raise ValueError(f"{arg}: expected the path of an audio file, got an empty string")
    check_path_text(text, arg)
    written = client_text_path(text, base)
    if allowed is not None and not _permitted(written, allowed):
        raise ValueError(_refusal(arg, written, allowed))
    try:
        path = written.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        why = getattr(exc, "strerror", None) or "a loop of links"
        raise ValueError(f"{arg}: {text!r} cannot be reached ({why.lower()}); check the path") from None
    if allowed is not None and not _permitted(path, allowed):
        raise ValueError(_refusal(arg, written, allowed))  # a link out: the same words as for the text
    try:
        check_input_file(path)
    except InputAudioError as exc:
        raise ValueError(str(exc).replace("input:", f"{arg}:", 1)) from None
    except EngineError as exc:  # the audio library failed to load: its own sentence says how to repair it
        raise ValueError(str(exc)) from None
    return path


def check_clip_path(text: str, clips_dir: Path) -> Path:
    """A clip to audition: an existing file inside the clips folder (nothing else is played). A path
    outside it is refused on its text before any file call, and again once links are resolved, in words
    that name the path as written (never where a link leads)."""
    root = clips_dir.resolve()
    written = client_text_path(text, root)
    outside = f"path: {_shown(str(written))} is outside the clips folder {root} (only clips there can be played)"
    if not _inside(written, root):
        raise ValueError(outside)
    try:
        path = written.resolve()
    except (OSError, RuntimeError) as exc:
        why = getattr(exc, "strerror", None) or "a loop of links"
        raise ValueError(f"path: {text!r} cannot be reached ({why.lower()}); check the path") from None
    if not _inside(path, root):
        raise ValueError(outside)
    if not path.is_file():
        raise ValueError(f"path: {path} does not exist (expected a clip in {root})")
    return path
