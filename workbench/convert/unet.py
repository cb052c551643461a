"""The latent diffusion UNet: the original's ``openaimodel.UNetModel`` -> diffusers' ``UNet2DConditionModel``.

The architecture is read from the weights (channels, levels, blocks, which levels attend), except the
attention heads: they change no tensor's shape, so they come from the caller (AudioLDM: 32 channels per
head, 64 for L; or the hub conversion's 8 heads everywhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from audioldm_daw.workbench.convert.errors import ConversionError

PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."

# resnet parts, original -> diffusers (the same in every block)
_RESNET = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


@dataclass(frozen=True)
class UNetShape:
    """What the weights say about the UNet."""

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[bool, ...]
    film_dim: int

    @property
    def block_channels(self) -> tuple[int, ...]:
        return tuple(self.model_channels * m for m in self.channel_mult)


def unet_weights(state: dict[str, torch.Tensor], ema: bool) -> dict[str, torch.Tensor]:
    """The UNet's tensors under their original names (without ``model.diffusion_model.``).

    ``ema``: the EMA copy the original samples with (``model_ema.*``, stored with the dots removed).
    """
    raw = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
    if not ema:
        return raw
    shadow = {k[len(EMA_PREFIX) :]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}
    if not shadow:
        raise ConversionError(
            "the checkpoint has no EMA weights (model_ema.*); convert with --no-ema to use the raw UNet weights"
        )
    out = {}
    for name in raw:
        flat = ("diffusion_model." + name).replace(".", "")
        if flat not in shadow:
            raise ConversionError(f"the checkpoint's EMA weights lack {name} (model_ema.{flat}); try --no-ema")
        out[name] = shadow[flat]
    return out


def detect(w: dict[str, torch.Tensor]) -> UNetShape:
    """Levels, blocks and channels from the tensor names and shapes."""
    try:
        conv_in = w["input_blocks.0.0.weight"]
        film = w["film_emb.weight"]
        conv_out = w["out.2.weight"]
    except KeyError as exc:
        raise ConversionError(
            f"UNet: expected AudioLDM's FiLM-conditioned UNet (model.diffusion_model.{exc.args[0]} is missing)"
        ) from None
    mc = int(conv_in.shape[0])
    downs = sorted(int(m.group(1)) for k in w if (m := re.match(r"input_blocks\.(\d+)\.0\.op\.weight$", k)))
    n_in = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("input_blocks."))
    if not downs:
        raise ConversionError("UNet: no downsampling block found in input_blocks")
    per_level = downs[0]  # blocks per level + the downsampler
    nrb = per_level - 1
    levels = (n_in - 1 + 1) // per_level  # the last level has no downsampler
    if 1 + levels * per_level - 1 != n_in or nrb < 1:
        raise ConversionError(f"UNet: {n_in} input blocks do not form levels of {per_level} blocks")
    mult, attn = [], []
    for level in range(levels):
        first = 1 + level * per_level
        ch = int(w[f"input_blocks.{first}.0.out_layers.3.weight"].shape[0])
        if ch % mc:
            raise ConversionError(f"UNet: level {level} has {ch} channels, not a multiple of {mc}")
        mult.append(ch // mc)
        attn.append(f"input_blocks.{first}.1.proj_in.weight" in w)
    return UNetShape(
        in_channels=int(conv_in.shape[1]),
        out_channels=int(conv_out.shape[0]),
        model_channels=mc,
        channel_mult=tuple(mult),
        num_res_blocks=nrb,
        attention_levels=tuple(attn),
        film_dim=int(film.shape[1]),
    )


def diffusers_config(shape: UNetShape, heads: tuple[int, ...]) -> dict[str, Any]:
    """The UNet2DConditionModel config (AudioLDM's FiLM route: projected class embedding, concatenated)."""
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in shape.attention_levels)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(shape.attention_levels))
    return {
        "sample_size": 128,
        "in_channels": shape.in_channels,
        "out_channels": shape.out_channels,
        "down_block_types": down,
        "up_block_types": up,
        "block_out_channels": shape.block_channels,
        "layers_per_block": shape.num_res_blocks,
        "norm_num_groups": 32,
        "attention_head_dim": heads,
        "cross_attention_dim": shape.block_channels,
        "class_embed_type": "simple_projection",
        "projection_class_embeddings_input_dim": shape.film_dim,
        "class_embeddings_concat": True,
    }


def heads_per_block(shape: UNetShape, head_channels: int | None) -> tuple[int, ...]:
    """Attention heads per level: channels / head channels (the original), or 8 everywhere (``None``)."""
    if head_channels is None:
        return (8,) * len(shape.block_channels)
    bad = [c for c in shape.block_channels if c % head_channels]
    if bad:
        raise ConversionError(f"UNet: channels {bad} do not divide into heads of {head_channels} channels")
    return tuple(c // head_channels for c in shape.block_channels)


def _rename(name: str, shape: UNetShape) -> str:
    per = shape.num_res_blocks + 1
    n_levels = len(shape.channel_mult)
    fixed = {
        "time_embed.0.": "time_embedding.linear_1.",
        "time_embed.2.": "time_embedding.linear_2.",
        "film_emb.": "class_embedding.",
        "input_blocks.0.0.": "conv_in.",
        "out.0.": "conv_norm_out.",
        "out.2.": "conv_out.",
    }
    for old, new in fixed.items():
        if name.startswith(old):
            return new + name[len(old) :]
    m = re.match(r"(input_blocks|output_blocks|middle_block)\.(?:(\d+)\.)?(\d+)\.(.*)$", name)
    if m is None:
        raise ConversionError(f"UNet: unexpected tensor model.diffusion_model.{name}")
    kind, block, sub, rest = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    if kind == "middle_block":
        # middle_block.N.rest matched with block=None, sub=N
        target = {0: "mid_block.resnets.0", 1: "mid_block.attentions.0", 2: "mid_block.resnets.1"}[sub]
        return f"{target}.{_resnet_part(rest) if sub != 1 else rest}"
    k = int(block)
    if kind == "input_blocks":
        level, j = (k - 1) // per, (k - 1) % per
        if j == shape.num_res_blocks:  # the downsampler: input_blocks.k.0.op
            return f"down_blocks.{level}.downsamplers.0.conv.{rest.removeprefix('op.')}"
        if sub == 0:
            return f"down_blocks.{level}.resnets.{j}.{_resnet_part(rest)}"
        return f"down_blocks.{level}.attentions.{j}.{rest}"
    level, j = k // per, k % per
    attends = shape.attention_levels[n_levels - 1 - level]
    if sub == 0:
        return f"up_blocks.{level}.resnets.{j}.{_resnet_part(rest)}"
    if sub == 1 and attends:
        return f"up_blocks.{level}.attentions.{j}.{rest}"
    return f"up_blocks.{level}.upsamplers.0.{rest}"


def _resnet_part(rest: str) -> str:
    for old, new in _RESNET.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    raise ConversionError(f"UNet: unexpected resnet tensor {rest}")


def convert(w: dict[str, torch.Tensor], shape: UNetShape) -> dict[str, torch.Tensor]:
    """Rename every tensor; the attention blocks already use diffusers' inner names."""
    return {_rename(k, shape): v for k, v in w.items()}
