"""``--compile``: the UNet and the decode stage through torch.compile give the clip the plain modules give.

On the CPU this runs inductor's C++ code generation (g++, which scripts/setup.sh installs); the speed it buys
is a GPU matter, measured by benchmarks/bench_gpu.py (variant ``compiled``, part ``decode_torch_compiled``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.decode import TorchDecoder


@pytest.fixture(autouse=True)
def _inductor_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # not the user's cache


def test_compiled_unet_and_decoder_give_the_same_clip(tiny_model_dir: Path) -> None:
    req = GenerateRequest("a glassy bell", duration=1.37, steps=2, seed=11, normalize_db=None)
    plain = Engine.load(tiny_model_dir, device="cpu")
    fast = Engine.load(tiny_model_dir, device="cpu", compile_unet=True, compile_decode=True)
    assert isinstance(fast.decoder, TorchDecoder) and fast.decoder.compiled
    assert not isinstance(plain.decoder, TorchDecoder) or not plain.decoder.compiled
    a, b = plain.generate(req).audio, fast.generate(req).audio
    assert a.shape == b.shape and np.isfinite(b).all()
    assert np.max(np.abs(a - b)) <= 1e-3 * max(1.0, float(np.max(np.abs(a))))


def test_compile_option_decodes_in_torch_unless_another_backend_is_named() -> None:
    """``--compile`` with ``--decoder auto`` skips the torch-vs-ONNX measurement (that compares the uncompiled
    torch stage) and decodes in compiled torch; ``--decoder onnx`` named outright still wins."""
    from audioldm_daw.bridge import options

    seen: dict[str, object] = {}

    class FakeEngine:
        @staticmethod
        def load(model: str, **kw: object) -> str:
            seen.update(kw)
            return "engine"

    import audioldm_daw.engine.engine as engine_module

    p = argparse.ArgumentParser()
    options.add_model_options(p)
    mp = pytest.MonkeyPatch()
    mp.setattr(engine_module, "Engine", FakeEngine)
    try:
        options.load_engine(p.parse_args(["--model", "m", "--compile"]))
        assert seen["decoder_factory"] is None and seen["compile_decode"] is True and seen["compile_unet"] is True
        options.load_engine(p.parse_args(["--model", "m", "--compile", "--decoder", "onnx"]))
        assert seen["decoder_factory"] is not None and seen["compile_decode"] is True
        options.load_engine(p.parse_args(["--model", "m"]))
        assert seen["decoder_factory"] is not None and seen["compile_decode"] is False
    finally:
        mp.undo()
