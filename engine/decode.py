"""The decode stage (scaled latent -> waveform) behind a small protocol.

The engine only knows :class:`DecodeBackend`; ``audioldm_daw.export`` provides an ONNX Runtime
implementation and hands it in, so the engine never imports the export package (arrows point one way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from audioldm_daw.engine.compilation import ShapeCompiled
from audioldm_daw.engine.cuda_graphs import CaptureBusy, CaptureError, GraphCache, capture, program_version

DECODE_GRAPHS = 4  # decode lengths kept captured (the decoder's buffers are the large ones)


@runtime_checkable
class DecodeBackend(Protocol):
    """Turns scaled VAE latents (B, C, T, F) into waveforms (B, N) at the vocoder's native rate."""

    name: str

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Return float32 waveforms; may run on any device, the caller moves the result."""
        ...


class CapturedDecode:
    """A decode of one latent shape captured in a CUDA graph: fixed input and output buffers."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor, pool: object) -> None:
        self.inp = latents.clone()
        self.out = torch.empty(0)

        def run() -> None:
            self.out = fn(self.inp)  # the last call, inside the capture, leaves the graph's own output here

        self.graph: Any = capture(run, latents.device, lambda: self.inp.copy_(latents), pool)

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        self.inp.copy_(latents)
        self.graph.replay()
        return self.out.clone()


class TorchDecoder:
    """VAE decoder + HiFi-GAN vocoder in torch: the reference backend, always available.

    On a CUDA device each decode length is captured once in a CUDA graph and replayed (``graphs``: None
    means on CUDA; the engine turns it off with its own ``--no-graphs``). ``compiled`` runs the stage through
    ``torch.compile`` (each decode length compiles once, where it is first decoded or, ``background``, on a
    thread of its own while the plain stage decodes: engine/compilation.py, which has the measured gain)."""

    name = "torch"

    def __init__(
        self,
        vae: torch.nn.Module,
        vocoder: torch.nn.Module,
        graphs: bool | None = None,
        compiled: bool = False,
        background: bool = False,
    ) -> None:
        # diffusers' AutoencoderKL and transformers' SpeechT5HifiGan: read through their configs and
        # output objects, which nn.Module's hints do not describe
        self.vae: Any = vae
        self.vocoder: Any = vocoder
        self.graphs = False if not getattr(vocoder, "capturable", True) else graphs
        self.captured: GraphCache[CapturedDecode] = GraphCache(DECODE_GRAPHS)
        self._run: Callable[[torch.Tensor], torch.Tensor] = (
            ShapeCompiled(self.decode_eager, name="decoder", background=background) if compiled else self.decode_eager
        )

    @property
    def compiler(self) -> ShapeCompiled | None:
        """The compiled stage's per-shape state, when ``compiled``."""
        return self._run if isinstance(self._run, ShapeCompiled) else None

    @property
    def compiled(self) -> bool:
        """Whether the stage runs through ``torch.compile`` (``compiled=True``)."""
        return self.compiler is not None

    @torch.no_grad()
    def mel(self, latents: torch.Tensor) -> torch.Tensor:
        """Log-mel spectrogram (B, T, n_mels) from scaled latents."""
        z = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(z).sample.squeeze(1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Waveforms (B, N) float32."""
        use_graphs = self.graphs if self.graphs is not None else latents.device.type == "cuda"
        if not use_graphs:
            return self._run(latents)
        key = (tuple(latents.shape), latents.dtype)
        try:
            make = lambda: CapturedDecode(self._run, latents, self.captured.pool)  # noqa: E731
            run = self.captured.get(key, make, program_version(self._run))
        except CaptureBusy:  # a background compilation holds the GPU: decode this one uncaptured
            return self._run(latents)
        except CaptureError as exc:
            logging.getLogger(__name__).warning("decode: %s; decoding without CUDA graphs from now on", exc)
            self.graphs = False
            return self._run(latents)
        return run(latents)

    def decode_eager(self, latents: torch.Tensor) -> torch.Tensor:
        mel = self.mel(latents).to(self.vocoder.dtype)
        return self.vocoder(mel).float()
