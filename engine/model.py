"""Loading an AudioLDM model folder in the diffusers layout of the public checkpoints.

The same code loads ``cvssp/audioldm-s-full-v2`` (via the hub cache), a local copy of it, the bundled
model and the tiny random folders the tests build: there is no second loading path for tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audioldm_daw.engine.errors import ModelLoadError
from audioldm_daw.engine.geometry import Geometry

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

REQUIRED_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "vocoder", "scheduler")
#: Optional, beside the parts: ``{"text_offset": [D floats], ...}``, the mean CLAP audio embedding minus the mean
#: text embedding over the CLAP's own (audio, caption) pairs. A UNet trained on audio embeddings (the paper's
#: recipe) is sampled with text embeddings; a small CLAP leaves the two modalities apart, and adding this offset
#: to a prompt's text embedding moves it to where the UNet's training conditions lie (engine/conditioning.py).
#: The public checkpoints have no such file and are sampled exactly as released.
CONDITIONING_FILE = "conditioning.json"
ENV_DEFAULT_MODEL = "AUDIOLDM_DAW_MODEL"
#: The bundled model's folder name, under ``models/`` in the checkout and ``audioldm_daw/models/`` when installed.
BUNDLED_MODEL = "audioldm-daw-mini"


@dataclass
class AudioLDMModel:
    """The components of one model folder, on one device and dtype.

    ``clap``/``clap_processor`` are present only when the folder has a ``clap/`` audio tower; they are
    needed for CLAP re-ranking of candidates and for audio conditioning (variation, training).
    """

    model_id: str
    path: Path
    content_hash: str
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    vocoder: Any
    scheduler_config: dict[str, Any]
    device: torch.device
    dtype: torch.dtype
    clap: Any | None = None
    clap_tokenizer: Any | None = None
    clap_feature_extractor: Any | None = None
    vocoder_name: str = "hifigan"  # or "griffin-lim" (engine/vocoders.py)
    text_offset: torch.Tensor | None = None  # (D,) float32, from CONDITIONING_FILE when the folder has one
    #: where loading's time went, in seconds: the libraries' imports, reading the weights, moving them onto the
    #: device (a GPU's start-up included), the content hash (hashed once, then cached) and, added by Engine.load,
    #: the decode backend's choice: a slow start's cause
    load_seconds: dict[str, float] = field(default_factory=dict)

    def load_summary(self) -> str:
        """``load_seconds`` as one line, e.g. ``imports 4.0 s, weights 1.4 s, onto cuda 0.9 s, hash 0.0 s``."""
        return ", ".join(f"{what} {seconds:.1f} s" for what, seconds in self.load_seconds.items())

    @property
    def geometry(self) -> Geometry:
        """Seconds -> samples -> latent cells for this model (see :mod:`audioldm_daw.engine.geometry`)."""
        return Geometry.of(self.unet.config, self.vae.config, self.vocoder.config)

    @property
    def sampling_rate(self) -> int:
        """Native audio rate of the vocoder (16 kHz for the public checkpoints)."""
        return self.geometry.sample_rate


def default_model() -> str:
    """The model used when none is given: ``$AUDIOLDM_DAW_MODEL``, else the default chosen with
    ``audioldm-daw models default`` (engine/models_catalog.py), else the bundled model folder.

    Checked before anything heavy is imported, so a machine without either hears the ways out at once."""
    env = os.environ.get(ENV_DEFAULT_MODEL)
    if env:
        return env
    from audioldm_daw.engine.models_catalog import configured_default

    chosen = configured_default()
    if chosen and Path(chosen).is_absolute() and not Path(chosen).is_dir():
        raise ModelLoadError(
            f"model: the default chosen with 'audioldm-daw models default' is the folder {chosen}, which is gone; "
            "choose another with 'audioldm-daw models default NAME', or go back to the bundled model with "
            "'audioldm-daw models default --clear'"
        )
    if chosen:
        return chosen
    bundled = bundled_model_dir()
    if not (bundled / "model_index.json").is_file():
        raise ModelLoadError(
            f"model: none given, and the bundled model is not at {bundled}. Three ways out: reinstall audioldm-daw "
            "from a wheel or sdist that carries it (or use a checkout with models/audioldm-daw-mini), pass --model "
            "cvssp/audioldm-s-full-v2 "
            f"(downloaded once, offline afterwards) or any model folder, or set {ENV_DEFAULT_MODEL} to a folder "
            "or hub id"
        )
    return str(bundled)


def bundled_model_dir() -> Path:
    """Where the bundled small model is: package data of ``audioldm_daw.models``, found through
    ``importlib.resources`` in an installed wheel and in an editable install alike.

    A strict editable install reaches the checkout through a tree of links made when it was installed; the folder
    its links point to is returned, ``models/audioldm-daw-mini`` of the checkout itself, so that a file added to the
    model later is seen and a clip's sidecar names the folder people know. Without the package (an install older
    than it), the checkout's folder beside this package is the answer."""
    from importlib.resources import files

    try:
        resource = files("audioldm_daw.models").joinpath(BUNDLED_MODEL)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "models" / BUNDLED_MODEL
    folder = Path(str(resource))
    index = folder / "model_index.json"
    if index.is_symlink():
        return index.resolve().parent
    return folder


def resolve_model_dir(model: str | os.PathLike[str]) -> tuple[str, Path]:
    """Turn a local folder or a hub id into (model id, local folder).

    A hub id is looked up in the local hub cache first and downloaded only when missing, so a model
    fetched once keeps working offline.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"model: expected a folder in the diffusers AudioLDM layout, got file {path}")
        return path.name, path.resolve()
    looks_like_hub_id = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise ModelLoadError(
            f"model: folder {text!r} does not exist (expected a model folder, or a hub id like "
            "'cvssp/audioldm-s-full-v2')"
        )
    from huggingface_hub import snapshot_download

    try:
        return text, Path(snapshot_download(text, local_files_only=True))
    except Exception:
        pass
    try:
        return text, Path(snapshot_download(text))
    except Exception as exc:
        raise ModelLoadError(
            f"model: could not fetch {text!r} from the Hugging Face Hub and it is not in the local cache "
            f"({type(exc).__name__}). Connect to the internet once so it is cached, or pass --model with a "
            "local folder in the diffusers AudioLDM layout."
        ) from exc


def check_layout(path: Path) -> None:
    """Fail early, naming the missing part, instead of deep inside from_pretrained."""
    if not (path / "model_index.json").is_file():
        raise ModelLoadError(f"model folder {path}: missing model_index.json (not a diffusers AudioLDM folder)")
    missing = [p for p in REQUIRED_PARTS if not (path / p).is_dir()]
    if missing:
        raise ModelLoadError(f"model folder {path}: missing {', '.join(missing)}/ (diffusers AudioLDM layout)")


def content_hash(path: Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 over every file's relative path and bytes: identifies the exact weights a clip came from.

    Cached in a small JSON beside the user's cache keyed by path, size and mtime, because hashing a
    1 GB checkpoint on every start would cost seconds. ``skip`` leaves out files by name (a model card that
    records the hash of the rest cannot be part of it).
    """
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name not in skip)
    stamp = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(path), stamp, list(skip)]).encode()).hexdigest()
    cache = _hash_cache_file()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return str(known[key])
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(path)).encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    digest = h.hexdigest()
    known[key] = digest
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    except OSError:
        log.debug("could not write hash cache %s", cache)
    return digest


def _hash_cache_file() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("audioldm-daw")) / "model_hashes.json"


def pick_device(device: str | None = None, dtype: str | torch.dtype | None = None) -> tuple[torch.device, torch.dtype]:
    """cuda (fp16) > mps > cpu (fp32) unless overridden; half precision on CPU is refused (too slow/lossy)."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"device: expected cpu, cuda, cuda:N or mps, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device: cuda was asked for but torch sees no CUDA GPU")
    if isinstance(dtype, str):
        table = {
            "fp32": torch.float32,
            "float32": torch.float32,
            "fp16": torch.float16,
            "float16": torch.float16,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
        }
        if dtype not in table:
            raise ModelLoadError(f"dtype: expected fp32, fp16 or bf16, got {dtype!r}")
        dtype = table[dtype]
    if dtype is None:
        dtype = torch.float16 if dev.type in ("cuda", "mps") else torch.float32
    return dev, dtype


def load_model(
    model: str | os.PathLike[str],
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    vocoder: str = "auto",
) -> AudioLDMModel:
    """Load every component of a model folder (or hub id) onto one device, in eval mode; ``vocoder``: ``auto``
    (the folder's choice, see :mod:`audioldm_daw.engine.vocoders`), ``hifigan`` or ``griffin-lim``."""
    t0 = time.perf_counter()
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, ClapTextModelWithProjection

    from audioldm_daw.engine.vocoders import VocoderChoiceError, load_vocoder

    took = {"imports": time.perf_counter() - t0}
    t0 = time.perf_counter()
    model_id, path = resolve_model_dir(model)
    check_layout(path)
    dev, dt = pick_device(device, dtype)
    try:
        vocoder_name, vocoder_module = load_vocoder(path, vocoder)
    except VocoderChoiceError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:
        raise ModelLoadError(f"model folder {path}: could not load ({type(exc).__name__}: {exc})") from exc
    try:
        unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet")
        vae = AutoencoderKL.from_pretrained(path, subfolder="vae")
        text_encoder = ClapTextModelWithProjection.from_pretrained(path / "text_encoder")
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer")
        scheduler_config = _read_scheduler_config(path)
    except Exception as exc:
        raise ModelLoadError(f"model folder {path}: could not load ({type(exc).__name__}: {exc})") from exc
    clap = clap_tok = clap_fe = None
    if (path / "clap").is_dir():
        from transformers import ClapFeatureExtractor, ClapModel

        try:
            clap = ClapModel.from_pretrained(path / "clap")
            clap_fe = ClapFeatureExtractor.from_pretrained(path / "clap")
            has_tok = (path / "clap" / "tokenizer_config.json").is_file()
            clap_tok = AutoTokenizer.from_pretrained(path / "clap") if has_tok else tokenizer
        except Exception as exc:
            raise ModelLoadError(f"model folder {path}: clap/ could not load ({type(exc).__name__}: {exc})") from exc
    took["weights"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # as torch modules: transformers' decorated ``to`` is typed for a model, not a device
    parts: list[torch.nn.Module | None] = [unet, vae, text_encoder, vocoder_module, clap]
    for m in parts:
        if m is not None:
            m.to(dev, dt).eval().requires_grad_(False)
    clap_module: torch.nn.Module | None = clap
    if clap_module is not None:
        clap_module.to(dev, torch.float32)  # CLAP scores are compared across candidates: keep them exact
    offset = read_text_offset(path, int(text_encoder.config.projection_dim))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)  # the copies' time, not the next stage's
    took[f"onto {dev.type}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    digest = content_hash(path)
    took["hash"] = time.perf_counter() - t0
    return AudioLDMModel(
        model_id=model_id,
        path=path,
        content_hash=digest,
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        vocoder=vocoder_module,
        vocoder_name=vocoder_name,
        scheduler_config=scheduler_config,
        device=dev,
        dtype=dt,
        clap=clap,
        clap_tokenizer=clap_tok,
        clap_feature_extractor=clap_fe,
        text_offset=None if offset is None else offset.to(dev),
        load_seconds=took,
    )


def read_text_offset(path: Path, dim: int) -> torch.Tensor | None:
    """The folder's text-to-audio offset (see :data:`CONDITIONING_FILE`), or None when it has none."""
    import torch

    f = path / CONDITIONING_FILE
    if not f.is_file():
        return None
    try:
        values = json.loads(f.read_text())["text_offset"]
        offset = torch.tensor([float(v) for v in values], dtype=torch.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"model folder {path}: {CONDITIONING_FILE} is unreadable ({type(exc).__name__}: {exc}); expected "
            '{"text_offset": [numbers]}'
        ) from exc
    if offset.shape != (dim,) or not bool(torch.isfinite(offset).all()):
        raise ModelLoadError(
            f"model folder {path}: {CONDITIONING_FILE}'s text_offset must be {dim} finite numbers (the text "
            f"encoder's embedding size), got {offset.numel()}"
        )
    return offset


def _read_scheduler_config(path: Path) -> dict[str, Any]:
    cfg_file = path / "scheduler" / "scheduler_config.json"
    if not cfg_file.is_file():
        raise ModelLoadError(f"model folder {path}: missing scheduler/scheduler_config.json")
    return dict(json.loads(cfg_file.read_text()))
