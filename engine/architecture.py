"""Model architectures and writing model folders in the diffusers AudioLDM layout.

Presets, smallest first: ``tiny`` (seconds-fast tests, about 1.3 M parameters), ``micro`` (the project's
small model, about 4 M parameters, which scripts/train_bundled.sh trains into ``models/audioldm-daw-mini``:
that folder is named after the model, not after the preset), ``mini`` (about 15 M parameters; the
``train`` command's default) and ``s-full`` (the public AudioLDM-S-full shapes, for benchmarks with
random weights). Training assembles its trained parts with :func:`save_model_folder`, so every folder
the project writes has one layout, the public one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

MODEL_INDEX = {
    "_class_name": "AudioLDMPipeline",
    "_diffusers_version": "0.42.1",
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "ClapTextModelWithProjection"],
    "tokenizer": ["transformers", "RobertaTokenizerFast"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "vocoder": ["transformers", "SpeechT5HifiGan"],
}

# The paper's training schedule (as in the public AudioLDM checkpoints' scheduler_config.json): 1000 steps,
# linear betas on sqrt scale 0.0015..0.0195.
SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.0015,
    "beta_end": 0.0195,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "trained_betas": None,
}

SCHEDULER_FILE = Path("scheduler") / "scheduler_config.json"


def write_scheduler_config(folder: Path, config: dict[str, Any]) -> None:
    """``folder/scheduler/scheduler_config.json`` (a model folder, or an LDM run that trained under it)."""
    path = Path(folder) / SCHEDULER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")


def read_scheduler_config(folder: Path) -> dict[str, Any]:
    """The scheduler config an LDM run or model folder wrote; the paper's for runs from before it was
    written (they all trained epsilon prediction under the paper's schedule)."""
    path = Path(folder) / SCHEDULER_FILE
    return dict(json.loads(path.read_text())) if path.is_file() else dict(SCHEDULER_CONFIG)


MEL_BINS = 64
SAMPLE_RATE = 16000
HOP = 160

# Words for the tokenizer corpus of generated folders (real checkpoints ship RoBERTa's own BPE).
_CORPUS_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "and",
    "with",
    "in",
    "on",
    "is",
    "are",
    "plays",
    "sound",
    "sounds",
    "music",
    "drum",
    "drums",
    "kick",
    "snare",
    "hat",
    "hi-hat",
    "beat",
    "piano",
    "guitar",
    "bass",
    "strings",
    "flute",
    "organ",
    "brass",
    "synth",
    "pad",
    "lead",
    "pluck",
    "bell",
    "choir",
    "voice",
    "man",
    "woman",
    "speaks",
    "speech",
    "sings",
    "bird",
    "dog",
    "rain",
    "wind",
    "water",
    "noise",
    "white",
    "pink",
    "brown",
    "tone",
    "sine",
    "sweep",
    "rising",
    "falling",
    "siren",
    "beep",
    "impact",
    "knock",
    "drone",
    "low",
    "high",
    "middle",
    "slow",
    "fast",
    "soft",
    "loud",
    "steady",
    "melody",
    "chord",
    "chords",
    "pattern",
    "warm",
    "bright",
    "dark",
    "ambient",
    "loop",
    "groove",
    "rhythm",
    "techno",
    "house",
    "jazz",
    "ambient",
    "cinematic",
    "texture",
    "short",
    "long",
]


@dataclass
class Architecture:
    """Shapes of every component; ``None`` audio tower means no ``clap/`` in the folder."""

    unet_channels: tuple[int, ...] = (128, 256, 384, 640)
    unet_layers: int = 2
    unet_groups: int = 32
    unet_head_dim: int = 8
    latent_channels: int = 8
    vae_channels: tuple[int, ...] = (128, 256, 512)
    vae_layers: int = 2
    vae_groups: int = 32
    vae_scaling: float = 0.9392935633659363
    vae_mid_attention: bool = True
    text_hidden: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_ffn: int = 3072
    embed_dim: int = 512
    max_tokens: int = 77
    vocoder_channels: int = 1024
    vocoder_kernels: tuple[int, ...] = (16, 16, 8, 4, 4)
    vocoder_rates: tuple[int, ...] = (5, 4, 2, 2, 2)
    vocoder_res_kernels: tuple[int, ...] = (3, 7, 11)
    vocoder_res_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    clap_audio: dict[str, Any] | None = None
    clap_features: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Architecture] = {
    "s-full": Architecture(),
    "tiny": Architecture(
        unet_channels=(32, 64),
        unet_layers=1,
        unet_groups=8,
        unet_head_dim=8,
        latent_channels=4,
        vae_channels=(16, 32),
        vae_layers=1,
        vae_groups=8,
        vae_scaling=1.0,
        text_hidden=32,
        text_layers=2,
        text_heads=2,
        text_ffn=64,
        embed_dim=32,
        max_tokens=32,
        vocoder_channels=32,
        vocoder_kernels=(10, 8, 4, 4, 4),
        vocoder_res_kernels=(3,),
        vocoder_res_dilations=((1, 3),),
        clap_audio={
            "num_mel_bins": 16,
            "spec_size": 64,
            "window_size": 4,
            "patch_size": 4,
            "patch_stride": (4, 4),
            "patch_embeds_hidden_size": 16,
            "hidden_size": 32,
            "depths": (1, 1),
            "num_attention_heads": (2, 2),
            "num_hidden_layers": 2,
        },
        clap_features={"feature_size": 16, "hop_length": 1920, "max_length_s": 10, "fft_window_size": 2048},
    ),
    # The project's small model (models/audioldm-daw-mini, scripts/train_bundled.sh): small enough to commit and
    # to train on two CPU cores (its size: docs/benchmarks.md).
    "micro": Architecture(
        unet_channels=(32, 64, 96),
        unet_layers=1,
        unet_groups=16,
        unet_head_dim=8,
        latent_channels=8,
        vae_channels=(16, 32, 64),
        vae_layers=1,
        vae_groups=16,
        vae_scaling=1.0,
        vae_mid_attention=False,
        text_hidden=64,
        text_layers=2,
        text_heads=2,
        text_ffn=128,
        embed_dim=64,
        max_tokens=32,
        # Three upsampling stages (8 * 5 * 4 = hop 160) keep 16 channels at the 16 kHz output; five stages
        # from 128 channels left 4, and re-synthesised held-out mels were classified far worse with them
        # (the comparison: docs/benchmarks.md).
        vocoder_channels=128,
        vocoder_rates=(8, 5, 4),
        vocoder_kernels=(16, 10, 8),
        vocoder_res_kernels=(3, 7),
        vocoder_res_dilations=((1, 3, 5), (1, 3, 5)),
        clap_audio={
            "num_mel_bins": 32,
            "spec_size": 128,
            "window_size": 8,
            "patch_size": 4,
            "patch_stride": (4, 4),
            "patch_embeds_hidden_size": 32,
            "hidden_size": 64,
            "depths": (1, 1),
            "num_attention_heads": (2, 4),
            "num_hidden_layers": 2,
        },
        clap_features={"feature_size": 32, "hop_length": 960, "max_length_s": 10, "fft_window_size": 1024},
    ),
    # A step up from micro, about 15 M parameters (16 M with its clap/); not the model in
    # models/audioldm-daw-mini, whatever the folder's name suggests.
    "mini": Architecture(
        unet_channels=(64, 128, 192),
        unet_layers=1,
        unet_groups=32,
        unet_head_dim=8,
        latent_channels=8,
        vae_channels=(32, 64, 128),
        vae_layers=1,
        vae_groups=32,
        vae_scaling=1.0,
        text_hidden=128,
        text_layers=2,
        text_heads=4,
        text_ffn=256,
        embed_dim=128,
        max_tokens=32,
        vocoder_channels=128,
        vocoder_kernels=(10, 8, 4, 4, 4),
        vocoder_res_kernels=(3, 7),
        vocoder_res_dilations=((1, 3), (1, 3)),
        clap_audio={
            "num_mel_bins": 64,
            "spec_size": 256,
            "window_size": 8,
            "patch_size": 4,
            "patch_stride": (4, 4),
            "patch_embeds_hidden_size": 32,
            "hidden_size": 128,
            "depths": (1, 1, 1),
            "num_attention_heads": (2, 4, 4),
            "num_hidden_layers": 3,
        },
        clap_features={"feature_size": 64, "hop_length": 480, "max_length_s": 10, "fft_window_size": 1024},
    ),
}


def train_tokenizer(out_dir: Path, words: Iterable[str] = (), max_tokens: int = 77, vocab_size: int = 600) -> Any:
    """A small byte-level BPE (RoBERTa special tokens) trained locally, saved as RobertaTokenizerFast.

    Real checkpoints ship RoBERTa's vocabulary; generated folders need a tokenizer that exists without
    a download, and byte-level BPE encodes any text, so unseen words still tokenize.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    corpus = list(_CORPUS_WORDS) + [w for w in words if w]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [" ".join(corpus)] * 4 + corpus,
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    raw = out_dir / "_bpe"
    raw.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(raw))
    tok = RobertaTokenizerFast.from_pretrained(str(raw), model_max_length=max_tokens)
    tok.save_pretrained(str(out_dir))
    for f in raw.iterdir():
        f.unlink()
    raw.rmdir()
    return tok


def text_config(arch: Architecture, vocab_size: int) -> Any:
    from transformers import ClapTextConfig

    return ClapTextConfig(
        vocab_size=vocab_size,
        hidden_size=arch.text_hidden,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=arch.text_heads,
        intermediate_size=arch.text_ffn,
        max_position_embeddings=arch.max_tokens + 2,
        projection_dim=arch.embed_dim,
    )


def build_components(arch: Architecture, vocab_size: int, seed: int = 0) -> dict[str, Any]:
    """Randomly initialised components with ``arch``'s shapes (deterministic for a seed)."""
    torch.manual_seed(seed)
    unet = build_unet(arch)
    vae = build_vae(arch)
    text_encoder = build_text_encoder(arch, vocab_size)
    vocoder = build_vocoder(arch)
    parts: dict[str, Any] = {"unet": unet, "vae": vae, "text_encoder": text_encoder, "vocoder": vocoder}
    if arch.clap_audio is not None:
        clap = build_clap(arch, vocab_size)
        # One CLAP text tower: the conditioning encoder and the full model share weights, as in AudioLDM.
        clap.text_model.load_state_dict(text_encoder.text_model.state_dict())
        clap.text_projection.load_state_dict(text_encoder.text_projection.state_dict())
        parts["clap"] = clap
    return parts


# One builder per component, so training can build only the part a stage trains; build_components calls
# them in a fixed order after one seed, which keeps every random folder identical for a seed.


def build_unet(arch: Architecture) -> Any:
    """The latent diffusion UNet: CLAP embedding as a projected class embedding concatenated to the time
    embedding (AudioLDM's FiLM route); its attention blocks run without cross-attention inputs."""
    from diffusers import UNet2DConditionModel

    n = len(arch.unet_channels)
    return UNet2DConditionModel(
        sample_size=128,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
        block_out_channels=arch.unet_channels,
        layers_per_block=arch.unet_layers,
        norm_num_groups=arch.unet_groups,
        attention_head_dim=arch.unet_head_dim,
        cross_attention_dim=arch.unet_channels,
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=arch.embed_dim,
        class_embeddings_concat=True,
    )


def build_vae(arch: Architecture) -> Any:
    """The mel-spectrogram VAE: one input channel, (frames, mel bins) as the image."""
    from diffusers import AutoencoderKL

    m = len(arch.vae_channels)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        latent_channels=arch.latent_channels,
        down_block_types=("DownEncoderBlock2D",) * m,
        up_block_types=("UpDecoderBlock2D",) * m,
        block_out_channels=arch.vae_channels,
        layers_per_block=arch.vae_layers,
        norm_num_groups=arch.vae_groups,
        sample_size=256,
        scaling_factor=arch.vae_scaling,
    )


def build_text_encoder(arch: Architecture, vocab_size: int) -> Any:
    """The CLAP text tower with its projection (the conditioning encoder at sampling time)."""
    from transformers import ClapTextModelWithProjection

    return ClapTextModelWithProjection(text_config(arch, vocab_size))


def build_vocoder(arch: Architecture) -> Any:
    """HiFi-GAN from 64 mel bins to 16 kHz audio (upsampling product = hop 160)."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=MEL_BINS,
            sampling_rate=SAMPLE_RATE,
            upsample_initial_channel=arch.vocoder_channels,
            upsample_rates=list(arch.vocoder_rates),
            upsample_kernel_sizes=list(arch.vocoder_kernels),
            resblock_kernel_sizes=list(arch.vocoder_res_kernels),
            resblock_dilation_sizes=[list(d) for d in arch.vocoder_res_dilations],
            normalize_before=False,
        )
    )
    # HiFi-GAN's own init (normal, std 0.01) makes an untrained vocoder output ~1e-10; torch's default
    # conv init keeps random folders audible (tests score and listen to them) and trains just as well.
    for mod in vocoder.modules():
        if isinstance(mod, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            mod.reset_parameters()
            if mod.bias is not None:
                torch.nn.init.zeros_(mod.bias)  # no DC offset: the output follows the mel input
    return vocoder


def build_clap(arch: Architecture, vocab_size: int) -> Any:
    """A full CLAP model (text + HTSAT audio tower) sharing ``embed_dim`` with the conditioning space."""
    from transformers import ClapAudioConfig, ClapConfig, ClapModel

    if arch.clap_audio is None:
        raise ValueError("this architecture has no CLAP audio tower (clap_audio is None)")
    tcfg = text_config(arch, vocab_size)
    acfg = ClapAudioConfig(projection_dim=arch.embed_dim, **arch.clap_audio)
    return ClapModel(ClapConfig(text_config=tcfg.to_dict(), audio_config=acfg.to_dict(), projection_dim=arch.embed_dim))


def clap_feature_extractor(arch: Architecture) -> Any:
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad", **arch.clap_features)


def save_model_folder(
    out: Path,
    parts: dict[str, Any],
    tokenizer_dir: Path | None = None,
    tokenizer: Any | None = None,
    feature_extractor: Any | None = None,
    extra_index: dict[str, Any] | None = None,
    scheduler_config: dict[str, Any] | None = None,
) -> Path:
    """Write components into ``out`` in the diffusers AudioLDM layout (``clap/`` when present).

    ``scheduler_config``: the one the UNet was trained under (its ``prediction_type`` above all); default
    the paper's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = dict(MODEL_INDEX)
    index.update(extra_index or {})
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    for name in ("unet", "vae", "text_encoder", "vocoder"):
        parts[name].save_pretrained(out / name)
    write_scheduler_config(out, scheduler_config or SCHEDULER_CONFIG)
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    tokenizer.save_pretrained(str(out / "tokenizer"))
    if parts.get("clap") is not None:
        parts["clap"].save_pretrained(out / "clap")
        if feature_extractor is not None:
            feature_extractor.save_pretrained(str(out / "clap"))
    return out


def build_random_folder(out: Path, preset: str = "tiny", seed: int = 0, with_clap: bool = True, **changes: Any) -> Path:
    """A complete model folder with random weights: tests (``tiny``) and benchmarks (``s-full``).
    ``changes`` replace fields of the preset's architecture (e.g. ``unet_channels`` for a deeper UNet)."""
    arch = replace(PRESETS[preset], **changes)
    out = Path(out)
    tok = train_tokenizer(out / "tokenizer", max_tokens=arch.max_tokens)
    vocab = len(tok) if preset != "s-full" else 50265
    parts = build_components(arch, vocab, seed)
    if not with_clap:
        parts.pop("clap", None)
    fe = clap_feature_extractor(arch) if "clap" in parts else None
    return save_model_folder(out, parts, tokenizer=tok, feature_extractor=fe)
