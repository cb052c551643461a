"""Original AudioLDM checkpoint (``audioldm-s-full.ckpt`` ...) -> model folder in the diffusers layout + ``clap/``.

Reading: the file is a torch pickle holding a Lightning-style dict whose ``state_dict`` is the whole latent
diffusion model; it is opened with ``weights_only`` (no code runs) unless the caller trusts it. Sizes are
read from the weights: the UNet's model channels (S 128, M 192, L 256; the L UNet uses 64-channel heads,
the others 32) and the HTSAT width (96 tiny, 128 base). Writing: everything goes into a temporary
folder next to the destination, which is renamed only when every part converted and loaded back, so a
failed conversion leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audioldm_daw.workbench.convert import clap as clap_part
from audioldm_daw.workbench.convert import unet as unet_part
from audioldm_daw.workbench.convert import vae as vae_part
from audioldm_daw.workbench.convert import vocoder as vocoder_part
from audioldm_daw.workbench.convert.errors import ConversionError

log = logging.getLogger(__name__)

#: Public sizes by UNet model channels: (name, channels per attention head in the original).
UNET_SIZES: dict[int, tuple[str, int]] = {128: ("S", 32), 192: ("M", 32), 256: ("L", 64)}

TOKENIZER_HELP = (
    "pass --tokenizer with RoBERTa's tokenizer: the hub id 'roberta-base' (downloaded once, then cached) or a "
    "local folder holding its vocab.json and merges.txt (or tokenizer.json)"
)


@dataclass
class Report:
    """What a conversion found and wrote (printed by the command, kept in the folder's ``conversion.json``)."""

    source: str
    size: str
    unet_channels: int
    channel_mult: list[int]
    attention_heads: list[int]
    htsat: str
    ema: bool
    scale_factor: float
    scheduler: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def load_state_dict(path: Path, unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The checkpoint's ``state_dict``; clear errors for a missing, truncated or foreign file."""
    if not path.is_file():
        raise ConversionError(f"checkpoint {path}: no such file (expected an original AudioLDM .ckpt)")
    try:
        obj = _torch_load(path, weights_only=not unsafe_pickle)
    except Exception as exc:  # torch raises RuntimeError/EOFError/UnpicklingError/... depending on the damage
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ConversionError(
                f"checkpoint {path}: it pickles Python objects besides tensors ({text[:200]}); if you trust the "
                "file, convert with --unsafe-pickle"
            ) from exc
        raise ConversionError(
            f"checkpoint {path}: not a readable torch checkpoint, or truncated ({text[:200]}); expected an original "
            "AudioLDM .ckpt such as audioldm-s-full.ckpt"
        ) from exc
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not any(str(k).startswith(unet_part.PREFIX) for k in state):
        raise ConversionError(
            f"checkpoint {path}: not an AudioLDM checkpoint (expected a state_dict with model.diffusion_model.*, "
            "first_stage_model.* and cond_stage_model.* tensors)"
        )
    missing = [
        p for p in (vae_part.PREFIX, vocoder_part.PREFIX, clap_part.PREFIX) if not any(k.startswith(p) for k in state)
    ]
    if missing:
        raise ConversionError(
            f"checkpoint {path}: incomplete AudioLDM checkpoint, no {', '.join(p + '*' for p in missing)}"
        )
    return state


def _torch_load(path: Path, weights_only: bool) -> Any:
    """Memory-mapped where the file allows it (a 2-3 GB checkpoint need not be read twice); files from
    before torch's zip format cannot be mapped and are read whole."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=weights_only)


def scheduler_config(state: dict[str, torch.Tensor], notes: list[str]) -> dict[str, Any]:
    """DDIM config from the checkpoint's own betas: AudioLDM's "linear" schedule is linear in sqrt(beta)
    (diffusers' ``scaled_linear``), so its start and end are the first and last beta; any other schedule
    is written out as ``trained_betas``."""
    from audioldm_daw.engine.architecture import SCHEDULER_CONFIG

    cfg = dict(SCHEDULER_CONFIG)
    betas = state.get("betas")
    if betas is None:
        notes.append("no betas in the checkpoint: the paper's schedule (0.0015..0.0195, 1000 steps) is written")
        return cfg
    betas = betas.to(torch.float64)
    n = int(betas.numel())
    # float32 buffers: 7 significant digits give back the config's own numbers (0.0015, not 0.00150000001)
    start, end = float(f"{float(betas[0]):.7g}"), float(f"{float(betas[-1]):.7g}")
    rebuilt = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
    cfg.update(num_train_timesteps=n, beta_start=start, beta_end=end)
    if float(((rebuilt - betas).abs() / betas).max()) > 1e-5:  # float32 storage is good to about 1e-7
        cfg.update(beta_schedule="linear", trained_betas=[float(b) for b in betas])
        notes.append("the checkpoint's betas are not a sqrt-linear schedule: written as trained_betas")
    return cfg


def load_tokenizer(tokenizer: str | os.PathLike[str] | None, vocab_size: int) -> Any:
    """RoBERTa's tokenizer from a folder or hub id; its vocabulary must match the text tower's."""
    if tokenizer is None:
        raise ConversionError(f"no tokenizer: the checkpoint does not contain one; {TOKENIZER_HELP}")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(tokenizer))
    except Exception as exc:
        raise ConversionError(
            f"tokenizer {str(tokenizer)!r} could not be loaded ({type(exc).__name__}; offline without a cached copy?); "
            f"{TOKENIZER_HELP}"
        ) from exc
    if len(tok) != vocab_size:
        raise ConversionError(
            f"tokenizer {str(tokenizer)!r} has {len(tok)} tokens, the checkpoint's text tower {vocab_size}; "
            f"{TOKENIZER_HELP}"
        )
    return tok


def convert_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    tokenizer: str | os.PathLike[str] | None,
    *,
    ema: bool = True,
    hub_heads: bool = False,
    head_channels: int | None = None,
    unsafe_pickle: bool = False,
) -> Report:
    """Convert ``checkpoint`` into the model folder ``out`` (which must not exist yet).

    ``ema``: the EMA UNet weights the original samples with (False: the raw training weights).
    ``hub_heads``: 8 attention heads in every block, as the hub's diffusers conversion has them, instead of
    the original's channels / 32 (64 for L). ``head_channels``: channels per head for a UNet of none of
    the public sizes (otherwise such a checkpoint is refused).
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        ClapTextModelWithProjection,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    from audioldm_daw.engine.architecture import MODEL_INDEX, write_scheduler_config

    src, dest = Path(checkpoint), Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConversionError(f"--out {dest}: already exists and is not empty (expected a new folder)")
    state = load_state_dict(src, unsafe_pickle)
    notes: list[str] = []

    # -- what the weights say -------------------------------------------------------------------
    unet_w = unet_part.unet_weights(state, ema)
    shape = unet_part.detect(unet_w)
    size, original_head_channels = UNET_SIZES.get(shape.model_channels, ("custom", head_channels))
    if original_head_channels is None and not hub_heads:
        raise ConversionError(
            f"UNet: {shape.model_channels} model channels is none of AudioLDM's sizes "
            f"(S 128, M 192, L 256); pass --head-channels N to convert it anyway"
        )
    if head_channels is not None:
        original_head_channels = head_channels
    heads = unet_part.heads_per_block(shape, None if hub_heads else original_head_channels)
    clap_w = clap_part.clap_weights(state)
    text_cfg, audio_cfg, proj_dim, htsat = clap_part.configs(clap_w)
    if shape.film_dim != proj_dim:
        raise ConversionError(f"UNet FiLM input {shape.film_dim} != CLAP embedding {proj_dim}")
    tok = load_tokenizer(tokenizer, text_cfg["vocab_size"])
    scale = state.get("scale_factor")
    if scale is None:
        notes.append("no scale_factor in the checkpoint: 1.0 written")
    scale_factor = 1.0 if scale is None else float(scale)
    sched = scheduler_config(state, notes)

    # -- build, load strictly, save into a temporary folder ----------------------------------------
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".converting", dir=dest.parent))
    try:
        unet = UNet2DConditionModel(**unet_part.diffusers_config(shape, heads))
        _load(unet, unet_part.convert(unet_w, shape), "UNet")
        vae_w = vae_part.vae_weights(state)
        vae_cfg = vae_part.diffusers_config(vae_w, scale_factor)
        vae = AutoencoderKL(**vae_cfg)
        _load(vae, vae_part.convert(vae_w, len(vae_cfg["block_out_channels"])), "VAE")
        voc_cfg, voc_state = vocoder_part.convert(state)
        vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**voc_cfg))
        _load(vocoder, voc_state, "vocoder")

        clap_state = clap_part.convert(clap_w)
        tcfg = ClapTextConfig(**text_cfg)
        acfg = ClapAudioConfig(**audio_cfg)
        clap = ClapModel(ClapConfig(text_config=tcfg.to_dict(), audio_config=acfg.to_dict(), projection_dim=proj_dim))
        _load(clap, clap_state, "CLAP")
        text_encoder = ClapTextModelWithProjection(tcfg)
        _load(text_encoder, clap_part.text_part(clap_state), "CLAP text tower")
        fe = ClapFeatureExtractor(**clap_part.FRONT_END)
        clap_part.check_front_end(clap_w, fe)

        (tmp / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")
        parts: tuple[tuple[str, Any], ...] = (
            ("unet", unet),
            ("vae", vae),
            ("text_encoder", text_encoder),
            ("vocoder", vocoder),
        )  # diffusers' and transformers' models share save_pretrained but no base class
        for name, model in parts:
            model.save_pretrained(tmp / name)
        write_scheduler_config(tmp, sched)
        tok.save_pretrained(str(tmp / "tokenizer"))
        clap.save_pretrained(tmp / "clap")
        fe.save_pretrained(str(tmp / "clap"))
        tok.save_pretrained(str(tmp / "clap"))
        report = Report(
            source=src.name,
            size=f"{size} (UNet {shape.model_channels} channels)" if size != "custom" else "custom",
            unet_channels=shape.model_channels,
            channel_mult=list(shape.channel_mult),
            attention_heads=list(heads),
            htsat=htsat,
            ema=ema,
            scale_factor=scale_factor,
            scheduler={k: sched[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")},
            notes=notes,
        )
        (tmp / "conversion.json").write_text(json.dumps(report.__dict__, indent=2) + "\n")
        if dest.is_dir():
            dest.rmdir()  # the empty folder the caller may have made
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _load(model: Any, state: dict[str, torch.Tensor], what: str) -> None:
    """Strict load: every tensor of the target filled, nothing of the checkpoint left over (buffers that
    the target rebuilds from its config excepted)."""
    result = model.load_state_dict(state, strict=False)
    derived = ("position_ids", "token_type_ids", "relative_position_index", "attn_mask", "num_batches_tracked")
    missing = [k for k in result.missing_keys if not k.endswith(derived)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise ConversionError(
            f"{what}: the converted weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]}"
            f"{', ...' if len(missing) > 5 or len(unexpected) > 5 else ''})"
        )
