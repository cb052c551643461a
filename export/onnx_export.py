"""Exporting the decode stage (scaled latent -> waveform) to ONNX, and validating it against torch.

One graph holds the VAE decoder and the HiFi-GAN vocoder: on a GPU that is one launch sequence ORT can
capture as a single CUDA graph with no host round trip for the mel in between; on CPU a split would
only add a copy of the (T_mel, 64) mel, so one graph costs nothing there.

The graph is not a plain trace of the diffusers/transformers modules. These re-expressions make ONNX
Runtime fast and GPU-placeable; each export is validated numerically against the untouched torch
modules (:func:`validate`) before it is ever used:

* the VAE decoder runs frequency-major, (B, C, F, T) instead of (B, C, T, F): the long time axis is
  innermost, where MLAS's NCHWc convolution kernels are fastest, and the decoder's output is then
  already the vocoder's input layout;
* for fp32 (the CPU graph), the VAE's wide 3x3 convs (>= 256 channels) run as Winograd F(4, 3) along
  the static frequency axis and directly along time (:class:`_FreqConv3x3`): half the multiply-adds;
* the vocoder's 1-D convolutions run as 2-D convolutions over a (B, C, 1, N) layout, so ORT's CPU
  NCHWc transformer picks MLAS's direct convolution kernels (LeakyReLU fused in) instead of im2col +
  GEMM; torch's oneDNN path is weakest exactly there (the long, narrow upper levels of HiFi-GAN);
* each transposed convolution becomes its polyphase equivalent (one ordinary convolution with
  ``stride * C_out`` outputs, interleaved by a reshape): ORT's CPU ConvTranspose ran at about half the
  FLOP rate of its direct convolutions, and cuDNN runs the ordinary conv with its best kernels;
* HiFi-GAN's resblock mean (sum / num_kernels) is folded into the next conv's weights;
* every reshape is written with ``0`` (keep) and ``-1`` (infer) and the static frequency size, so the
  graph has no Shape/Gather subgraph: with ORT's free-dimension overrides every node of a fixed-length
  bucket lands on the CUDA EP and the session can use CUDA graphs.

The legacy TorchScript exporter (``dynamo=False``) is used: it needs no onnxscript, honours the
custom symbolic below, and exports these conv stacks in seconds.

Measured and not adopted: the vocoder's 7- and 11-tap resblock convs as overlap-save block-DFT
convolutions (framing, a DFT MatMul, one GEMM per frequency bin, an inverse-DFT MatMul). Single layers
ran 1.3-2.2x faster at 256-512 channels, but in the whole S-full graph on 2 threads the decode was only
4-6% faster (the framing and transposes are single-threaded memory passes), while the per-bin weights
made the file 1.8x larger (857 vs 484 MB) and the session 30% larger in memory.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioldm_daw.engine.geometry import Geometry

log = logging.getLogger(__name__)

#: Bump when the graph's layout or inputs change: caches written by an older format are re-exported.
#: 2: frequency-major VAE with Winograd F(4, 3) (format 1 was the plain (B, C, T, F) layout).
EXPORT_FORMAT = 2
OPSET = 17
INPUT_NAME = "latent"
OUTPUT_NAME = "waveform"
#: fp32 graphs must match torch fp32 within this fraction of the reference waveform's peak.
FP32_BOUND = 1e-4
#: fp16 graphs (fp16 weights and activations, fp32 waveform out) against torch **fp32**: max abs error
#: <= 2e-2 of the peak. fp16 keeps 11 significant bits and the rounding accumulates through ~45 convs;
#: random-weight models measured 1.0e-3..1.6e-3 (S-full) and 1.2e-3..2.1e-3 (tiny) on ORT's CPU fp16
#: kernels. 2e-2 leaves ~10x headroom for other kernels (cuDNN, CoreML) while still catching a broken
#: graph (a wrong layer is off by the order of the peak itself).
FP16_BOUND = 2e-2
GRAPH_NAME = {"fp32": "decode-fp32.onnx", "fp16": "decode-fp16.onnx"}


class ExportError(RuntimeError):
    """Export or validation failed; the graph must not be used."""


# -- shape-free building blocks ----------------------------------------------------------------------
class _Reshape(torch.autograd.Function):
    """``x.reshape(spec)`` where 0 keeps a dimension, exported as one Reshape with a constant shape.

    torch has no "keep this dim" reshape, and ``x.reshape(x.shape[0], ...)`` exports a Shape/Gather
    subgraph that ORT runs on the CPU; a constant spec keeps the graph whole on the GPU provider.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, spec: tuple[int, ...]) -> torch.Tensor:
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(spec)])

    @staticmethod
    def symbolic(g: Any, x: Any, spec: tuple[int, ...]) -> Any:
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(list(spec), dtype=torch.int64)))


def reshape0(x: torch.Tensor, *spec: int) -> torch.Tensor:
    """Reshape with ONNX semantics (0 = keep, -1 = infer) and no shape arithmetic in the graph."""
    return _Reshape.apply(x, tuple(spec))


class _GroupNorm(nn.Module):
    """GroupNorm for (B, C, F, T) or (B, C, N) with constant-shape reshapes around InstanceNormalization.

    F (frequency) is read at trace time; only T (time) varies, so it is the inferred (-1) axis.
    """

    weight: torch.Tensor  # buffers (register_buffer below)
    bias: torch.Tensor
    unit: torch.Tensor
    zero: torch.Tensor

    def __init__(self, gn: nn.GroupNorm) -> None:
        super().__init__()
        self.groups = gn.num_groups
        self.eps = gn.eps
        self.channels = gn.num_channels
        ones = torch.ones(gn.num_channels) if gn.weight is None else gn.weight.detach()
        zeros = torch.zeros(gn.num_channels) if gn.bias is None else gn.bias.detach()
        self.register_buffer("weight", ones.clone())
        self.register_buffer("bias", zeros.clone())
        # explicit unit scale/zero shift: without them the exporter sizes them with a Shape subgraph
        self.register_buffer("unit", torch.ones(gn.num_groups))
        self.register_buffer("zero", torch.zeros(gn.num_groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = reshape0(x, 0, self.groups, -1)
        y = F.instance_norm(y, weight=self.unit, bias=self.zero, eps=self.eps)
        if x.dim() == 4:  # frequency-major (B, C, F, T): F is static, T is the inferred axis
            y = reshape0(y, 0, self.channels, int(x.shape[2]), -1)
            return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        y = reshape0(y, 0, self.channels, -1)
        return y * self.weight.view(1, -1, 1) + self.bias.view(1, -1, 1)


class _AttnProcessor:
    """diffusers' VAE self-attention (AttnProcessor2_0 semantics) with constant-shape reshapes."""

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        residual = hidden_states
        c, f = int(hidden_states.shape[1]), int(hidden_states.shape[2])  # (B, C, F, T): token order is free
        x = reshape0(hidden_states, 0, c, -1)  # (B, C, N)
        if attn.group_norm is not None:
            x = attn.group_norm(x)
        x = x.transpose(1, 2)  # (B, N, C)
        q = attn.to_q(x) * attn.scale  # scale before the product: keeps fp16 logits in range
        k = attn.to_k(x)
        v = attn.to_v(x)
        heads = attn.heads
        if heads > 1:
            d = c // heads
            q, k, v = (reshape0(t, 0, -1, heads, d).transpose(1, 2) for t in (q, k, v))
        probs = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        out = probs @ v
        if heads > 1:
            out = reshape0(out.transpose(1, 2), 0, -1, c)
        out = attn.to_out[0](out)
        out = reshape0(out.transpose(1, 2), 0, c, f, -1)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


# Winograd F(4, 3) (points 0, 1, -1, 2, -2, inf): 6 products per 4 outputs of a 3-tap filter.
_WINO_BT = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_WINO_G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
_WINO_AT = (
    (1, 1, 1, 1, 1, 0),
    (0, 1, -1, 2, -2, 0),
    (0, 1, 1, 4, 4, 0),
    (0, 1, -1, 8, -8, 1),
)
#: Winograd only pays where the GEMM dominates its transforms: measured on 2 AVX2 cores, 512 and 256
#: channel layers gain 1.3-1.6x, 128-channel layers at 1024x64 gain <1.15x (memory-bound transforms).
WINOGRAD_MIN_CHANNELS = 256


class _FreqConv3x3(nn.Module):
    """A VAE 3x3 conv (stride 1, pad 1) on frequency-major activations (B, C, F, T).

    diffusers' layout is (B, C, T, F) with F = 16..64; putting the long time axis innermost gives
    MLAS's NCHWc kernels long rows (measured 74 -> 86 GFLOP/s at 512 channels on one AVX2 core).
    Where both channel counts reach ``WINOGRAD_MIN_CHANNELS`` the conv runs as Winograd F(4, 3) along
    the (static) frequency axis and directly along time: the input transform and the output transform
    are small constant MatMuls over F, and the 3x3 conv becomes six 1x3 convs over F/4 rows, half the
    multiply-adds. Time needs no tiling, so any length works and no Shape op is needed. In fp32 the
    transforms add ~3e-6 relative error per layer (validated end to end against torch).
    """

    bias4: torch.Tensor  # buffer (register_buffer below)

    def __init__(self, conv: nn.Conv2d, winograd: bool) -> None:
        super().__init__()
        w = conv.weight.detach().double()  # (O, C, 3 time taps, 3 freq taps)
        self.out_channels = conv.out_channels
        self.winograd = winograd and min(conv.in_channels, conv.out_channels) >= WINOGRAD_MIN_CHANNELS
        bias = conv.bias.detach() if conv.bias is not None else w.new_zeros(w.shape[0]).float()
        if not self.winograd:
            self.weight = nn.Parameter(w.transpose(2, 3).float().contiguous(), requires_grad=False)
            self.bias = nn.Parameter(bias.clone(), requires_grad=False)
            return
        g = torch.tensor(_WINO_G, dtype=torch.float64)
        u = torch.einsum("xb,ocab->xoca", g, w)  # (6, O, C, 3): the filter transformed along frequency
        self.u = nn.ParameterList(
            [nn.Parameter(u[i].unsqueeze(2).float().contiguous(), requires_grad=False) for i in range(6)]
        )
        self.register_buffer("bias4", bias.clone().view(1, -1, 1, 1))

    @staticmethod
    def transforms(f: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(6F/4, F) input and (F, 6F/4) output transform matrices for F frequency bins (pad 1 folded in).

        Built in numpy: tensor indexing here would be recorded op by op by the tracer (thousands of
        nodes per conv, which makes the exporter's graph passes quadratic); numpy yields one constant.
        """
        nt = f // 4
        bt = np.array(_WINO_BT, dtype=np.float64)
        at = np.array(_WINO_AT, dtype=np.float64)
        b_in = np.zeros((6 * nt, f))
        a_out = np.zeros((f, 6 * nt))
        for t in range(nt):
            for x in range(6):
                for j in range(6):
                    src = 4 * t + j - 1
                    if 0 <= src < f:
                        b_in[x * nt + t, src] += bt[x, j]
                for i in range(4):
                    a_out[4 * t + i, x * nt + t] = at[i, x]
        return torch.from_numpy(b_in.astype(np.float32)), torch.from_numpy(a_out.astype(np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = int(x.shape[2])
        if not self.winograd or f % 4:
            if self.winograd:
                raise ExportError(f"Winograd conv needs a frequency size divisible by 4, got {f}")
            return F.conv2d(x, self.weight, self.bias, padding=1)
        nt = f // 4
        b_in, a_out = self.transforms(f)
        v = torch.matmul(b_in.to(x.device), x)  # (B, C, 6*nt, T)
        m = torch.cat(
            [F.conv2d(v[:, :, i * nt : (i + 1) * nt], self.u[i], padding=(0, 1)) for i in range(6)], dim=2
        )  # (B, O, 6*nt, T)
        return torch.matmul(a_out.to(x.device), m) + self.bias4


def _polyphase(conv_t: nn.ConvTranspose1d) -> tuple[torch.Tensor, torch.Tensor, int]:
    """ConvTranspose1d weights as one ordinary conv: weight (s*Cout, Cin, 1, J), bias (s*Cout,), J.

    Output phase r of the transposed conv (samples r, r+s, r+2s, ...) is an ordinary convolution of the
    input with the taps k = r + s*j; stacking the phases as output channels computes all of them in one
    conv, and a reshape/transpose interleaves them back. FLOPs are s*J/K of the transposed conv (1.0 for
    HiFi-GAN's K = 2s kernels, 1.25 for AudioLDM's 16/5 first layer), but it runs on the fast conv path.
    """
    w = conv_t.weight.detach()  # (Cin, Cout, K)
    cin, cout, k = w.shape
    s = int(conv_t.stride[0])
    j = math.ceil(k / s)
    out = w.new_zeros(s, cout, cin, j)
    for r in range(s):
        for jj in range(j):
            kk = r + s * jj
            if kk < k:
                out[r, :, :, j - 1 - jj] = w[:, :, kk].t()
    bias = conv_t.bias.detach().repeat(s) if conv_t.bias is not None else w.new_zeros(s * cout)
    return out.reshape(s * cout, cin, 1, j), bias, j


def _fold_weight_norm(module: nn.Module) -> None:
    """Bake any weight_norm (old hook style or parametrization) into plain weights, in place.

    transformers' SpeechT5HifiGan loads plain weights (``apply_weight_norm`` exists for training only),
    so for the public checkpoints this is a no-op; a vocoder fine-tuned with weight norm still exports
    one plain conv per layer instead of a norm/div/mul chain recomputed on every run.
    """
    from torch.nn.utils import parametrize

    for m in module.modules():
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        elif hasattr(m, "weight_g") and hasattr(m, "weight_v"):
            torch.nn.utils.remove_weight_norm(m)


class HifiGan2d(nn.Module):
    """transformers' SpeechT5HifiGan forward, re-expressed for ONNX Runtime (see the module docstring).

    Input (B, n_mels, 1, T) log-mel, output (B, 1, 1, N) waveform. Build it from a copy of the vocoder
    (weight norm, if any, is folded into that copy).
    """

    mean: torch.Tensor  # buffers (register_buffer below)
    scale: torch.Tensor

    def __init__(self, vocoder: nn.Module) -> None:
        super().__init__()
        # transformers' SpeechT5HifiGan: its config, buffers and conv lists are reached by name, which
        # nn.Module's hints type as Tensor | Module; read them dynamically.
        vocoder_: Any = vocoder
        cfg = vocoder_.config
        _fold_weight_norm(vocoder)
        self.slope = float(cfg.leaky_relu_slope)
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.normalize = bool(cfg.normalize_before)
        self.register_buffer("mean", vocoder_.mean.detach().clone().view(1, -1, 1, 1))
        self.register_buffer("scale", vocoder_.scale.detach().clone().view(1, -1, 1, 1))
        self.pre = self._conv(vocoder_.conv_pre)
        self.up_w = nn.ParameterList()
        self.up_b = nn.ParameterList()
        self.up_geom: list[tuple[int, int, int, int, int]] = []
        for up in vocoder_.upsampler:
            w, b, j = _polyphase(up)
            self.up_w.append(nn.Parameter(w, requires_grad=False))
            self.up_b.append(nn.Parameter(b, requires_grad=False))
            self.up_geom.append((int(up.stride[0]), int(up.kernel_size[0]), int(up.padding[0]), j, up.out_channels))
        self.res = nn.ModuleList()
        for block in vocoder_.resblocks:
            pairs = nn.ModuleList()
            for c1, c2 in zip(block.convs1, block.convs2, strict=True):
                pairs.append(nn.ModuleList([self._conv(c1), self._conv(c2)]))
            self.res.append(pairs)
        self.post = self._conv(vocoder_.conv_post)
        # HiFi-GAN averages its parallel resblocks (sum / num_kernels) and then applies a LeakyReLU and a
        # conv; LeakyReLU is positively homogeneous, so the 1/num_kernels folds into the next conv's
        # weights (not its bias) and the division pass over the widest tensors disappears.
        with torch.no_grad():
            for w in [*list(self.up_w)[1:], self.post.weight]:
                w.div_(self.num_kernels)

    @staticmethod
    def _conv(c: nn.Conv1d) -> nn.Conv2d:
        out = nn.Conv2d(
            c.in_channels,
            c.out_channels,
            (1, c.kernel_size[0]),
            padding=(0, cast("tuple[int, ...]", c.padding)[0]),
            dilation=(1, c.dilation[0]),
            bias=c.bias is not None,
        )
        out.weight = nn.Parameter(c.weight.detach().unsqueeze(2).clone(), requires_grad=False)
        if c.bias is not None:
            out.bias = nn.Parameter(c.bias.detach().clone(), requires_grad=False)
        return out

    def _upsample(self, i: int, x: torch.Tensor) -> torch.Tensor:
        s, k, p, j, cout = self.up_geom[i]
        y = F.conv2d(x, self.up_w[i], self.up_b[i], padding=(0, j - 1))  # (B, s*Cout, 1, L+J-1)
        y = reshape0(y, 0, s, cout, -1).permute(0, 2, 3, 1)  # (B, Cout, L+J-1, s)
        y = reshape0(y, 0, cout, 1, -1)  # interleaved: the transposed conv's uncropped output
        tail = j * s - k + p  # samples past the cropped end: a constant, so no Shape op is needed
        return y[..., p : (-tail if tail else None)]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel
        if self.normalize:
            x = (x - self.mean) / self.scale
        x = self.pre(x)
        for i in range(len(self.up_geom)):
            x = F.leaky_relu(x, self.slope)
            x = self._upsample(i, x)
            acc = None
            for r in range(self.num_kernels):
                h = x
                pairs = cast("Iterable[tuple[nn.Conv2d, nn.Conv2d]]", self.res[i * self.num_kernels + r])
                for conv1, conv2 in pairs:  # each pair is a 2-module ModuleList
                    y = conv1(F.leaky_relu(h, self.slope))
                    h = conv2(F.leaky_relu(y, self.slope)) + h
                acc = h if acc is None else acc + h
            assert acc is not None  # num_kernels >= 1
            x = acc  # the mean's 1/num_kernels lives in the next conv's weights (see __init__)
        x = F.leaky_relu(x)  # transformers uses torch's default slope (0.01) here
        return torch.tanh(self.post(x))


def _cpu_fp32(module: nn.Module) -> nn.Module:
    """A CPU fp32 eval copy; the model's own modules (maybe fp16 on a GPU) are never touched.

    ``nn.Module.to`` directly: diffusers' override logs a keep-in-fp32 note on every cast.
    """
    return nn.Module.to(copy.deepcopy(module), "cpu", torch.float32).eval()


class DecodeGraph(nn.Module):
    """Scaled latents (B, C, T, F) -> waveform (B, N) float32: what the ONNX file computes.

    The VAE decoder runs frequency-major (B, C, F, T); its output (B, 1, n_mels, T_mel) is then already
    the vocoder's (B, n_mels, 1, T_mel) layout, so the mel needs no transpose either.
    ``winograd`` selects Winograd F(4, 3) for the wide VAE convs: an fp32 CPU optimisation (fp16 graphs
    for GPUs keep direct convs, which cuDNN runs best and which keep fp16 rounding small).
    """

    def __init__(self, vae: nn.Module, vocoder: nn.Module, winograd: bool = True) -> None:
        super().__init__()
        # diffusers' AutoencoderKL: config and submodules by name (see HifiGan2d)
        vae_: Any = _cpu_fp32(vae)
        scaling = float(vae_.config.scaling_factor)
        # The 1/scaling_factor of TorchDecoder folds into the first conv's weights: one fewer pass.
        first = vae_.post_quant_conv if vae_.post_quant_conv is not None else vae_.decoder.conv_in
        with torch.no_grad():
            first.weight.div_(scaling)
        self.post_quant_conv = vae_.post_quant_conv
        self.decoder = vae_.decoder
        for mod in list(self.decoder.modules()):
            for child_name, child in list(mod.named_children()):
                if isinstance(child, nn.GroupNorm):
                    setattr(mod, child_name, _GroupNorm(child))
                elif isinstance(child, nn.Conv2d) and child.kernel_size == (3, 3):
                    if child.stride != (1, 1) or child.padding != (1, 1) or child.dilation != (1, 1):
                        raise ExportError(f"unexpected VAE conv {child}")
                    setattr(mod, child_name, _FreqConv3x3(child, winograd))
                elif isinstance(child, nn.Conv2d) and child.kernel_size != (1, 1):
                    raise ExportError(f"unexpected VAE conv {child}")
            if hasattr(mod, "set_processor") and hasattr(mod, "to_q"):
                mod.set_processor(_AttnProcessor())
        self.vocoder = HifiGan2d(_cpu_fp32(vocoder))
        self.n_mels = int(cast(Any, vocoder).config.model_in_dim)
        self.requires_grad_(False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        z = latent.float().transpose(2, 3)  # (B, C, F, T)
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        mel = self.decoder(z)  # (B, 1, n_mels, T_mel)
        wav = self.vocoder(reshape0(mel, 0, self.n_mels, 1, -1))  # -> (B, 1, 1, N)
        return reshape0(wav, 0, -1).float()


# -- geometry ---------------------------------------------------------------------------------------
@dataclass
class DecodeGeometry:
    """What a runtime needs to know about the graph without loading torch modules.

    Written into the manifest; the numbers come from the engine's :class:`Geometry` of the decode half,
    so the export sizes latents by the same rule as the engine.
    """

    latent_channels: int
    latent_bins: int
    vae_scale: int
    upsamplers: list[tuple[int, int, int]] = field(default_factory=list)  # (stride, kernel, padding)

    def output_length(self, frames: int) -> int:
        """Waveform samples for a latent of ``frames`` time cells (the vocoder's exact length)."""
        n = frames * self.vae_scale
        for s, k, p in self.upsamplers:
            n = (n - 1) * s + k - 2 * p
        return n

    @classmethod
    def of(cls, vae: nn.Module, vocoder: nn.Module) -> DecodeGeometry:
        geom = Geometry.of_decoder(vae.config, vocoder.config)
        return cls(
            latent_channels=geom.latent_channels,
            latent_bins=geom.latent_bins,
            vae_scale=geom.vae_factor,
            upsamplers=[
                (int(u.stride[0]), int(u.kernel_size[0]), int(u.padding[0])) for u in cast(Any, vocoder).upsampler
            ],
        )


# -- export -----------------------------------------------------------------------------------------
def export_graph(vae: nn.Module, vocoder: nn.Module, path: Path, fp16: bool = False) -> Path:
    """Write the decode graph to ``path`` (fp32, or fp16 weights/activations with an fp32 waveform out).

    Traced on a short latent with dynamic batch and time axes, so one file serves every length.
    """
    import onnx

    geom = DecodeGeometry.of(vae, vocoder)
    graph = DecodeGraph(vae, vocoder, winograd=not fp16)
    example = torch.randn(1, geom.latent_channels, 8, geom.latent_bins)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about python ints are expected and harmless
        torch.onnx.export(
            graph,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "frames"}, OUTPUT_NAME: {0: "batch", 1: "samples"}},
            do_constant_folding=True,
        )
    model = onnx.load(str(tmp))
    leftovers = sorted({n.op_type for n in model.graph.node} & {"Shape", "Size"})
    if leftovers:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"decode graph still has {leftovers} nodes (would run on the CPU under the CUDA EP)")
    if fp16:
        model = to_fp16(model)
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def to_fp16(model: Any) -> Any:
    """fp16 weights and activations with an fp16 latent in and the fp32 waveform out.

    The input stays fp16 so the UNet's fp16 latents are bound as they are (no cast kernel, no copy);
    the output is cast to fp32 inside the graph because DecodeBackend promises float32.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_float_to_float16(model, keep_io_types=[OUTPUT_NAME], op_block_list=[])


def file_sha256(path: Path) -> str:
    """sha256 of a file: the manifest records it so a truncated or altered graph is never loaded."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- validation -------------------------------------------------------------------------------------
@dataclass
class Validation:
    """Parity of one export against torch fp32, per latent length."""

    passed: bool
    bound: float
    provider: str
    cases: list[dict[str, Any]]


def validation_lengths(latent_frames: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """(batch, frames) cases: several lengths (odd and even, short and longer) and one batch of 2."""
    frames = list(latent_frames or (8, 20, 64))
    return [(1, t) for t in frames] + [(2, frames[0])]


def validate(
    path: Path,
    vae: nn.Module,
    vocoder: nn.Module,
    fp16: bool,
    cases: Sequence[tuple[int, int]] | None = None,
    seed: int = 0,
    providers: Sequence[Any] | None = None,
) -> Validation:
    """Run the graph and torch fp32 (the untouched modules) on the same random latents and compare.

    Passes when, for every case, ``max|ort - torch| <= bound * max|torch|`` (FP32_BOUND or FP16_BOUND).
    """
    import onnxruntime as ort

    from audioldm_daw.engine.decode import TorchDecoder

    geom = DecodeGeometry.of(vae, vocoder)
    reference = TorchDecoder(_cpu_fp32(vae), _cpu_fp32(vocoder))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=list(providers or ["CPUExecutionProvider"]))
    bound = FP16_BOUND if fp16 else FP32_BOUND
    gen = torch.Generator().manual_seed(seed)
    results = []
    ok = True
    for batch, frames in cases or validation_lengths():
        z = torch.randn(batch, geom.latent_channels, frames, geom.latent_bins, generator=gen)
        ref = reference.decode(z).numpy()
        feed = z.numpy().astype(np.float16 if fp16 else np.float32)
        got = sess.run([OUTPUT_NAME], {INPUT_NAME: feed})[0]
        if got.shape != ref.shape:
            results.append({"batch": batch, "frames": frames, "error": f"shape {got.shape} != {ref.shape}"})
            ok = False
            continue
        peak = float(np.abs(ref).max()) or 1.0
        err = float(np.abs(got.astype(np.float64) - ref).max()) / peak
        finite = bool(np.isfinite(got).all())
        passed = finite and err <= bound
        ok = ok and passed
        results.append({"batch": batch, "frames": frames, "max_err_over_peak": err, "passed": passed})
    return Validation(ok, bound, sess.get_providers()[0], results)


# -- the cache entry ----------------------------------------------------------------------------------
def manifest_path(graph: Path) -> Path:
    """The JSON written beside every graph; a graph without a passing manifest is never used."""
    return Path(graph).with_suffix(".json")


def export_decoder(
    vae: nn.Module,
    vocoder: nn.Module,
    out_dir: Path,
    fp16: bool = False,
    model_hash: str = "",
    cases: Sequence[tuple[int, int]] | None = None,
    providers: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Export + validate into ``out_dir``; returns the manifest. Raises ExportError if parity fails.

    ``providers`` run the validation (default: the CPU EP; pass the CUDA EP to validate an fp16 graph
    on the kernels that will run it). The graph and its manifest are written atomically; a failed
    validation still writes the manifest (``passed: false``), so no later load trusts that graph and
    the reason stays inspectable.
    """
    import onnxruntime as ort

    precision = "fp16" if fp16 else "fp32"
    out_dir = Path(out_dir)
    graph = out_dir / GRAPH_NAME[precision]
    export_graph(vae, vocoder, graph, fp16=fp16)
    check = validate(graph, vae, vocoder, fp16, cases=cases, providers=providers)
    manifest = {
        "format": EXPORT_FORMAT,
        "precision": precision,
        "graph": graph.name,
        "sha256": file_sha256(graph),
        "bytes": graph.stat().st_size,
        "model_hash": model_hash,
        "opset": OPSET,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "geometry": asdict(DecodeGeometry.of(vae, vocoder)),
        "validation": asdict(check),
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    mpath = manifest_path(graph)
    tmp = mpath.with_name(f".{mpath.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, mpath)
    if not check.passed:
        worst = max((c.get("max_err_over_peak", float("inf")) for c in check.cases), default=float("nan"))
        raise ExportError(
            f"{precision} export {graph} failed parity against torch (worst max error {worst:.3g} of the peak, "
            f"bound {check.bound:g}); it will not be used"
        )
    return manifest


def export_model(
    model: Any, out_dir: Path, fp16: bool = False, providers: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Export an AudioLDMModel's decode stage (see :func:`export_decoder`), keyed by its content hash."""
    return export_decoder(
        model.vae, model.vocoder, out_dir, fp16=fp16, model_hash=model.content_hash, providers=providers
    )


def read_manifest(graph: Path) -> dict[str, Any]:
    """The manifest of ``graph``; raises ExportError when it is missing or unreadable."""
    mpath = manifest_path(graph)
    try:
        data = json.loads(mpath.read_text())
    except FileNotFoundError as exc:
        raise ExportError(f"{mpath} is missing") from exc
    except (OSError, ValueError) as exc:
        raise ExportError(f"{mpath} is unreadable ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise ExportError(f"{mpath} is not a manifest")
    return data
