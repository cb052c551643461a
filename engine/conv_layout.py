"""A vocoder's 1-D convolutions run as 2-D ones in channels-last memory, for fp16 tensor-core kernels on a GPU.

torch runs a 1-D convolution as a 2-D one over (B, C, 1, T) in the layout of its 1-D weight, which is NCHW; cuDNN's
fp16 tensor-core kernels work in NHWC, so each of a HiFi-GAN's convolutions (about 1 TFLOP per 10.24 s of S-full
audio, the larger half of the decode stage) pays for layout changes or a slower kernel. ONNX Runtime's CUDA
provider decoded the same graph 13% faster with NHWC kernels preferred on an H100 (12.4 against 14.3 ms).
:func:`channels_last_convs` gives a copy of a module whose convolutions take and give (B, C, T) tensors laid out
as (B, T, C) in memory: the activations, residual sums and averages between them keep that layout, so the whole
vocoder runs in it without copies. The arithmetic is the same convolution, so the audio is the same within
rounding (tests/test_conv_layout.py); whether it is faster is the GPU's to say (benchmarks/bench_gpu.py, part
``decode_torch_compiled_nwc``), so :class:`~audioldm_daw.engine.decode.TorchDecoder` uses it only when asked.
"""

from __future__ import annotations

import copy

import torch

_CONVS = (torch.nn.Conv1d, torch.nn.ConvTranspose1d)


class ConvNWC(torch.nn.Module):
    """A ``Conv1d`` or ``ConvTranspose1d`` as its 2-D twin over (B, C, 1, T) in channels-last memory (same
    weights, frozen: this is for inference)."""

    def __init__(self, conv: torch.nn.Conv1d | torch.nn.ConvTranspose1d) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"{conv}: only zero padding given as a number runs as a 2-D convolution here")
        self.transposed = isinstance(conv, torch.nn.ConvTranspose1d)
        weight = conv.weight.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = None if conv.bias is None else torch.nn.Parameter(conv.bias.detach(), requires_grad=False)
        self.stride, self.padding, self.dilation = (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0])
        self.output_padding = (0, conv.output_padding[0])
        self.groups = conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # a no-op for a (B, T, C)-laid input
        w, b = self.weight, self.bias
        if self.transposed:
            pad, out_pad = self.padding, self.output_padding
            y = torch.nn.functional.conv_transpose2d(x4, w, b, self.stride, pad, out_pad, self.groups, self.dilation)
        else:
            y = torch.nn.functional.conv2d(x4, w, b, self.stride, self.padding, self.dilation, self.groups)
        return y.squeeze(2)


def channels_last_convs(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` with every 1-D convolution replaced by its :class:`ConvNWC` twin; ``module`` itself
    when it has none (a Griffin-Lim vocoder)."""
    if not any(isinstance(m, _CONVS) for m in module.modules()):
        return module
    twin = copy.deepcopy(module)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _CONVS):
                setattr(parent, name, ConvNWC(child))
    return twin
