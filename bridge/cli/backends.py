"""Choosing the decode backend for the engine (torch, or ONNX Runtime where it measures faster).

This is the one place that joins ``audioldm_daw.export`` to the engine; the engine itself only knows
the DecodeBackend protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def decoder_factory(choice: str) -> Callable[[Any], Any] | None:
    """A factory for Engine.load: None keeps the engine's torch decoder.

    ``onnx`` forces ONNX Runtime (exporting on first use); ``auto`` uses whichever backend a cached
    calibration found faster; any failure falls back to torch with a warning (export/select.py).
    """
    if choice == "torch":
        return None
    # export is part of this distribution: an import error here is a bug to see, not a reason to use torch.
    from audioldm_daw.export.select import choose_decoder

    return lambda model: choose_decoder(model, choice)
