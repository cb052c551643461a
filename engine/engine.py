"""The engine: one loaded model, requests in, clips out. The CLI and the OSC bridge both use this API.

Example::

    from audioldm_daw.engine import Engine, GenerateRequest
    engine = Engine.load("cvssp/audioldm-s-full-v2")          # or a local folder
    result = engine.render(GenerateRequest("warm analog pad", duration=8, seed=1), "pad.wav")
    print(result.path, result.clip.request.seed)
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audioldm_daw import __version__
from audioldm_daw.engine.conditioning import clap_scores, require_clap, text_embeddings
from audioldm_daw.engine.decode import DecodeBackend, TorchDecoder
from audioldm_daw.engine.model import AudioLDMModel, load_model
from audioldm_daw.engine.output import finish, read_sidecar, write_clip
from audioldm_daw.engine.plans import make_plan
from audioldm_daw.engine.request import GenerateRequest
from audioldm_daw.engine.sampling import (
    CancelFn,
    Conditioning,
    ProgressFn,
    denoise,
    step_kwargs,
)
from audioldm_daw.engine.schedulers import make_scheduler

log = logging.getLogger(__name__)


@dataclass
class Clip:
    """A finished clip in memory: mono float32 audio at ``sample_rate``, and what made it."""

    audio: np.ndarray
    sample_rate: int
    request: GenerateRequest
    candidate_scores: list[float] | None = None
    chosen: int = 0

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class RenderResult:
    """A clip written to disk: the WAV path, its sidecar path and the clip itself."""

    path: Path
    sidecar: Path
    clip: Clip


class Engine:
    """A loaded model plus its decode backend; thread-compatible (one generation at a time per engine)."""

    def __init__(self, model: AudioLDMModel, decoder: DecodeBackend | None = None) -> None:
        self.model = model
        self.decoder: DecodeBackend = decoder or TorchDecoder(model.vae, model.vocoder)

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str],
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        decoder_factory: Callable[[AudioLDMModel], DecodeBackend] | None = None,
    ) -> Engine:
        """Load a model folder or hub id; ``decoder_factory`` picks the decode backend (default torch)."""
        m = load_model(model, device=device, dtype=dtype)
        return cls(m, decoder_factory(m) if decoder_factory else None)

    # -- geometry -------------------------------------------------------------------------------
    def native_samples(self, duration: float) -> int:
        """Samples at the model's native rate for ``duration`` seconds."""
        return round(duration * self.model.sampling_rate)

    def latent_frames(self, duration: float) -> int:
        """Latent time length covering ``duration``: mel frames / VAE factor, rounded up to the UNet's
        multiple, so any duration works (the waveform is trimmed to the exact length afterwards)."""
        m = self.model
        frames = math.ceil(self.native_samples(duration) / m.hop_length)
        cells = math.ceil(frames / m.vae_scale_factor)
        mult = m.unet_time_multiple
        return max(mult, math.ceil(cells / mult) * mult)

    # -- generation -----------------------------------------------------------------------------
    def conditioning(self, prompt: str, negative: str, guidance: float, batch: int) -> Conditioning:
        """Text condition and its unconditional twin (the embedding of the negative prompt, or of "")."""
        cond = text_embeddings(self.model, [prompt])
        uncond = text_embeddings(self.model, [negative]) if guidance > 1.0 else cond
        return Conditioning(cond.repeat(batch, 1), uncond.repeat(batch, 1), float(guidance))

    def generate(
        self, request: GenerateRequest, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> Clip:
        """Make the clip ``request`` asks for (any mode). Raises :class:`Cancelled` if ``cancel()`` turns
        true between two steps, and InvalidRequest / InputAudioError for requests it cannot serve."""
        req = request.resolved()
        m = self.model
        if req.candidates > 1:
            require_clap(m, "re-ranking candidates (candidates > 1)")
        scheduler = make_scheduler(req.scheduler, m.scheduler_config, req.steps)
        scheduler.set_timesteps(req.steps, device=m.device)
        plan = make_plan(self, req, scheduler)
        latents = denoise(
            plan.unet,
            scheduler,
            plan.latents,
            plan.conditioning,
            start=plan.start,
            extra_step=step_kwargs(scheduler, plan.generator, req.eta),
            progress=progress,
            cancel=cancel,
            after_step=plan.after_step,
        )
        waves = plan.decode(latents).float().cpu().numpy()
        if plan.native_samples is not None:
            waves = waves[:, : plan.native_samples]
        if plan.post is not None:
            waves = np.stack([plan.post(w) for w in waves])
        return self._pick(plan.request, waves)

    def _pick(self, req: GenerateRequest, waves: np.ndarray) -> Clip:
        scores = None
        chosen = 0
        if len(waves) > 1:
            scores = clap_scores(self.model, list(waves), self.model.sampling_rate, req.prompt)
            chosen = int(np.argmax(scores))
        audio = finish(
            waves[chosen],
            self.model.sampling_rate,
            req.sample_rate,
            req.duration,
            normalize_db=req.normalize_db,
            loop=req.loop,
        )
        return Clip(audio, req.sample_rate, req, scores, chosen)

    # -- files ----------------------------------------------------------------------------------
    def sidecar(self, clip: Clip) -> dict[str, Any]:
        """Everything needed to regenerate ``clip`` exactly, as plain JSON."""
        m = self.model
        return {
            "engine": "audioldm-daw",
            "engine_version": __version__,
            "model": {"id": m.model_id, "hash": m.content_hash, "path": str(m.path)},
            "request": clip.request.to_dict(),
            "seconds": clip.seconds,
            "samples": len(clip.audio),
            "sample_rate": clip.sample_rate,
            "candidate_scores": clip.candidate_scores,
            "chosen_candidate": clip.chosen,
            "device": str(m.device),
            "dtype": str(m.dtype).replace("torch.", ""),
            "decoder": self.decoder.name,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    def render(
        self,
        request: GenerateRequest,
        out_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RenderResult:
        """Generate and write ``out_path`` (WAV) plus its ``.json`` sidecar, both atomically."""
        clip = self.generate(request, progress=progress, cancel=cancel)
        path = write_clip(Path(out_path), clip.audio, clip.sample_rate, self.sidecar(clip), clip.request.sample_format)
        return RenderResult(path, path.with_suffix(".json"), clip)

    def request_from_sidecar(self, sidecar_path: str | os.PathLike[str]) -> GenerateRequest:
        """The exact request behind a clip; warns when the sidecar names other weights than loaded."""
        data = read_sidecar(Path(sidecar_path))
        want = data.get("model", {}).get("hash")
        if want and want != self.model.content_hash:
            log.warning(
                "sidecar was made with model %s (hash %s...), loaded model has hash %s...: audio will differ",
                data["model"].get("id"),
                want[:12],
                self.model.content_hash[:12],
            )
        return GenerateRequest.from_dict(data["request"])
