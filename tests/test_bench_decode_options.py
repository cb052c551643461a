"""benchmarks/bench_decode_cuda_options.py's channels-last vocoder: the rows it times on a GPU must decode the same
audio as the vocoder it stands in for, or their times mean nothing. Checked here on the CPU, in fp32, with the
S-full vocoder's shapes (its strides, dilations and transposed upsampling) at odd lengths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_decode import build_decode_parts  # noqa: E402
from bench_decode_cuda_options import ConvNWC, nwc_vocoder  # noqa: E402


@pytest.fixture(scope="module")
def vocoder() -> torch.nn.Module:
    return build_decode_parts("s-full")[1]


@pytest.mark.parametrize("frames", [1, 17, 40])
def test_the_channels_last_vocoder_decodes_the_same_audio(vocoder: torch.nn.Module, frames: int) -> None:
    twin = nwc_vocoder(vocoder)
    convs = [m for m in twin.modules() if isinstance(m, ConvNWC)]
    assert convs and not any(isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)) for m in twin.modules())
    assert any(c.transposed for c in convs) and any(c.dilation[1] > 1 for c in convs)
    layouts: list[bool] = []  # whether each convolution's input arrives channels-last already (no copy made)
    hooks = [c.register_forward_pre_hook(lambda _m, a: layouts.append(a[0].stride(1) == 1)) for c in convs[1:]]
    mel = torch.randn(2, frames, int(vocoder.config.model_in_dim), generator=torch.Generator().manual_seed(frames))
    with torch.inference_mode():
        want, got = vocoder(mel), twin(mel)
    for h in hooks:
        h.remove()
    assert got.shape == want.shape and want.shape[0] == 2 and want.shape[1] >= frames * 160
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max()) + 1e-6
    assert layouts and all(layouts), f"{layouts.count(False)} of {len(layouts)} convolutions got another layout"
    assert all(p.dtype == torch.float32 for p in twin.parameters()) and vocoder is not twin
