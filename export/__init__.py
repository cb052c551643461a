"""audioldm_daw.export: the decode stage (VAE decoder + HiFi-GAN) on ONNX Runtime.

* :mod:`~audioldm_daw.export.onnx_export` writes the graph and validates it against torch;
* :mod:`~audioldm_daw.export.runtime` runs it (:class:`OrtDecoder`, a DecodeBackend named ``onnx``);
* :mod:`~audioldm_daw.export.select` picks torch or ONNX for a model (``choose_decoder``), with the
  cache, the calibration and the fallbacks.

The engine never imports this package: whoever builds an Engine hands it the chosen backend.
Submodules import onnx/onnxruntime lazily, so importing the package itself is cheap.
"""

from __future__ import annotations

__all__ = ["choose_decoder", "export_model", "load_decoder"]


def __getattr__(name: str) -> object:
    """Lazy re-exports: ``from audioldm_daw.export import choose_decoder`` without eager imports."""
    if name == "choose_decoder":
        from audioldm_daw.export.select import choose_decoder

        return choose_decoder
    if name == "export_model":
        from audioldm_daw.export.onnx_export import export_model

        return export_model
    if name == "load_decoder":
        from audioldm_daw.export.runtime import load_decoder

        return load_decoder
    raise AttributeError(name)
