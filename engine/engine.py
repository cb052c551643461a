"""The engine: one loaded model, requests in, clips out. The CLI and the OSC bridge both use this API.

Example::

    from audioldm_daw.engine import Engine, GenerateRequest
    engine = Engine.load("cvssp/audioldm-s-full-v2")          # or a local folder
    result = engine.render(GenerateRequest("warm analog pad", duration=8, seed=1), "pad.wav")
    print(result.path, result.clip.request.seed)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audioldm_daw import __version__
from audioldm_daw.engine.conditioning import (
    clap_scores,
    clap_scores_against_audio,
    prompt_truncation,
    require_clap,
)
from audioldm_daw.engine.decode import DecodeBackend, TorchDecoder
from audioldm_daw.engine.input_audio import check_request_input
from audioldm_daw.engine.model import AudioLDMModel, load_model
from audioldm_daw.engine.output import finish, read_sidecar, write_clip
from audioldm_daw.engine.params import ORIGINAL_CANDIDATES
from audioldm_daw.engine.plans import Context, Plan, make_plan
from audioldm_daw.engine.request import GenerateRequest, Variation
from audioldm_daw.engine.sampling import CancelFn, ProgressFn, denoise, step_kwargs
from audioldm_daw.engine.schedulers import make_scheduler

log = logging.getLogger(__name__)


@dataclass
class Clip:
    """A finished clip in memory: mono float32 audio at ``sample_rate``, and what made it.

    ``warnings`` are things the caller should know but that did not stop the clip (a prompt longer
    than the text encoder reads); ``prompt_used`` is the part of the prompt the model saw when it was cut.
    """

    audio: np.ndarray
    sample_rate: int
    request: GenerateRequest
    candidate_scores: list[float] | None = None
    chosen: int = 0
    warnings: list[str] = field(default_factory=list)
    prompt_used: str | None = None

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

    @property
    def context(self) -> Context:
        """What the per-mode plans are built from (the model and the decode backend)."""
        return Context(self.model, self.decoder)

    # -- checks at the door ------------------------------------------------------------------------
    def check(self, request: GenerateRequest) -> None:
        """Refuse, before any model work, what this model or the input file cannot serve: candidates or a
        variation without a CLAP audio tower, an input that is missing or unreadable, a span past the
        input's end. The OSC server calls this before it queues a job."""
        source = request.source
        if request.candidates is not None and request.candidates > 1:
            require_clap(self.model, "re-ranking candidates (candidates > 1)")
        if isinstance(source, Variation):
            require_clap(self.model, "variation (conditioning on the input's CLAP audio embedding)")
        check_request_input(request)

    def prompt_warnings(self, request: GenerateRequest) -> tuple[list[str], str | None]:
        """Warnings about text the text encoder cuts off, and the part of the prompt it keeps (or None)."""
        warnings: list[str] = []
        used = None
        for name, text in (("prompt", request.prompt), ("negative", request.negative)):
            cut = prompt_truncation(self.model, text)
            if cut is not None:
                warnings.append(
                    f"{name}: {cut.tokens} tokens, the text encoder reads {cut.limit}; "
                    f"everything after {cut.kept[-40:]!r} was ignored"
                )
                if name == "prompt":
                    used = cut.kept
        return warnings, used

    # -- generation -----------------------------------------------------------------------------
    def generate(
        self, request: GenerateRequest, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> Clip:
        """Make the clip ``request`` asks for (any mode). Raises :class:`Cancelled` if ``cancel()`` turns
        true between two steps, and InvalidRequest / InputAudioError for requests it cannot serve."""
        req, notes = self.resolve(request)
        self.check(req)
        m = self.model
        scheduler = make_scheduler(req.scheduler, m.scheduler_config, req.steps, req.recipe)
        scheduler.set_timesteps(req.steps, device=m.device)
        plan = make_plan(req.typed_source, self.context, req, scheduler)
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
            waves = waves[:, : plan.native_samples]  # the one cut to length, at the model's rate
        if plan.post is not None:
            waves = np.stack([plan.post(w) for w in waves])
        clip = self._pick(plan, waves)
        warnings, clip.prompt_used = self.prompt_warnings(req)
        clip.warnings = notes + warnings
        return clip

    def resolve(self, request: GenerateRequest) -> tuple[GenerateRequest, list[str]]:
        """The request with everything left to the engine decided (a drawn seed; ``candidates`` None, from
        ``preset original``: three where this model can rank them by CLAP, else one), and what to tell the
        caller about it. The sidecar records the resolved request, so recall repeats it exactly."""
        req = request.resolved()
        notes: list[str] = []
        if req.candidates is None:
            if self.model.clap is None:
                notes.append(
                    f"candidates: 1, not {ORIGINAL_CANDIDATES}: model {self.model.model_id} has no CLAP audio "
                    "tower (clap/) to rank them; a converted original checkpoint has one"
                )
            req = dataclasses.replace(req, candidates=ORIGINAL_CANDIDATES if self.model.clap is not None else 1)
        return req, notes

    def _pick(self, plan: Plan, waves: np.ndarray) -> Clip:
        """Keep the candidate CLAP scores closest to the prompt, or to the input audio without one."""
        req = plan.request
        sr = self.model.sampling_rate
        scores = None
        chosen = 0
        if len(waves) > 1:
            if req.typed_source.ranked_by_prompt or plan.reference is None:
                scores = clap_scores(self.model, list(waves), sr, req.prompt)
            else:
                scores = clap_scores_against_audio(self.model, list(waves), sr, plan.reference)
            chosen = int(np.argmax(scores))
        audio = finish(waves[chosen], sr, req.sample_rate, plan.seconds, normalize_db=req.normalize_db, loop=req.loop)
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
            "warnings": clip.warnings,
            "prompt_used": clip.prompt_used,
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
        req = clip.request
        tempo = None
        if req.bpm is not None and req.bars is not None:  # a tempo-synced clip: DAWs read its tempo and length
            from audioldm_daw.engine.wav_chunks import beats_for

            beats = beats_for(req.bars, req.beats_per_bar)
            tempo = {"bpm": req.bpm, "beats": beats, "loop": req.loop, "numerator": round(req.beats_per_bar)}
        path = write_clip(Path(out_path), clip.audio, clip.sample_rate, self.sidecar(clip), req.sample_format, tempo)
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
