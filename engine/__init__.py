"""audioldm_daw.engine: everything that turns a request into audio.

Public API: :class:`Engine` (load a model folder or hub id, ``generate`` / ``render``),
:class:`GenerateRequest` (validated parameters) and its sources (:class:`TextToAudio`, :class:`Variation`,
...), the errors, and :func:`load_model`. This package imports nothing from ``audioldm_daw.export`` or
``audioldm_daw.bridge``.

The names are resolved lazily (PEP 562): ``Engine`` and the model pull in torch, diffusers and
transformers (about a second and hundreds of MB), and a command line that only prints its help or
refuses an argument must not pay for that. ``from audioldm_daw.engine import InvalidRequest`` imports
only the module that defines it. :data:`_LAZY` is the single list of public names; the
``TYPE_CHECKING`` block repeats it for type checkers and IDEs, which cannot follow ``__getattr__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audioldm_daw import lazy_exports

if TYPE_CHECKING:  # ``X as X`` marks a re-export for type checkers (and keeps ruff's F401 quiet)
    from audioldm_daw.engine.decode import DecodeBackend as DecodeBackend
    from audioldm_daw.engine.decode import TorchDecoder as TorchDecoder
    from audioldm_daw.engine.engine import Clip as Clip
    from audioldm_daw.engine.engine import Engine as Engine
    from audioldm_daw.engine.engine import RenderResult as RenderResult
    from audioldm_daw.engine.errors import Cancelled as Cancelled
    from audioldm_daw.engine.errors import EngineError as EngineError
    from audioldm_daw.engine.errors import InputAudioError as InputAudioError
    from audioldm_daw.engine.errors import InvalidRequest as InvalidRequest
    from audioldm_daw.engine.errors import ModelLoadError as ModelLoadError
    from audioldm_daw.engine.model import AudioLDMModel as AudioLDMModel
    from audioldm_daw.engine.model import default_model as default_model
    from audioldm_daw.engine.model import load_model as load_model
    from audioldm_daw.engine.request import Continuation as Continuation
    from audioldm_daw.engine.request import GenerateRequest as GenerateRequest
    from audioldm_daw.engine.request import Inpaint as Inpaint
    from audioldm_daw.engine.request import Source as Source
    from audioldm_daw.engine.request import TextToAudio as TextToAudio
    from audioldm_daw.engine.request import Transfer as Transfer
    from audioldm_daw.engine.request import Upsample as Upsample
    from audioldm_daw.engine.request import Variation as Variation
    from audioldm_daw.engine.request import build_request as build_request
    from audioldm_daw.engine.request import build_takes as build_takes
    from audioldm_daw.engine.request import duration_from_tempo as duration_from_tempo

# Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "AudioLDMModel": "audioldm_daw.engine.model",
    "Cancelled": "audioldm_daw.engine.errors",
    "Clip": "audioldm_daw.engine.engine",
    "Continuation": "audioldm_daw.engine.request",
    "DecodeBackend": "audioldm_daw.engine.decode",
    "Engine": "audioldm_daw.engine.engine",
    "EngineError": "audioldm_daw.engine.errors",
    "GenerateRequest": "audioldm_daw.engine.request",
    "Inpaint": "audioldm_daw.engine.request",
    "InputAudioError": "audioldm_daw.engine.errors",
    "InvalidRequest": "audioldm_daw.engine.errors",
    "ModelLoadError": "audioldm_daw.engine.errors",
    "RenderResult": "audioldm_daw.engine.engine",
    "Source": "audioldm_daw.engine.request",
    "TextToAudio": "audioldm_daw.engine.request",
    "TorchDecoder": "audioldm_daw.engine.decode",
    "Transfer": "audioldm_daw.engine.request",
    "Upsample": "audioldm_daw.engine.request",
    "Variation": "audioldm_daw.engine.request",
    "default_model": "audioldm_daw.engine.model",
    "duration_from_tempo": "audioldm_daw.engine.request",
    "load_model": "audioldm_daw.engine.model",
    "build_request": "audioldm_daw.engine.request",
    "build_takes": "audioldm_daw.engine.request",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(_LAZY, globals())
