"""audioldm_daw.engine: everything that turns a request into audio.

Public API: :class:`Engine` (load a model folder or hub id, ``generate`` / ``render``),
:class:`GenerateRequest` (validated parameters), the errors, and :func:`load_model`.
This package imports nothing from ``audioldm_daw.export`` or ``audioldm_daw.bridge``.
"""

from audioldm_daw.engine.decode import DecodeBackend, TorchDecoder
from audioldm_daw.engine.engine import Clip, Engine, RenderResult
from audioldm_daw.engine.errors import Cancelled, EngineError, InputAudioError, InvalidRequest, ModelLoadError
from audioldm_daw.engine.model import AudioLDMModel, default_model, load_model
from audioldm_daw.engine.request import GenerateRequest, duration_from_tempo

__all__ = [
    "AudioLDMModel",
    "Cancelled",
    "Clip",
    "DecodeBackend",
    "Engine",
    "EngineError",
    "GenerateRequest",
    "InputAudioError",
    "InvalidRequest",
    "ModelLoadError",
    "RenderResult",
    "TorchDecoder",
    "default_model",
    "duration_from_tempo",
    "load_model",
]
