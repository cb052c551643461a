"""Errors the engine raises, so that every door (CLI, OSC, Python) can tell a person what to fix.

Each error carries a message that names the argument and what was expected. A request error also
knows which parameter it is about, so each door can name it as its caller wrote it: ``sample_rate`` in
Python, ``--sr`` on the command line, ``sr`` over OSC (see :meth:`InvalidRequest.message`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Namer = Callable[[str], str]


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidRequest(EngineError, ValueError):
    """A request parameter is missing, of the wrong type, out of range, or meaningless for the mode.

    ``InvalidRequest(text)`` is a complete message. ``InvalidRequest.about(field, detail, refs)`` names a
    request field: ``detail`` may hold ``{0}``, ``{1}`` ... for the fields in ``refs`` (then literal braces
    are doubled), so that a door can render every name in its own spelling.
    """

    def __init__(self, text: str, *, field: str | None = None, detail: str = "", refs: Sequence[str] = ()) -> None:
        super().__init__(text)
        self.field = field
        self.detail = detail
        self.refs = tuple(refs)

    @classmethod
    def about(cls, field: str, detail: str, refs: Sequence[str] = ()) -> InvalidRequest:
        """An error about request field ``field`` (Python names in the default message)."""
        return cls(_render(field, detail, refs, str), field=field, detail=detail, refs=refs)

    def message(self, name: Namer) -> str:
        """The message with every field named by ``name`` (the door's spelling)."""
        if self.field is None:
            return str(self)
        return _render(self.field, self.detail, self.refs, name)


def _render(field: str, detail: str, refs: Sequence[str], name: Namer) -> str:
    text = detail.format(*(name(r) for r in refs)) if refs else detail  # user values may hold braces
    return f"{name(field)}: {text}"


class ModelLoadError(EngineError):
    """A model folder or hub id could not be loaded (missing, broken, or offline without a cache)."""


class InputAudioError(EngineError, ValueError):
    """An input clip could not be read or is unsuitable (too long, too short, silent)."""


class Cancelled(EngineError):
    """The job was cancelled by its caller; raised between two denoising steps."""


class OutputError(EngineError, OSError):
    """A clip could not be written: disk full, folder gone or read-only, a path too long. The message says
    which folder, what happened and what to do; nothing partial is left behind."""


class ResourceError(EngineError):
    """The machine ran out of something a job needs (GPU or main memory), or the model changed under it."""


class AudioLibraryError(EngineError):
    """An audio library the engine reads or writes clips with (soundfile's libsndfile, torchaudio) could not
    be loaded: the install is broken, not the disk or the file. The message names the library and the repair."""

    @classmethod
    def failed(cls, library: str, package: str, exc: BaseException | None = None) -> AudioLibraryError:
        """The sentence for ``library`` (what failed to load) and ``package`` (what to reinstall)."""
        detail = ""
        if exc is not None and str(exc):
            text = str(exc).splitlines()[0]
            detail = f" (the loader said: {text[:160]})"
        return cls(
            f"the audio library {library} failed to load{detail}; the install is damaged or mismatched, not the "
            f"disk or the file: repair it with `pip install --force-reinstall {package}` in the engine's Python "
            "environment (for torchaudio, the version that matches the installed torch), then restart the engine"
        )
