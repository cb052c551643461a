"""AudioLDM's CLAP (``cond_stage_model.model``: HTSAT audio tower, RoBERTa text tower, projection MLPs) ->
a transformers ``ClapModel`` with both towers, and its text half as ``ClapTextModelWithProjection``.

The two hold the same text tensors: the conditioning encoder (``text_encoder/``) and the full model
(``clap/``) are one network in AudioLDM. The original's audio front end (torchlibrosa STFT + Slaney mel
filters in the checkpoint) becomes a ``ClapFeatureExtractor`` with the same settings; its filter bank is
checked against the checkpoint's.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from audioldm_daw.workbench.convert.errors import ConversionError

PREFIX = "cond_stage_model.model."

#: HTSAT sizes by patch-embedding width: the original's ``HTSAT-tiny`` (S, L) and ``HTSAT-base`` (M).
HTSAT_SIZES = {96: "HTSAT-tiny", 128: "HTSAT-base"}

#: The original CLAP's audio front end (``model_configs/HTSAT-*.json``: the same for both sizes).
FRONT_END: dict[str, Any] = {
    "sampling_rate": 48000,
    "feature_size": 64,
    "fft_window_size": 1024,
    "hop_length": 480,
    "max_length_s": 10,
    "frequency_min": 50,
    "frequency_max": 14000,
    "truncation": "rand_trunc",
    "padding": "repeatpad",
}

# Derived buffers: rebuilt from the config by transformers, or the front end the feature extractor replaces.
_DROP = re.compile(
    r"(position_ids|token_type_ids|relative_position_index|attn_mask|spectrogram_extractor\..*|"
    r"logmel_extractor\..*|num_batches_tracked)$"
)
# Training-only heads: the contrastive MLPs after the projections and HTSAT's AudioSet classifier.
_UNUSED = ("text_transform.", "audio_transform.", "audio_branch.tscam_conv.", "audio_branch.head.")

_AUDIO_RENAMES = (
    ("attn", "attention.self"),
    ("self.proj", "output.dense"),
    ("attention.self_mask", "attn_mask"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
    ("norm1", "layernorm_before"),
    ("norm2", "layernorm_after"),
    ("bn0", "batch_norm"),
)


def clap_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    w = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
    if "text_branch.embeddings.word_embeddings.weight" not in w or "audio_branch.patch_embed.proj.weight" not in w:
        raise ConversionError(
            "CLAP: expected cond_stage_model.model.text_branch (RoBERTa) and .audio_branch (HTSAT): the checkpoint's "
            "condition model is not AudioLDM's CLAP"
        )
    return w


def configs(w: dict[str, torch.Tensor]) -> tuple[dict[str, Any], dict[str, Any], int, str]:
    """(text config, audio config, projection dim, HTSAT size name), all read from the tensors."""
    width = int(w["audio_branch.patch_embed.proj.weight"].shape[0])
    if width not in HTSAT_SIZES:
        raise ConversionError(
            f"CLAP: HTSAT patch width {width} is neither HTSAT-tiny (96, the S and L checkpoints) nor HTSAT-base "
            "(128, the M checkpoints)"
        )
    depths, heads, window = [], [], None
    for layer in range(1 + max(int(k.split(".")[2]) for k in w if k.startswith("audio_branch.layers."))):
        blocks = {int(k.split(".")[4]) for k in w if k.startswith(f"audio_branch.layers.{layer}.blocks.")}
        table = w[f"audio_branch.layers.{layer}.blocks.0.attn.relative_position_bias_table"]
        depths.append(len(blocks))
        heads.append(int(table.shape[1]))
        window = round((table.shape[0] ** 0.5 + 1) / 2)
    patch = w["audio_branch.patch_embed.proj.weight"]
    words, hidden = w["text_branch.embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(k.split(".")[3]) for k in w if k.startswith("text_branch.encoder.layer."))
    ffn = int(w["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0])
    proj = int(w["text_projection.2.weight"].shape[0])
    text = {
        "vocab_size": int(words),
        "hidden_size": int(hidden),
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, int(hidden) // 64),  # RoBERTa's 64-channel heads
        "intermediate_size": ffn,
        "max_position_embeddings": int(w["text_branch.embeddings.position_embeddings.weight"].shape[0]),
        "type_vocab_size": int(w["text_branch.embeddings.token_type_embeddings.weight"].shape[0]),
        "layer_norm_eps": 1e-5,  # roberta-base's (transformers' CLAP default of 1e-12 is not what AudioLDM ran)
        "projection_dim": proj,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    audio = {
        "patch_embeds_hidden_size": width,
        "depths": depths,
        "num_attention_heads": heads,
        "window_size": window,
        "hidden_size": int(w["audio_projection.0.weight"].shape[1]),
        "patch_size": int(patch.shape[-1]),
        "patch_stride": [int(patch.shape[-2]), int(patch.shape[-1])],
        "num_mel_bins": int(w["audio_branch.bn0.weight"].shape[0]),
        "spec_size": 256,
        "projection_dim": proj,
        "num_hidden_layers": len(depths),
        "enable_fusion": False,
    }
    return text, audio, proj, HTSAT_SIZES[width]


def convert(w: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ClapModel's state dict (text tower, audio tower, both projections, the logit scales)."""
    out: dict[str, torch.Tensor] = {}
    for name, value in w.items():
        if _DROP.search(name) or name.startswith(_UNUSED):
            continue
        if name.startswith("text_branch."):
            out["text_model." + name[len("text_branch.") :]] = value
        elif name.startswith(("text_projection.", "audio_projection.")):
            head, index, rest = name.split(".", 2)
            if index not in ("0", "2"):
                raise ConversionError(f"CLAP: unexpected projection tensor {name}")
            out[f"{head}.linear{1 if index == '0' else 2}.{rest}"] = value
        elif name.startswith("audio_branch."):
            new = name
            for old, repl in _AUDIO_RENAMES:
                new = new.replace(old, repl)
            new = "audio_model.audio_encoder." + new[len("audio_branch.") :]
            if ".qkv." in new:
                q, k, v = value.chunk(3, dim=0)
                for part, tensor in (("query", q), ("key", k), ("value", v)):
                    out[new.replace(".qkv.", f".{part}.")] = tensor
            else:
                out[new] = value
        elif name in ("logit_scale_a", "logit_scale_t"):
            out[name] = value
        else:
            raise ConversionError(f"CLAP: unexpected tensor cond_stage_model.model.{name}")
    return out


def text_part(clap_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ClapTextModelWithProjection subset: the same tensor objects as in the full model."""
    return {k: v for k, v in clap_state.items() if k.startswith(("text_model.", "text_projection."))}


def check_front_end(w: dict[str, torch.Tensor], feature_extractor: Any) -> None:
    """The checkpoint's own mel filters (torchlibrosa's Slaney bank) must be the feature extractor's."""
    mel = w.get("audio_branch.logmel_extractor.melW")
    if mel is None:
        return
    ours = torch.as_tensor(feature_extractor.mel_filters_slaney, dtype=torch.float64)
    theirs = mel.to(torch.float64)
    if ours.shape != theirs.shape or float((ours - theirs).abs().max()) > 1e-6 * float(theirs.abs().max()):
        raise ConversionError(
            f"CLAP: the checkpoint's mel filter bank {tuple(theirs.shape)} is not the 48 kHz, 64-bin, 50-14000 Hz "
            "Slaney bank of AudioLDM's CLAP front end"
        )
