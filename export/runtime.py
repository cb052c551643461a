"""ONNX Runtime decode backend: the exported decode graph behind the engine's DecodeBackend protocol.

Provider per machine: the CUDA EP when torch sees a GPU (after ``onnxruntime.preload_dlls()``, so ORT
finds the same CUDA/cuDNN libraries torch loaded), CoreML on macOS, the CPU EP otherwise.

On CUDA the latents never visit host memory: inputs and outputs are bound (IO binding) to torch CUDA
tensors by ``data_ptr``. Each distinct (batch, frames) shape gets its own session with ORT's free
dimensions pinned to that shape; with every shape static ORT folds all shape arithmetic, places every
node on the CUDA EP and can capture the run as a CUDA graph, replayed from then on into the same bound
buffers. A DAW session asks for few distinct lengths, so a handful of such buckets covers it; beyond
``max_buckets`` (or if a bucket cannot be captured) a dynamic-shape session with IO binding serves.

On CPU the NCHWc layout optimiser (ORT_ENABLE_ALL) and one intra-op thread per physical core are what
make ORT beat torch; see :mod:`audioldm_daw.export.onnx_export` for the graph side.
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audioldm_daw.export.onnx_export import DecodeGeometry, ExportError, file_sha256, read_manifest

log = logging.getLogger(__name__)

_DLLS_PRELOADED = False


def _ort() -> Any:
    import onnxruntime as ort

    return ort


def preload_cuda_libraries() -> None:
    """``onnxruntime.preload_dlls()`` once, only when torch sees a GPU (it is a no-op risk otherwise)."""
    global _DLLS_PRELOADED
    if _DLLS_PRELOADED:
        return
    ort = _ort()
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception as exc:  # pragma: no cover - depends on the CUDA install
            log.debug("onnxruntime.preload_dlls failed: %s", exc)
    _DLLS_PRELOADED = True


def default_threads() -> int:
    """Intra-op threads: torch's own count, which defaults to the physical cores available.

    Hyper-threads only contend for the same FMA units in these conv-bound graphs, and matching torch
    makes the calibration a like-for-like comparison.
    """
    return max(1, torch.get_num_threads())


def provider_kind(device: torch.device) -> str:
    """'cuda', 'coreml' or 'cpu': which ORT provider serves a model living on ``device``."""
    ort = _ort()
    available = ort.get_available_providers()
    if device.type == "cuda" and torch.cuda.is_available() and "CUDAExecutionProvider" in available:
        return "cuda"
    if sys.platform == "darwin" and "CoreMLExecutionProvider" in available:
        return "coreml"
    return "cpu"


def session_options(threads: int | None = None, kind: str = "cpu") -> Any:
    """ORT_ENABLE_ALL (NCHWc layouts, conv+activation and conv+add fusions), sequential, quiet."""
    ort = _ort()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    if kind == "cpu":
        so.intra_op_num_threads = threads or default_threads()
        so.inter_op_num_threads = 1
    return so


def cuda_provider(device_index: int, cuda_graph: bool) -> tuple[str, dict[str, str]]:
    """CUDA EP options: exhaustive cuDNN search (shapes are static per bucket), CUDA graphs on request, and
    channels-last convolutions.

    ``prefer_nhwc`` measured faster on a GPU (``benchmarks/bench_decode_cuda_options.py``; the figures are in
    docs/benchmarks.md). cuDNN's ``HEURISTIC`` search fails outright on the vocoder's dilated 1x7 convolutions,
    hence ``EXHAUSTIVE``.
    """
    return (
        "CUDAExecutionProvider",
        {
            "device_id": str(device_index),
            "cudnn_conv_algo_search": "EXHAUSTIVE",
            "cudnn_conv_use_max_workspace": "1",
            "do_copy_in_default_stream": "1",
            "enable_cuda_graph": "1" if cuda_graph else "0",
            "prefer_nhwc": "1",
        },
    )


def validation_providers(fp16: bool) -> list[Any]:
    """Where an export is validated: fp16 graphs on the CUDA EP when there is one (the kernels that will
    run them), everything else on the CPU EP (deterministic, always present)."""
    if fp16 and torch.cuda.is_available() and "CUDAExecutionProvider" in _ort().get_available_providers():
        preload_cuda_libraries()
        return [cuda_provider(torch.cuda.current_device(), cuda_graph=False), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OrtDecoder:
    """DecodeBackend over an exported, validated decode graph (``name = "onnx"``).

    Construct with :func:`load_decoder`, which checks the manifest first. ``decode`` accepts latents on
    any device; on CUDA they are consumed in place and the waveform is returned on the same GPU.
    """

    name = "onnx"

    def __init__(
        self,
        graph: Path,
        manifest: dict[str, Any],
        device: torch.device | str = "cpu",
        threads: int | None = None,
        cuda_graphs: bool = True,
        max_buckets: int = 4,
    ) -> None:
        self.graph = Path(graph)
        self.manifest = manifest
        self.precision = str(manifest["precision"])
        self.geometry = DecodeGeometry(**manifest["geometry"])
        self.input_name = str(manifest.get("input", "latent"))
        self.output_name = str(manifest.get("output", "waveform"))
        self.device = torch.device(device)
        self.kind = provider_kind(self.device)
        self.threads = threads or default_threads()
        self.cuda_graphs = cuda_graphs and self.kind == "cuda"
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[int, int], _Bucket] = OrderedDict()
        if self.kind == "cuda":
            preload_cuda_libraries()
        if self.precision == "fp16" and self.kind == "cpu":
            log.warning("fp16 decode graph on the CPU provider: slow; export fp32 for CPU use")
        self.session = self._session(cuda_graph=False)
        self.provider = self.session.get_providers()[0]
        if self.kind == "cuda" and self.provider != "CUDAExecutionProvider":
            # ORT falls back to the CPU EP when the CUDA EP cannot initialise (library mismatch); binding
            # CUDA buffers to a CPU session would fail later, so refuse now and let the caller fall back.
            raise ExportError(f"ONNX Runtime's CUDA provider did not initialise (got {self.provider})")

    # -- sessions ---------------------------------------------------------------------------------
    def _providers(self, cuda_graph: bool) -> list[Any]:
        if self.kind == "cuda":
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            return [cuda_provider(index, cuda_graph), "CPUExecutionProvider"]
        if self.kind == "coreml":
            return ["CoreMLExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def _session(self, cuda_graph: bool, shape: tuple[int, int] | None = None) -> Any:
        ort = _ort()
        so = session_options(self.threads, self.kind)
        if shape is not None:
            # Pinning the symbolic dims makes every shape static: ORT folds the remaining shape
            # arithmetic, nothing is left for the CPU, and the run can be captured as a CUDA graph.
            so.add_free_dimension_override_by_name("batch", shape[0])
            so.add_free_dimension_override_by_name("frames", shape[1])
        return ort.InferenceSession(str(self.graph), so, providers=self._providers(cuda_graph))

    # -- decoding ---------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Waveforms (B, N) float32: on the latents' GPU for CUDA, on the CPU otherwise."""
        if latents.dim() != 4:
            raise ValueError(f"latents: expected (B, C, T, F), got shape {tuple(latents.shape)}")
        if self.kind == "cuda":
            return self._decode_cuda(latents)
        dtype = np.float16 if self.precision == "fp16" else np.float32
        # via float32: numpy has no bfloat16, and the fp32 -> fp16 rounding equals torch's
        feed = latents.detach().to("cpu", torch.float32).numpy().astype(dtype, copy=False)
        out = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(feed)})[0]
        return torch.from_numpy(out)

    def _decode_cuda(self, latents: torch.Tensor) -> torch.Tensor:
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        x = latents.detach().to(self.device, dtype).contiguous()
        key = (int(x.shape[0]), int(x.shape[2]))
        bucket = self._bucket(key, x)
        if bucket is not None:
            return bucket.run(x)
        out = torch.empty(key[0], self.geometry.output_length(key[1]), device=self.device, dtype=torch.float32)
        binding = self.session.io_binding()
        self._bind(binding, x, out)
        torch.cuda.current_stream(self.device).synchronize()  # x is written on torch's stream
        self.session.run_with_iobinding(binding)
        return out

    def _bind(self, binding: Any, x: torch.Tensor, out: torch.Tensor) -> None:
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        binding.bind_input(
            name=self.input_name,
            device_type="cuda",
            device_id=index,
            element_type=np.float16 if x.dtype == torch.float16 else np.float32,
            shape=tuple(x.shape),
            buffer_ptr=x.data_ptr(),
        )
        binding.bind_output(
            name=self.output_name,
            device_type="cuda",
            device_id=index,
            element_type=np.float32,
            shape=tuple(out.shape),
            buffer_ptr=out.data_ptr(),
        )

    def _bucket(self, key: tuple[int, int], x: torch.Tensor) -> _Bucket | None:
        if not self.cuda_graphs:
            return None
        if key in self._buckets:
            self._buckets.move_to_end(key)
            return self._buckets[key]
        if len(self._buckets) >= self.max_buckets:
            self._buckets.popitem(last=False)  # least recently used shape gives its session back
        try:
            bucket = _Bucket(self, key, x.dtype)
        except Exception as exc:
            log.warning("ONNX decode: no CUDA-graph session for shape %s (%s); using the dynamic one", key, exc)
            self.cuda_graphs = False
            return None
        self._buckets[key] = bucket
        return bucket


class _Bucket:
    """One static-shape CUDA session with its own input/output buffers, replayed as a CUDA graph."""

    def __init__(self, owner: OrtDecoder, key: tuple[int, int], dtype: torch.dtype) -> None:
        ort = _ort()
        self.owner = owner
        self.session = owner._session(cuda_graph=True, shape=key)
        geom = owner.geometry
        self.x = torch.empty(key[0], geom.latent_channels, key[1], geom.latent_bins, device=owner.device, dtype=dtype)
        self.out = torch.empty(key[0], geom.output_length(key[1]), device=owner.device, dtype=torch.float32)
        self.binding = self.session.io_binding()
        owner._bind(self.binding, self.x, self.out)
        self.run_options = ort.RunOptions()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.x.copy_(x)
        torch.cuda.current_stream(self.owner.device).synchronize()
        self.session.run_with_iobinding(self.binding, self.run_options)
        return self.out.clone()  # the buffer is reused by the next replay


def load_decoder(
    graph: Path,
    model_hash: str | None = None,
    device: torch.device | str = "cpu",
    threads: int | None = None,
    verify_sha: bool = True,
) -> OrtDecoder:
    """An OrtDecoder for ``graph`` after checking it can be trusted; raises ExportError otherwise.

    Refused: a missing graph or manifest, a manifest for other weights or an older export format, a
    validation that did not pass, a file whose sha256 differs from the one validated (truncated or
    altered since), and anything ONNX Runtime cannot load.
    """
    from audioldm_daw.export.onnx_export import EXPORT_FORMAT

    graph = Path(graph)
    if not graph.is_file():
        raise ExportError(f"{graph} is missing")
    manifest = read_manifest(graph)
    if manifest.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{graph} has export format {manifest.get('format')}, this build reads {EXPORT_FORMAT}")
    if model_hash and manifest.get("model_hash") and manifest["model_hash"] != model_hash:
        raise ExportError(f"{graph} was exported from other weights (hash {str(manifest['model_hash'])[:12]}...)")
    if not manifest.get("validation", {}).get("passed"):
        raise ExportError(f"{graph} did not pass validation against torch when it was exported")
    if verify_sha:
        digest = file_sha256(graph)
        if digest != manifest.get("sha256"):
            raise ExportError(f"{graph} is corrupt (sha256 differs from the validated export)")
    try:
        return OrtDecoder(graph, manifest, device=device, threads=threads)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"ONNX Runtime could not load {graph} ({type(exc).__name__}: {exc})") from exc
