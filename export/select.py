"""Choosing the decode backend for a loaded model: torch, or the ONNX export where it is faster.

``choose_decoder(model, "onnx")`` uses the export in the cache (exporting it first when missing);
``"auto"`` also measures both backends once on this machine and remembers the winner. Every failure
(no onnxruntime, export or validation failure, a corrupt or foreign file) falls back to the torch
decoder with a warning that says why and how to fix it: choosing a backend never breaks generation.

Cache layout, under ``platformdirs.user_cache_dir("audioldm-daw")/onnx`` (or ``$AUDIOLDM_DAW_ONNX_CACHE``)::

    <content_hash>/decode-fp32.onnx   + decode-fp32.json (manifest: sha256, validation, geometry)
    <content_hash>/decode-fp16.onnx   + decode-fp16.json
    calibration.json                  {key: {"choice", "torch_ms", "onnx_ms", "frames", ...}}
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from audioldm_daw.engine.decode import DecodeBackend, TorchDecoder

log = logging.getLogger(__name__)

ENV_CACHE = "AUDIOLDM_DAW_ONNX_CACHE"
CHOICES = ("auto", "onnx", "torch")
#: Calibration decodes this many seconds of audio (the ratio of conv-bound decoders barely depends on
#: length, and a 10 s S-full decode costs ~10 s per backend on a laptop CPU).
CALIBRATION_SECONDS = 2.56


def cache_root() -> Path:
    """Root of the ONNX cache (per user; ``$AUDIOLDM_DAW_ONNX_CACHE`` overrides, e.g. for tests)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("audioldm-daw")) / "onnx"


def model_cache_dir(content_hash: str) -> Path:
    """Where the exports of one set of weights live (keyed by the model folder's content hash)."""
    return cache_root() / content_hash


def precision_for(model: Any) -> str:
    """fp16 graphs for a half-precision model on a GPU (fp16 end to end), fp32 everywhere else."""
    if model.device.type == "cuda" and model.dtype in (torch.float16, torch.bfloat16):
        return "fp16"
    return "fp32"


def graph_path(model: Any, precision: str | None = None, root: Path | None = None) -> Path:
    """The cached graph for ``model`` at ``precision`` (it may not exist yet)."""
    from audioldm_daw.export.onnx_export import GRAPH_NAME

    base = Path(root) / model.content_hash if root else model_cache_dir(model.content_hash)
    return base / GRAPH_NAME[precision or precision_for(model)]


def ensure_export(model: Any, precision: str | None = None, root: Path | None = None) -> Path:
    """The cached graph, exported and validated first if it is not there yet. Raises ExportError."""
    from audioldm_daw.export import onnx_export
    from audioldm_daw.export.runtime import validation_providers

    precision = precision or precision_for(model)
    path = graph_path(model, precision, root)
    if not path.is_file() or _stale(path):
        log.info("exporting the decode stage of %s to ONNX once (cached in %s)", model.model_id, path.parent)
        t0 = time.perf_counter()
        fp16 = precision == "fp16"
        onnx_export.export_model(model, path.parent, fp16=fp16, providers=validation_providers(fp16))
        log.info("ONNX export validated in %.1f s", time.perf_counter() - t0)
    return path


def _stale(graph: Path) -> bool:
    """True when the cached graph was written by an older export format (a newer build replaces it).

    Only a readable manifest naming another format counts: a missing or unreadable manifest is damage,
    reported by the loader, not silently overwritten.
    """
    from audioldm_daw.export.onnx_export import EXPORT_FORMAT, ExportError, read_manifest

    try:
        return read_manifest(graph).get("format") != EXPORT_FORMAT
    except ExportError:
        return False


def load_onnx_decoder(model: Any, root: Path | None = None) -> Any:
    """An OrtDecoder for ``model`` (exporting when missing). Raises ExportError/ImportError on failure."""
    from audioldm_daw.export.runtime import load_decoder

    path = ensure_export(model, root=root)
    return load_decoder(path, model_hash=model.content_hash, device=model.device)


def choose_decoder(model: Any, choice: str = "auto", root: Path | None = None) -> DecodeBackend:
    """The decode backend for ``model``: ``torch``, ``onnx`` (forced) or ``auto`` (the measured winner).

    Never raises for ONNX problems: the torch decoder is returned with a warning instead.
    """
    if choice not in CHOICES:
        raise ValueError(f"decoder: expected one of {', '.join(CHOICES)}, got {choice!r}")
    torch_dec = TorchDecoder(model.vae, model.vocoder)
    if choice == "torch":
        return torch_dec
    if getattr(model, "vocoder_name", "hifigan") != "hifigan":
        # The ONNX graph is the VAE decoder with the HiFi-GAN; Griffin-Lim's inverse STFT runs in torch.
        (log.warning if choice == "onnx" else log.info)(
            "decoder: torch (the ONNX decoder holds the HiFi-GAN; this model decodes with %s)", model.vocoder_name
        )
        return torch_dec
    try:
        key = calibration_key(model)
    except ImportError as exc:
        log.warning("ONNX decoder unavailable (%s is not installed); using the torch decoder", exc.name)
        return torch_dec
    import onnxruntime as ort

    from audioldm_daw.export.runtime import provider_kind

    if model.device.type == "cuda" and provider_kind(model.device) != "cuda":
        # onnxruntime without its CUDA provider (the CPU-only wheel) would decode a GPU model's latents on the
        # CPU (copied there and back, fp16 kernels the CPU lacks), far slower than torch on the GPU: nothing
        # to measure or choose.
        (log.warning if choice == "onnx" else log.info)(
            "decoder: torch (onnxruntime %s has no CUDA provider, so the ONNX decoder would run on the CPU; "
            "install onnxruntime-gpu to decode with it on the GPU)",
            ort.__version__,
        )
        return torch_dec
    if choice == "auto":
        known = read_calibration(root).get(key)
        if known and known.get("choice") == "torch":
            log.info("decoder auto: torch (measured faster on this machine: %s)", _summary(known))
            return torch_dec
    try:
        ort_dec = load_onnx_decoder(model, root)
    except Exception as exc:
        log.warning(
            "ONNX decoder unavailable (%s); using the torch decoder. Rebuild the export with "
            "`audioldm-daw export-onnx --model %s`.",
            exc,
            model.path,
        )
        return torch_dec
    if choice == "onnx":
        return ort_dec
    known = read_calibration(root).get(key)
    if not known:
        try:
            log.info("measuring the torch and ONNX decoders once on this machine to pick the faster (cached)")
            known = calibrate(model, torch_dec, ort_dec)
        except Exception as exc:
            log.warning("decoder calibration failed (%s); using the torch decoder", exc)
            return torch_dec
        write_calibration(key, known, root)
    log.info("decoder auto: %s (%s)", known["choice"], _summary(known))
    return ort_dec if known["choice"] == "onnx" else torch_dec


# -- calibration ----------------------------------------------------------------------------------------
def device_description(model: Any) -> str:
    """What the measurement depends on besides the weights: the processor or GPU, and thread count."""
    if model.device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(model.device)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model.device.type}:{cpu}:{torch.get_num_threads()}threads"


def calibration_key(model: Any) -> str:
    """Model hash + device + dtype + runtime versions: any change re-measures."""
    import onnxruntime as ort

    dtype = str(model.dtype).replace("torch.", "")
    return "|".join(
        [model.content_hash, device_description(model), dtype, f"ort-{ort.__version__}", f"torch-{torch.__version__}"]
    )


def calibration_frames(model: Any, seconds: float = CALIBRATION_SECONDS) -> int:
    """Latent time cells for ``seconds`` of audio: the model's own rule (:meth:`Geometry.cells`), so the
    measured decode is the length the engine decodes."""
    return model.geometry.cells(seconds)


def calibrate(model: Any, torch_dec: DecodeBackend, ort_dec: DecodeBackend, repeats: int = 2) -> dict[str, Any]:
    """Time both decoders on the same random latent (one warm-up each, then the best of ``repeats``)."""
    frames = calibration_frames(model)
    shape = model.geometry.latent_shape(1, frames)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(model.device, model.dtype)
    cuda = model.device.type == "cuda"

    def once(dec: DecodeBackend) -> float:
        if cuda:
            torch.cuda.synchronize(model.device)
        t0 = time.perf_counter()
        dec.decode(latents)
        if cuda:
            torch.cuda.synchronize(model.device)
        return time.perf_counter() - t0

    best = {"torch": float("inf"), "onnx": float("inf")}
    with torch.inference_mode():
        once(torch_dec)
        once(ort_dec)
        for _ in range(repeats):  # interleaved so background load hits both alike
            best["torch"] = min(best["torch"], once(torch_dec))
            best["onnx"] = min(best["onnx"], once(ort_dec))
    return {
        "choice": "onnx" if best["onnx"] < best["torch"] else "torch",
        "torch_ms": round(best["torch"] * 1000, 2),
        "onnx_ms": round(best["onnx"] * 1000, 2),
        "frames": frames,
        "measured": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _summary(entry: dict[str, Any]) -> str:
    return f"torch {entry.get('torch_ms')} ms vs onnx {entry.get('onnx_ms')} ms for {entry.get('frames')} latent frames"


def calibration_file(root: Path | None = None) -> Path:
    return Path(root or cache_root()) / "calibration.json"


def read_calibration(root: Path | None = None) -> dict[str, Any]:
    """All cached decisions; an unreadable file counts as empty (it is only an optimisation)."""
    try:
        data = json.loads(calibration_file(root).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_calibration(key: str, entry: dict[str, Any], root: Path | None = None) -> None:
    """Merge one decision into the cache file, atomically (a server and a CLI may share it)."""
    path = calibration_file(root)
    data = read_calibration(root)
    data[key] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)
