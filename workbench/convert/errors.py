"""The one error the converter raises on purpose (an :class:`EngineError`, so the CLI prints it plainly)."""

from __future__ import annotations

from audioldm_daw.engine.errors import EngineError


class ConversionError(EngineError):
    """The checkpoint (or an option) cannot be converted; the message says what was expected."""
