"""The original AudioLDM code (``audioldm`` 0.1.1 on PyPI), installed at test time and made to run offline.

Why it is not a dependency: its licence is non-commercial, so it is never vendored or committed. The tests
that prove the converter install it with ``pip --no-deps --target`` into a cache folder of its own (the
user's cache, outside the venv), with the few packages its model code needs that the venv lacks, and put
that folder on ``sys.path`` only inside the test process.

What has to change for it to run here, all done by patching at import time (no file on disk is edited):

- it downloads ``roberta-base`` (tokenizer and text model) when its CLAP is built: both are replaced by a
  tokenizer trained on the spot and a small random RoBERTa (hidden size 768, which its projection expects);
- its DDIM sampler moves every schedule buffer to ``cuda``: buffers stay where they are;
- torchlibrosa 0.0.9 calls ``librosa.util.pad_center`` positionally, which librosa 0.10+ refuses;
- modules that only its training and image code import (torchvision, pandas, scikit-learn, ftfy, progressbar)
  are stand-ins that fail if anything actually calls them;
- ``audioldm/__init__.py`` (which pulls in the whole text-to-audio pipeline and gradio-era helpers) is
  skipped: the package is registered by path and only the model modules are imported.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import torch

#: Exact versions, so every run builds the same original model (librosa and numba: the newest that run on
#: this venv's numpy 2; torchlibrosa and the rest: what audioldm 0.1.1 names or librosa imports).
PACKAGES = (
    "audioldm==0.1.1",
    "torchlibrosa==0.0.9",
    "einops==0.8.2",
    "librosa==0.11.0",
    "numba==0.68.1",
    "llvmlite==0.50.0",
    "lazy_loader==0.6",
    "decorator==5.3.1",
    "joblib==1.6.0",
    "cloudpickle==3.1.3",
    "msgpack==1.2.4",
    "pooch==1.9.0",
    "soxr==1.1.0",
    "audioread==3.1.0",
)

# pip's words for "could not reach the index": only then does a test skip instead of fail.
_UNREACHABLE = (
    "Could not fetch URL",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeout",
    "ReadTimeoutError",
    "Max retries exceeded",
    "No matching distribution found for audioldm",
)


class Unreachable(RuntimeError):
    """PyPI could not be reached, so the original code cannot be installed (the test skips)."""


def install_dir() -> Path:
    """Where the original code lives: the user's cache, keyed by Python version and the package pins."""
    from platformdirs import user_cache_dir

    key = hashlib.sha256(repr((sys.version_info[:2], PACKAGES)).encode()).hexdigest()[:12]
    return Path(os.environ.get("AUDIOLDM_DAW_ORIGINAL_DIR") or user_cache_dir("audioldm-daw")) / f"original-{key}"


def install(target: Path | None = None) -> Path:
    """Install :data:`PACKAGES` with ``pip --no-deps --target`` once; later calls reuse the folder."""
    target = target or install_dir()
    if (target / ".complete").is_file():
        return target
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(tmp)]
    proc = subprocess.run([*cmd, *PACKAGES], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        if any(word in text for word in _UNREACHABLE):
            raise Unreachable(f"PyPI unreachable, cannot install the original audioldm: {text.strip()[-300:]}")
        raise RuntimeError(f"pip install of the original audioldm failed:\n{text[-3000:]}")
    (tmp / ".complete").write_text("\n".join(PACKAGES) + "\n")
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: use its copy
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


class _Unavailable:
    """What a stand-in module hands out: importable, fails loudly if the original code actually uses it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._name} is a stand-in in tests/original_audioldm.py; the test path needs it")

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        return _Unavailable(f"{self._name}.{item}")


def _stand_in(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # type: ignore[attr-defined]

    def attribute(item: str, _n: str = name) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        return _Unavailable(f"{_n}.{item}")

    mod.__getattr__ = attribute  # type: ignore[method-assign]
    return mod


_STAND_INS = (
    "torchvision",
    "torchvision.transforms",
    "torchvision.datasets",
    "torchvision.ops",
    "torchvision.ops.misc",
    "sklearn",
    "sklearn.metrics",
    "pandas",
    "ftfy",
    "progressbar",
)


def import_original(target: Path, tokenizer_dir: Path, text_layers: int = 2, text_ffn: int = 256) -> types.ModuleType:
    """Import the original's model modules from ``target`` with the offline patches; returns ``audioldm``.

    ``tokenizer_dir``: the RoBERTa-style tokenizer that stands in for ``roberta-base``; the random text
    model gets its vocabulary size (RoBERTa's own layout otherwise: hidden 768, 514 positions).
    """
    # transformers first, before any stand-in exists: it probes for torchvision & co. when it loads a model.
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    RobertaModel.__name__  # noqa: B018 (resolves the lazy import now)
    if str(target) not in sys.path:
        sys.path.append(str(target))  # after the venv: its own torch/numpy/transformers win
    if "audioldm" not in sys.modules:
        pkg = types.ModuleType("audioldm")
        pkg.__path__ = [str(target / "audioldm")]  # type: ignore[attr-defined]
        sys.modules["audioldm"] = pkg

    import librosa.util

    if not getattr(librosa.util.pad_center, "_positional", False):
        keyword_only = librosa.util.pad_center

        def pad_center(data: Any, size: int | None = None, **kwargs: Any) -> Any:
            if size is not None:
                kwargs["size"] = size
            return keyword_only(data, **kwargs)

        pad_center._positional = True  # type: ignore[attr-defined]
        librosa.util.pad_center = pad_center

    class LocalTokenizer:
        """``roberta-base``'s tokenizer, as the original asks for it (512 tokens): the local BPE instead."""

        @staticmethod
        def from_pretrained(name: str, *args: Any, **kwargs: Any) -> Any:
            return RobertaTokenizerFast.from_pretrained(str(tokenizer_dir), model_max_length=512)

    class LocalRoberta:
        """``roberta-base`` itself: a random RoBERTa with the local vocabulary and fewer, narrower layers."""

        @staticmethod
        def from_pretrained(name: str, *args: Any, **kwargs: Any) -> Any:
            tok = RobertaTokenizerFast.from_pretrained(str(tokenizer_dir))
            cfg = RobertaConfig(
                vocab_size=len(tok),
                hidden_size=768,
                num_hidden_layers=text_layers,
                num_attention_heads=12,
                intermediate_size=text_ffn,
                max_position_embeddings=514,
                type_vocab_size=1,
                layer_norm_eps=1e-5,  # roberta-base's
                pad_token_id=tok.pad_token_id,
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
            )
            return RobertaModel(cfg)

    # While the original's modules import, ``from transformers import RobertaTokenizer/RobertaModel`` binds
    # the local stand-ins (one of them calls from_pretrained("roberta-base") at import time). The module
    # stand-ins exist only during these imports too: nothing else in the process sees a fake torchvision.
    import transformers

    saved = {name: getattr(transformers, name) for name in ("RobertaTokenizer", "RobertaModel")}
    transformers.RobertaTokenizer, transformers.RobertaModel = LocalTokenizer, LocalRoberta
    stand_ins = {name: _stand_in(name) for name in _STAND_INS if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        encoders = importlib.import_module("audioldm.clap.encoders")
        clap_model = importlib.import_module("audioldm.clap.open_clip.model")
        ddim = importlib.import_module("audioldm.latent_diffusion.ddim")
        importlib.import_module("audioldm.ldm")
        importlib.import_module("audioldm.variational_autoencoder.autoencoder")
    finally:
        for name in stand_ins:
            sys.modules.pop(name, None)
        for name, value in saved.items():
            setattr(transformers, name, value)
    encoders.RobertaTokenizer = LocalTokenizer
    clap_model.RobertaModel = LocalRoberta

    def register_buffer(self: Any, name: str, attr: Any) -> None:  # the original moves these to cuda
        setattr(self, name, attr)

    ddim.DDIMSampler.register_buffer = register_buffer
    return sys.modules["audioldm"]


def original_config(
    *,
    model_channels: int = 32,
    channel_mult: tuple[int, ...] = (1, 2, 3, 5),
    num_res_blocks: int = 2,
    num_head_channels: int = 32,
    vae_channels: int = 32,
    amodel: str = "HTSAT-tiny",
    linear_start: float = 0.0015,
    linear_end: float = 0.0195,
) -> dict[str, Any]:
    """The original's own default config (``default_audioldm_config``), sized down where it allows."""
    utils = importlib.import_module("audioldm.utils")
    cfg = utils.default_audioldm_config("audioldm-s-full")
    params = cfg["model"]["params"]
    params["device"] = "cpu"
    params["cond_stage_key"] = "text"
    params["linear_start"], params["linear_end"] = linear_start, linear_end
    unet = params["unet_config"]["params"]
    unet.update(
        model_channels=model_channels,
        channel_mult=list(channel_mult),
        num_res_blocks=num_res_blocks,
        num_head_channels=num_head_channels,
    )
    params["first_stage_config"]["params"]["ddconfig"]["ch"] = vae_channels
    params["cond_stage_config"]["params"]["amodel"] = amodel
    return cfg


@torch.no_grad()
def build_original(cfg: dict[str, Any], seed: int = 0, scale_factor: float = 0.73) -> Any:
    """A LatentDiffusion with random weights in every part, EMA weights different from the raw ones.

    Zero-initialised layers (the UNet's output convolutions) and HiFi-GAN's tiny init would make outputs
    trivially equal, so every parameter is made non-trivial; batch-norm statistics are randomised too.
    """
    ldm_mod = importlib.import_module("audioldm.ldm")
    torch.manual_seed(seed)
    ldm = ldm_mod.LatentDiffusion(**cfg["model"]["params"])
    for mod in ldm.first_stage_model.vocoder.modules():
        if isinstance(mod, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            mod.reset_parameters()
    for name, p in ldm.named_parameters():
        if name.startswith("model_ema."):
            continue
        if torch.count_nonzero(p) == 0 or p.ndim == 0:
            p.copy_(torch.randn_like(p) * 0.05 + (p if p.ndim == 0 else 0))
    for mod in ldm.modules():
        if isinstance(mod, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            mod.running_mean.copy_(torch.randn_like(mod.running_mean) * 0.1)
            mod.running_var.copy_(torch.rand_like(mod.running_var) + 0.5)
    ema = ldm.model_ema
    for name, p in ldm.model.named_parameters():
        shadow = getattr(ema, ema.m_name2s_name[name])
        shadow.copy_(p + torch.randn_like(p) * (p.std() if p.numel() > 1 else 0.1) * 0.2)
    ldm.scale_factor.fill_(scale_factor)
    ldm.cond_stage_model.unconditional_prob = 0.0  # the original drops the condition at random in training
    return ldm.eval()


def save_checkpoint(ldm: Any, path: Path) -> Path:
    """The original's checkpoint format: a Lightning-style dict with ``state_dict`` and bookkeeping."""
    torch.save({"state_dict": ldm.state_dict(), "epoch": 1, "global_step": 1000}, path)
    return path


@torch.no_grad()
def ddim_waveform(
    ldm: Any, prompt: str, noise: torch.Tensor, steps: int = 10, guidance: float = 2.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's deterministic DDIM (eta 0) from given noise, decoded to a waveform: (latents, wave)."""
    ddim = importlib.import_module("audioldm.latent_diffusion.ddim")
    ldm.cond_stage_model.embed_mode = "text"
    c = ldm.get_learned_conditioning([prompt])
    uc = ldm.cond_stage_model.get_unconditional_condition(noise.shape[0])
    with ldm.ema_scope():
        sampler = ddim.DDIMSampler(ldm)
        latents, _ = sampler.sample(
            S=steps,
            batch_size=noise.shape[0],
            shape=tuple(noise.shape[1:]),
            conditioning=c,
            eta=0.0,
            x_T=noise.clone(),
            verbose=False,
            unconditional_guidance_scale=guidance,
            unconditional_conditioning=uc,
        )
    mel = ldm.decode_first_stage(latents)
    wave = torch.as_tensor(ldm.mel_spectrogram_to_waveform(mel)).reshape(noise.shape[0], -1)
    return latents, wave
