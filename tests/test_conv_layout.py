"""engine/conv_layout.py: a vocoder with its 1-D convolutions run as 2-D ones in channels-last memory decodes the
same audio as the vocoder it stands in for (or the GPU's timing of it means nothing). Checked on the CPU in fp32
with the S-full vocoder's shapes (its strides, dilations and transposed upsampling) at odd lengths, and through
the torch decoder on the tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from audioldm_daw.engine import TorchDecoder
from audioldm_daw.engine.conv_layout import ConvNWC, channels_last_convs
from audioldm_daw.engine.vocoders import GriffinLimVocoder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_decode import build_decode_parts  # noqa: E402


@pytest.fixture(scope="module")
def vocoder() -> torch.nn.Module:
    return build_decode_parts("s-full")[1]


@pytest.mark.parametrize("frames", [1, 17, 40])
def test_the_channels_last_vocoder_decodes_the_same_audio(vocoder: torch.nn.Module, frames: int) -> None:
    twin = channels_last_convs(vocoder)
    convs = [m for m in twin.modules() if isinstance(m, ConvNWC)]
    assert convs and not any(isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)) for m in twin.modules())
    assert any(c.transposed for c in convs) and any(c.dilation[1] > 1 for c in convs)
    layouts: list[bool] = []  # whether each convolution's input arrives channels-last already (no copy made)
    hooks = [c.register_forward_pre_hook(lambda _m, a: layouts.append(a[0].stride(1) == 1)) for c in convs]
    mel = torch.randn(2, frames, int(vocoder.config.model_in_dim), generator=torch.Generator().manual_seed(frames))
    with torch.inference_mode():
        want, got = vocoder(mel), twin(mel)
    for h in hooks:
        h.remove()
    assert got.shape == want.shape and want.shape[0] == 2 and want.shape[1] >= frames * 160
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max()) + 1e-6
    assert layouts and all(layouts), f"{layouts.count(False)} of {len(layouts)} convolutions got another layout"
    assert any(isinstance(m, torch.nn.Conv1d) for m in vocoder.modules())  # a copy: the original is untouched


def test_in_fp16_the_channels_last_vocoder_stays_within_half_precision(vocoder: torch.nn.Module) -> None:
    """In fp16 (the GPU's dtype) the two orders of accumulation round differently: each stays as close to the
    fp32 vocoder as fp16 allows (measured on the CPU: 1.8e-3 of the peak between them, 1.6e-3 for plain fp16)."""
    half = torch.nn.Module.to(channels_last_convs(vocoder), dtype=torch.float16)
    mel = torch.randn(1, 17, int(vocoder.config.model_in_dim), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        want, got = vocoder(mel), half(mel.half()).float()
    assert got.shape == want.shape and torch.isfinite(got).all()
    assert float((got - want).abs().max()) <= 1e-2 * float(want.abs().max())
    assert all(c.weight.dtype == torch.float16 for c in half.modules() if isinstance(c, ConvNWC))


def test_the_torch_decoder_decodes_the_same_with_nwc(tiny_engine) -> None:
    m = tiny_engine.model
    plain, nwc = TorchDecoder(m.vae, m.vocoder), TorchDecoder(m.vae, m.vocoder, nwc=True)
    assert any(isinstance(x, ConvNWC) for x in nwc.vocoder.modules()) and nwc.vocoder is not m.vocoder
    z = torch.randn(m.geometry.latent_shape(1, 37), generator=torch.Generator().manual_seed(0))
    want, got = plain.decode(z), nwc.decode(z)
    assert got.shape == want.shape and float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_a_vocoder_without_convolutions_is_left_as_it_is() -> None:
    griffin_lim = GriffinLimVocoder()
    assert channels_last_convs(griffin_lim) is griffin_lim


def test_only_zero_padding_given_as_a_number_is_taken() -> None:
    with pytest.raises(ValueError, match="zero padding"):
        ConvNWC(torch.nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ValueError, match="zero padding"):
        ConvNWC(torch.nn.Conv1d(2, 2, 3, padding="same"))
