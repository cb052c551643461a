"""The mel VAE: the original's ``AutoencoderKL`` (LDM Encoder/Decoder) -> diffusers' ``AutoencoderKL``.

Same layers under other names, except the mid-block attention, whose 1x1 convolutions become linear
layers. The vocoder lives under ``first_stage_model.vocoder`` too; :mod:`.vocoder` takes it.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from audioldm_daw.workbench.convert.errors import ConversionError

PREFIX = "first_stage_model."

_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_RESNET = {"nin_shortcut": "conv_shortcut"}


def vae_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VAE's tensors (without ``first_stage_model.``; the vocoder left out)."""
    return {
        k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX) and not k.startswith(PREFIX + "vocoder.")
    }


def diffusers_config(w: dict[str, torch.Tensor], scaling_factor: float) -> dict[str, Any]:
    """The AutoencoderKL config read from the weights: channels per level, blocks, latent channels."""
    try:
        ch = int(w["encoder.conv_in.weight"].shape[0])
        in_ch = int(w["encoder.conv_in.weight"].shape[1])
        out_ch = int(w["decoder.conv_out.weight"].shape[0])
        latent = int(w["post_quant_conv.weight"].shape[0])
    except KeyError as exc:
        raise ConversionError(f"VAE: expected first_stage_model.{exc.args[0]} (AudioLDM's mel VAE)") from None
    levels = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.down."))
    blocks = 1 + max(int(k.split(".")[4]) for k in w if k.startswith("encoder.down.0.block."))
    channels = []
    for level in range(levels):
        last = w[f"encoder.down.{level}.block.{blocks - 1}.conv2.weight"]
        channels.append(int(last.shape[0]))
    if any(re.match(r"(en|de)coder\.(down|up)\.\d+\.attn\.", k) for k in w):
        raise ConversionError("VAE: attention inside the down/up levels is not AudioLDM's VAE (only its mid block)")
    if channels[0] != ch:
        raise ConversionError(f"VAE: first level has {channels[0]} channels, conv_in {ch}")
    return {
        "in_channels": in_ch,
        "out_channels": out_ch,
        "latent_channels": latent,
        "down_block_types": ("DownEncoderBlock2D",) * levels,
        "up_block_types": ("UpDecoderBlock2D",) * levels,
        "block_out_channels": tuple(channels),
        "layers_per_block": blocks,
        "norm_num_groups": 32,
        "sample_size": 256,
        "scaling_factor": float(scaling_factor),
    }


def convert(w: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """Rename every tensor (decoder levels run the other way in diffusers) and flatten attention convs."""
    out = {}
    for name, value in w.items():
        new = _rename(name, levels)
        if ".attentions.0." in new and value.ndim == 4:
            value = value[:, :, 0, 0]
        out[new] = value
    return out


def _rename(name: str, levels: int) -> str:
    if name.startswith(("quant_conv.", "post_quant_conv.")):
        return name
    side, rest = name.split(".", 1)
    if rest.startswith("norm_out."):
        return f"{side}.conv_norm_out.{rest[len('norm_out.') :]}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return name
    m = re.match(r"mid\.(block_1|block_2|attn_1)\.(\w+)\.(weight|bias)$", rest)
    if m:
        part, layer, kind = m.groups()
        if part == "attn_1":
            return f"{side}.mid_block.attentions.0.{_ATTN[layer]}.{kind}"
        return f"{side}.mid_block.resnets.{int(part[-1]) - 1}.{_RESNET.get(layer, layer)}.{kind}"
    m = re.match(r"(down|up)\.(\d+)\.(block\.(\d+)\.(\w+)|downsample\.conv|upsample\.conv)\.(weight|bias)$", rest)
    if m is None:
        raise ConversionError(f"VAE: unexpected tensor first_stage_model.{name}")
    direction, level, what, block, layer, kind = m.groups()
    lvl = int(level) if direction == "down" else levels - 1 - int(level)
    group = "down_blocks" if direction == "down" else "up_blocks"
    if what.endswith("sample.conv"):
        sampler = "downsamplers" if direction == "down" else "upsamplers"
        return f"{side}.{group}.{lvl}.{sampler}.0.conv.{kind}"
    return f"{side}.{group}.{lvl}.resnets.{block}.{_RESNET.get(layer, layer)}.{kind}"
