"""Errors the engine raises, so that every door (CLI, OSC) can tell a person what to fix.

Each error carries a message that names the argument and what was expected; the bridge forwards the
message verbatim (CLI: stderr + non-zero exit; OSC: ``/audioldm/fail``).
"""


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidRequest(EngineError, ValueError):
    """A request parameter is missing, of the wrong type or out of range."""


class ModelLoadError(EngineError):
    """A model folder or hub id could not be loaded (missing, broken, or offline without a cache)."""


class InputAudioError(EngineError, ValueError):
    """An input clip could not be read or is unsuitable (too long, too short, silent)."""


class Cancelled(EngineError):
    """The job was cancelled by its caller; raised between two denoising steps."""
