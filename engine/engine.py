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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from audioldm_daw import __version__
from audioldm_daw.engine.compilation import ShapeCompiled
from audioldm_daw.engine.conditioning import (
    clap_scores,
    clap_scores_against_audio,
    prompt_truncation,
    require_clap,
)
from audioldm_daw.engine.cuda_graphs import CaptureBusy, CaptureError
from audioldm_daw.engine.decode import DecodeBackend, TorchDecoder
from audioldm_daw.engine.errors import ModelLoadError
from audioldm_daw.engine.fast_sampling import StepGraphs, StepTable, step_table, table_denoise
from audioldm_daw.engine.input_audio import check_request_input, content_hash
from audioldm_daw.engine.knowledge import Knowledge, load_knowledge
from audioldm_daw.engine.memory import give_back_freed_memory, keep_large_blocks_apart
from audioldm_daw.engine.model import AudioLDMModel, load_model
from audioldm_daw.engine.output import finish, normalize_peak, read_sidecar, write_clip
from audioldm_daw.engine.params import DEFAULT_DURATION_S, ORIGINAL_CANDIDATES
from audioldm_daw.engine.plans import Context, Plan, make_plan
from audioldm_daw.engine.request import Continuation, GenerateRequest, Inpaint, TextToAudio, Variation
from audioldm_daw.engine.sampling import CancelFn, ProgressFn
from audioldm_daw.engine.schedulers import make_scheduler
from audioldm_daw.engine.takes import StreamedAudio

log = logging.getLogger(__name__)


@dataclass
class Clip:
    """A finished clip in memory: float32 audio at ``sample_rate`` (mono, or (samples, channels) for an edit
    of a take, which keeps the take's channels), and what made it.

    ``warnings`` are things the caller should know but that did not stop the clip (a prompt longer
    than the text encoder reads); ``prompt_used`` is the part of the prompt the model saw when it was cut.
    ``subtype`` is the WAV subtype an edit keeps from its take (None: ``request.sample_format``'s);
    ``input_sha256`` the content hash of the input file, recorded so that recall can tell a changed take.
    """

    audio: np.ndarray  # an edit of a take: a takes.StreamedAudio, which stands in for the array
    sample_rate: int
    request: GenerateRequest
    candidate_scores: list[float] | None = None
    chosen: int = 0
    warnings: list[str] = field(default_factory=list)
    prompt_used: str | None = None
    subtype: str | None = None
    input_sha256: str | None = None
    tempo_fit: dict[str, Any] | None = None  # what tempo fitting did (tempo_fit.TempoFit.to_dict), when it ran

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class RenderResult:
    """A clip written to disk: the WAV path, its sidecar path and the clip itself."""

    path: Path
    sidecar: Path
    clip: Clip


LOOPS = ("table", "graphs")
WARM_UP_SECONDS = (DEFAULT_DURATION_S, 10.24)  # the default length and the original model's: captured before serving


def _window_progress(progress: ProgressFn, index: int, count: int) -> ProgressFn:
    """Window ``index`` of ``count``'s steps reported as steps of the whole clip."""

    def report(done: int, steps: int) -> None:
        progress(index * steps + done, count * steps)

    return report


class Engine:
    """A loaded model plus its decode backend; thread-compatible (one generation at a time per engine).

    ``loop`` is how the denoising steps run; the step is the same either way (engine/fast_sampling.py's
    table, one fixed tensor program): ``table`` runs it as is (the default off CUDA) and ``graphs`` replays it
    from a CUDA graph captured per latent shape (the default on CUDA).
    """

    def __init__(self, model: AudioLDMModel, decoder: DecodeBackend | None = None, loop: str | None = None) -> None:
        self.model = model
        self.decoder: DecodeBackend = decoder or TorchDecoder(model.vae, model.vocoder)
        cuda = model.device.type == "cuda"
        loop = loop or ("graphs" if cuda else "table")
        if loop not in LOOPS:
            raise ValueError(f"loop: expected one of {', '.join(LOOPS)}, got {loop!r}")
        if loop == "graphs" and not cuda:
            raise ModelLoadError(f"graphs: CUDA graphs need a CUDA device; this model is on {model.device}")
        self.loop = loop
        self.graphs = StepGraphs() if loop == "graphs" else None
        #: what the folder's knows.json says the model was trained on; far prompts get a warning (engine/knowledge.py)
        t0 = time.perf_counter()
        self.knowledge: Knowledge | None = load_knowledge(model)
        if self.knowledge is not None:
            model.load_seconds["knowledge"] = time.perf_counter() - t0
        self._warming = False
        if loop != "graphs" and isinstance(self.decoder, TorchDecoder):
            self.decoder.graphs = False  # --no-graphs: no captured graph anywhere

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str],
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        decoder_factory: Callable[[AudioLDMModel], DecodeBackend] | None = None,
        graphs: bool | None = None,
        compile_unet: bool = False,
        vocoder: str = "auto",
        compile_decode: bool = False,
        compile_in_background: bool = False,
    ) -> Engine:
        """Load a model folder or hub id; ``decoder_factory`` picks the decode backend (default torch).

        ``graphs``: replay the denoising steps from CUDA graphs (None: on a CUDA device; True elsewhere is
        refused). ``compile_unet``: run the UNet through ``torch.compile`` first (fuses its kernels; each new
        latent length compiles once, kept in a cache that survives restarts). ``vocoder``: ``auto`` (the model
        folder's choice), ``hifigan`` or ``griffin-lim`` (see :mod:`audioldm_daw.engine.vocoders`).
        ``compile_decode``: decode with the torch backend, compiled (in place of what ``decoder_factory`` gives
        unless that is another backend, e.g. ONNX Runtime asked for by name). ``compile_in_background``: each
        new shape compiles on a thread of its own, started after the first clip, while the plain modules serve
        that shape (a server's way: ready at once, faster a minute later); otherwise where it is first met."""
        keep_large_blocks_apart()  # before the first tensor: a long session must not keep its largest job
        m = load_model(model, device=device, dtype=dtype, vocoder=vocoder)
        if compile_unet:
            m.unet = ShapeCompiled(m.unet, name="UNet", background=compile_in_background)
        loop = None if graphs is None else ("graphs" if graphs else "table")
        t0 = time.perf_counter()
        decoder = decoder_factory(m) if decoder_factory else None
        if compile_decode and (decoder is None or isinstance(decoder, TorchDecoder)):
            decoder = TorchDecoder(m.vae, m.vocoder, compiled=True, background=compile_in_background)
        engine = cls(m, decoder, loop=loop)
        # an ONNX export or calibration on a first start; the knowledge's captions are timed on their own
        m.load_seconds["decoder"] = time.perf_counter() - t0 - m.load_seconds.get("knowledge", 0.0)
        return engine

    @property
    def compilers(self) -> list[ShapeCompiled]:
        """The compiled UNet and decode stage, where ``compile_unet`` / ``compile_decode`` asked for them."""
        held = (self.model.unet, getattr(self.decoder, "compiler", None))
        return [c for c in held if isinstance(c, ShapeCompiled)]

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Start the background compilations and wait until every shape met so far is compiled (or failed):
        False if ``timeout`` seconds pass first."""
        end = None if timeout is None else time.monotonic() + timeout
        self.start_compiling()
        return all(c.wait(None if end is None else max(end - time.monotonic(), 0.0)) for c in self.compilers)

    def warm_up(
        self, durations: tuple[float, ...] = WARM_UP_SECONDS, steps: int = 2, start_compiling: bool = True
    ) -> float:
        """Generate a short clip at each length, so that the first real request at these lengths does not pay
        for lazy initialisation, kernel selection, compilation or graph capture; returns the seconds taken.
        Background compilations (``compile_in_background``) start after it, with these lengths queued, or, with
        ``start_compiling=False``, at :meth:`start_compiling` (a server: once it listens, so that the compile
        thread, which holds the GIL for most of a minute, does not slow its start) or its first clip."""
        t0 = time.perf_counter()
        self._warming = True  # background compilations wait for the last warm-up clip: its captures come first
        try:
            for seconds in durations:
                self.generate(GenerateRequest(TextToAudio("warm-up"), duration=seconds, steps=steps, seed=0))
        finally:
            self._warming = False
        if self.model.device.type == "cuda":
            torch.cuda.synchronize(self.model.device)
        if start_compiling:
            self.start_compiling()
        return time.perf_counter() - t0

    def start_compiling(self) -> None:
        """Hand the shapes queued so far, and later ones, to the background compile thread (idempotent)."""
        for c in self.compilers:
            c.start()

    @property
    def context(self) -> Context:
        """What the per-mode plans are built from (the model and the decode backend)."""
        return Context(self.model, self.decoder)

    # -- checks at the door ------------------------------------------------------------------------
    def check(self, request: GenerateRequest) -> None:
        """Refuse, before any model work, what this model or the input file cannot serve: candidates or a
        variation without a CLAP audio tower, an input that is missing or unreadable, a span past the
        input's end, a sampler the model folder's scheduler config does not allow. The OSC server calls this
        before it queues a job."""
        source = request.source
        make_scheduler(request.scheduler, self.model.scheduler_config, request.steps, request.recipe)
        if request.candidates is not None and request.candidates > 1:
            require_clap(self.model, "re-ranking candidates (candidates > 1)")
        if isinstance(source, Variation):
            require_clap(self.model, "variation (conditioning on the input's CLAP audio embedding)")
        check_request_input(request, self.model.geometry.cell_seconds)

    def prompt_warnings(self, request: GenerateRequest) -> tuple[list[str], str | None]:
        """Warnings about text the text encoder cuts off and about a prompt far from all the model knows
        (engine/knowledge.py), and the part of the prompt the encoder keeps (or None)."""
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
        far = self.knowledge.warning(self.model, used or request.prompt) if self.knowledge is not None else None
        return [*warnings, far] if far else warnings, used

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
        if plan.windows is not None:  # a long input, window after window (plans.WindowRun)
            clip = self._windowed(plan, scheduler, progress, cancel)
        else:
            clip = self._pick(plan, self._waves(plan, self._denoise(plan, scheduler, progress, cancel)))
        if req.input_path is not None:
            clip.input_sha256 = content_hash(req.input_path)
        warnings, clip.prompt_used = self.prompt_warnings(req)
        clip.warnings = notes + warnings
        if not self._warming:  # background compilation from the first clip on (after a warm-up's last clip)
            self.start_compiling()
        return clip

    def _denoise(
        self, plan: Plan, scheduler: Any, progress: ProgressFn | None, cancel: CancelFn | None
    ) -> torch.Tensor:
        """The plan's denoising loop on the scheduler's step table, run as :attr:`loop` says."""
        table = step_table(scheduler, plan.start, plan.request.eta)
        generator_state = plan.generator.get_state() if plan.generator is not None else None
        try:
            return self._table_denoise(plan, table, progress, cancel, self.graphs)
        except CaptureBusy:  # a background compilation holds the GPU: this clip's steps run uncaptured
            if plan.generator is not None and generator_state is not None:
                plan.generator.set_state(generator_state)
            return self._table_denoise(plan, table, progress, cancel, None)
        except CaptureError as exc:
            log.warning("denoising: %s; running the steps without CUDA graphs from now on", exc)
            self.loop, self.graphs = "table", None
            if plan.generator is not None and generator_state is not None:
                plan.generator.set_state(generator_state)  # the same noise as the captured run would draw
            return self._table_denoise(plan, table, progress, cancel, None)

    def _table_denoise(
        self,
        plan: Plan,
        table: StepTable,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        graphs: StepGraphs | None,
    ) -> torch.Tensor:
        return table_denoise(
            plan.unet,
            table,
            plan.latents,
            plan.conditioning,
            generator=plan.generator,
            start=plan.start,
            graphs=graphs,
            progress=progress,
            cancel=cancel,
            after_step=plan.after_step,
        )

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

    def _waves(self, plan: Plan, latents: torch.Tensor) -> np.ndarray:
        """The plan's candidates decoded, cut to length at the model's rate and post-processed."""
        waves = plan.decode(latents).float().cpu().numpy()
        if plan.native_samples is not None:
            waves = waves[:, : plan.native_samples]  # the one cut to length, at the model's rate
        if plan.post is not None:
            waves = np.stack([plan.post(w) for w in waves])
        return waves

    def _rank(self, plan: Plan, waves: np.ndarray) -> tuple[list[float] | None, int]:
        """The candidates' CLAP scores against the prompt, or against the input audio without one, and the
        best one's index (no scores for a single candidate)."""
        if len(waves) < 2:
            return None, 0
        req, sr = plan.request, self.model.sampling_rate
        if req.typed_source.ranked_by_prompt or plan.reference is None:
            scores = clap_scores(self.model, list(waves), sr, req.prompt)
        else:
            scores = clap_scores_against_audio(self.model, list(waves), sr, plan.reference)
        return scores, int(np.argmax(scores))

    def _windowed(self, plan: Plan, scheduler: Any, progress: ProgressFn | None, cancel: CancelFn | None) -> Clip:
        """A long input in overlapping windows (plans.WindowRun): each window's plan denoised, decoded and its
        candidates ranked as a clip's are, in order; the run joins the chosen waves and delivers the whole. The
        scores recorded are each candidate's mean over the windows."""
        run = plan.windows
        assert run is not None
        totals: np.ndarray | None = None
        for i in range(run.count):
            window = plan if i == 0 else run.plan(i)
            report = None if progress is None else _window_progress(progress, i, run.count)
            waves = self._waves(window, self._denoise(window, scheduler, report, cancel))
            scores, chosen = self._rank(window, waves)
            if scores is not None:
                totals = np.asarray(scores) if totals is None else totals + np.asarray(scores)
            run.add(i, waves[chosen])
        scores = None if totals is None else [float(s) / run.count for s in totals]
        chosen = 0 if totals is None else int(np.argmax(totals))
        audio = cast(np.ndarray, run.finish())  # read block by block as it is written (takes.StreamedAudio)
        return Clip(audio, run.rate, plan.request, scores, chosen, subtype=run.subtype)

    def _pick(self, plan: Plan, waves: np.ndarray) -> Clip:
        """Keep the candidate CLAP scores closest to the prompt, or to the input audio without one."""
        req = plan.request
        sr = self.model.sampling_rate
        scores, chosen = self._rank(plan, waves)
        if plan.deliver is not None:  # an edit of a take: the take's own samples around the new audio
            audio = plan.deliver(waves[chosen])  # a long take's is read from its file as it is written (takes.py)
            db = req.normalize_db
            audio = audio.normalized(db) if isinstance(audio, StreamedAudio) else normalize_peak(audio, db)
            return Clip(cast(np.ndarray, audio), int(plan.out_rate or sr), req, scores, chosen, subtype=plan.subtype)
        rate = int(req.sample_rate or sr)
        wave, fitted = waves[chosen], None
        if plan.fit_bpm is not None:  # imported here: librosa and pedalboard load only when a clip is fitted
            from audioldm_daw.engine.tempo_fit import fit_to_tempo

            n = self.model.geometry.samples(plan.seconds)
            wave, record = fit_to_tempo(wave, sr, plan.fit_bpm, n, loop=req.loop, beats_per_bar=req.beats_per_bar)
            fitted = record.to_dict()
        extend = None
        if req.full_band and rate > sr:  # the band above the model's (engine/bandwidth.py), from the clip's seed
            from audioldm_daw.engine.bandwidth import extend_band

            seed = int(req.seed or 0)
            extend = lambda a, periodic: extend_band(a, rate, sr / 2, rate, seed, periodic=periodic)  # noqa: E731
        audio = finish(wave, sr, rate, plan.seconds, normalize_db=req.normalize_db, loop=req.loop, extend=extend)
        return Clip(audio, rate, req, scores, chosen, tempo_fit=fitted)

    # -- files ----------------------------------------------------------------------------------
    def sidecar(self, clip: Clip) -> dict[str, Any]:
        """Everything needed to regenerate ``clip`` exactly, as plain JSON."""
        m = self.model
        side = {
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
            "vocoder": m.vocoder_name,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        } | self._input_record(clip)
        if clip.tempo_fit is not None:  # where fitting ran; a clip made with fit off has none, as before
            side["tempo_fit"] = clip.tempo_fit
        return side

    @staticmethod
    def _input_record(clip: Clip) -> dict[str, Any]:
        """The sidecar's ``input``: the take's path, content hash and the span the edit changed."""
        req = clip.request
        if req.input_path is None:
            return {}
        source = req.typed_source
        record: dict[str, Any] = {"path": req.input_path, "sha256": clip.input_sha256}
        if isinstance(source, Inpaint):
            record["span"] = [source.start, source.end]
        elif isinstance(source, Continuation):
            record["span"] = [round(clip.seconds - source.seconds, 6), round(clip.seconds, 6)]
        return {"input": record}

    def render(
        self,
        request: GenerateRequest,
        out_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RenderResult:
        """Generate and write ``out_path`` (WAV) plus its ``.json`` sidecar, both atomically."""
        try:
            clip = self.generate(request, progress=progress, cancel=cancel)
        finally:
            give_back_freed_memory()
        req = clip.request
        tempo: dict[str, Any] | None = None
        if req.bpm is not None and req.bars is not None:  # a tempo-synced clip: DAWs read its tempo and length
            from audioldm_daw.engine.wav_chunks import beats_for

            beats = beats_for(req.bars, req.beats_per_bar)
            tempo = {"bpm": req.bpm, "beats": beats, "loop": req.loop, "numerator": round(req.beats_per_bar)}
            if clip.tempo_fit is not None and not clip.tempo_fit["fitted"]:  # no beat: a one-shot, no tempo
                tempo |= {"bpm": None, "loop": False}
        path = write_clip(
            Path(out_path),
            clip.audio,
            clip.sample_rate,
            self.sidecar(clip),
            req.sample_format or "float32",
            tempo,
            subtype=clip.subtype,
        )
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
        request = GenerateRequest.from_dict(data["request"])
        recorded = (data.get("input") or {}).get("sha256")
        path = request.input_path
        now = content_hash(path) if isinstance(recorded, str) and path and Path(path).is_file() else None
        if now is not None and isinstance(recorded, str) and now != recorded:
            log.warning(
                "sidecar: the input %s has changed since the clip was made (content hash %s..., now %s...): "
                "audio will differ",
                request.input_path,
                recorded[:12],
                now[:12],
            )
        return request
