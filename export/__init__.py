"""audioldm_daw.export: the decode stage (VAE decoder + HiFi-GAN) on ONNX Runtime.

* :mod:`~audioldm_daw.export.onnx_export` writes the graph and validates it against torch;
* :mod:`~audioldm_daw.export.runtime` runs it (:class:`OrtDecoder`, a DecodeBackend named ``onnx``);
* :mod:`~audioldm_daw.export.select` picks torch or ONNX for a model (``choose_decoder``), with the
  cache, the calibration and the fallbacks.

The engine never imports this package: whoever builds an Engine hands it the chosen backend.
The submodules import torch (and onnx/onnxruntime when used), so the package resolves its public names
lazily (PEP 562) from :data:`_LAZY`: importing it, or listing the commands that use it, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audioldm_daw import lazy_exports

if TYPE_CHECKING:  # ``X as X`` marks a re-export for type checkers
    from audioldm_daw.export.onnx_export import export_model as export_model
    from audioldm_daw.export.runtime import load_decoder as load_decoder
    from audioldm_daw.export.select import choose_decoder as choose_decoder

# Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "choose_decoder": "audioldm_daw.export.select",
    "export_model": "audioldm_daw.export.onnx_export",
    "load_decoder": "audioldm_daw.export.runtime",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(_LAZY, globals())
