"""The engine's HTTP API over a farm of GPU machines: a Ray Serve application (``audioldm-daw farm``).

Why this shape. One engine renders one job at a time, so a farm needs one engine per GPU, and a client still
wants one address, one key and its jobs' events, clips and sidecars from wherever they were rendered. Ray
Serve gives both halves: ``EngineReplica`` is a deployment with one replica per GPU (``num_gpus: 1``; on CPUs,
``num_cpus``), each holding a loaded :class:`~audioldm_daw.engine.engine.Engine`, on any machine of the Ray
cluster; the ingress is one replica that runs the very same HTTP door as ``serve --http``
(bridge/server/http_api.py, docs/HTTP.md) over a job queue with one worker per engine replica. So the API,
its keys, its ownership rules, its upload bounds and its event stream are one piece of code for one machine
and for a farm.

What crosses between the two: the request (its plain-JSON form, the sidecar's), the take's bytes for the
input modes (the ingress never hands a path to a replica: the replica writes the take into a temporary folder
of its own, removed after the job), progress as it happens, and the finished clip's WAV and sidecar bytes,
which the ingress writes into its clips folder atomically. Cancelling a job cancels its stream; the replica
sees that as a cancelled task and stops its engine at the next denoising step.

Ray is an optional dependency (``pip install 'audioldm-daw[cluster]'``); nothing here imports it until a farm
is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audioldm_daw.bridge.protocol import osc_name
from audioldm_daw.engine.errors import Cancelled, EngineError, InvalidRequest

if TYPE_CHECKING:
    import torch

    from audioldm_daw.engine.engine import Engine, RenderResult
    from audioldm_daw.engine.request import GenerateRequest
    from audioldm_daw.engine.sampling import CancelFn, ProgressFn

APP_NAME = "audioldm"
# What a replica's render stream yields: ("progress", done, total), then one of ("done", wav, sidecar),
# ("failed", sentence) or ("cancelled",).
PROGRESS, DONE, FAILED, CANCELLED = "progress", "done", "failed", "cancelled"


def require_ray() -> None:
    """Say how to install Ray when it is missing, in words."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        raise EngineError(
            "a farm runs on Ray Serve, which is not installed: pip install 'audioldm-daw[cluster]' "
            "(or: pip install 'ray[serve]')"
        ) from None


# -- the engine replicas -------------------------------------------------------------------------------------------
class EngineReplica:
    """One loaded engine (one GPU) of the farm, serving one request at a time: Ray Serve holds the others
    until a replica is free, so each job goes to an idle engine (the least busy), and the ingress's queue
    keeps the order."""

    def __init__(self, model: str | None = None, device: str | None = None, threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from audioldm_daw.engine.engine import Engine
        from audioldm_daw.engine.model import default_model

        self.engine: Engine = Engine.load(model or default_model(), device=device)
        self._one_at_a_time = threading.Lock()

    def info(self) -> dict[str, Any]:
        """What the ingress reports of its engines: model, device, GPU, the latent cell (for the input checks)."""
        model = self.engine.model
        gpu = ""
        if model.device.type == "cuda":
            import torch

            with contextlib.suppress(Exception):
                gpu = str(torch.cuda.get_device_name(model.device))
        return {
            "model_id": str(model.model_id),
            "path": str(model.path),
            "device": str(model.device),
            "gpu": gpu,
            "cell_seconds": float(model.geometry.cell_seconds),
        }

    async def render(self, request: dict[str, Any], take: bytes | None, suffix: str = ".wav") -> AsyncIterator[tuple]:
        """Render ``request`` (the take, for the input modes, as bytes), streaming progress, then the clip's WAV
        and sidecar bytes. A cancelled stream stops the engine at its next step."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple] = asyncio.Queue()
        stop = threading.Event()

        def progress(done: int, total: int) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (PROGRESS, int(done), int(total)))

        def work(folder: Path) -> tuple:
            from audioldm_daw.bridge.server.jobs import describe_job_error
            from audioldm_daw.engine.request import GenerateRequest

            req = GenerateRequest.from_dict(request)
            if take is not None:
                source = folder / f"take{suffix if suffix.startswith('.') and len(suffix) <= 6 else '.wav'}"
                source.write_bytes(take)
                req = req.with_source(input_path=str(source))
            try:
                with self._one_at_a_time:
                    result = self.engine.render(req, folder / "clip.wav", progress=progress, cancel=stop.is_set)
            except Cancelled:
                return (CANCELLED,)
            except InvalidRequest as exc:
                return (FAILED, exc.message(osc_name))
            except EngineError as exc:
                return (FAILED, str(exc))
            except Exception as exc:
                return (FAILED, describe_job_error(exc, req))
            return (DONE, Path(result.path).read_bytes(), Path(result.sidecar).read_bytes())

        with tempfile.TemporaryDirectory(prefix="audioldm-farm-") as tmp:
            task = loop.run_in_executor(None, work, Path(tmp))
            try:
                while True:
                    getter = asyncio.ensure_future(events.get())
                    finished, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                    if getter in finished:
                        yield getter.result()
                        continue
                    getter.cancel()
                    while not events.empty():
                        yield events.get_nowait()
                    yield task.result()
                    return
            finally:
                stop.set()  # a cancelled stream (or the ingress gone): the engine stops at its next step
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)


# -- the ingress ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FarmModel:
    """The farm's model as the HTTP door reports it (the replicas' own, one model for all)."""

    model_id: str
    path: Path
    device_name: str

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device(self.device_name)


class FarmEngine:
    """The engine port the ingress's job queue renders with: each job goes to a replica through Ray Serve's
    handle, which spreads them over the replicas."""

    def __init__(self, replicas: Any, info: dict[str, Any]) -> None:
        self.replicas = replicas  # a ray.serve DeploymentHandle of EngineReplica
        self.cell_seconds = float(info["cell_seconds"])
        self.model = FarmModel(str(info["model_id"]), Path(str(info["path"])), str(info["device"]))

    def check(self, request: GenerateRequest) -> None:
        """The parameters (checked by the door already) and the take, here where it is: its bounds, its span.
        What only the model can judge (a variation without a CLAP audio tower, a sampler its scheduler config
        does not allow) is judged on the replica, and a job it refuses fails with the engine's sentence: asking
        a replica here would wait behind a render whenever every engine is busy."""
        from audioldm_daw.engine.input_audio import check_request_input

        check_request_input(request, self.cell_seconds)

    def render(
        self,
        request: GenerateRequest,
        out_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RenderResult:
        """Render on a replica; write its WAV and sidecar at ``out_path`` atomically (sidecar first)."""
        import numpy as np
        import soundfile as sf

        from audioldm_daw.engine.engine import Clip, RenderResult
        from audioldm_daw.engine.wav_chunks import replace_bytes

        take, suffix = None, ".wav"
        if request.input_path is not None:
            take, suffix = Path(request.input_path).read_bytes(), Path(request.input_path).suffix
        stream = self.replicas.options(stream=True).render.remote(request.to_dict(), take, suffix)
        final: tuple | None = None
        for item in stream:
            if cancel is not None and cancel():
                stream.cancel()
                raise Cancelled("cancelled")
            if item[0] == PROGRESS:
                if progress is not None:
                    progress(item[1], item[2])
                continue
            final = item
            break
        if final is None or final[0] == CANCELLED:
            raise Cancelled("cancelled")
        if final[0] == FAILED:
            raise EngineError(str(final[1]))
        wav, sidecar = Path(out_path), Path(out_path).with_suffix(".json")
        wav.parent.mkdir(parents=True, exist_ok=True)
        for path, data in ((sidecar, final[2]), (wav, final[1])):
            replace_bytes(path, data, prefix=f".{path.name}.")
        meta = sf.info(str(wav))
        import json

        recorded = json.loads(final[2])
        from audioldm_daw.engine.request import GenerateRequest

        made = GenerateRequest.from_dict(recorded["request"])
        # The queue reads the clip's length, rate, seed and warnings; the samples stay on disk.
        audio = np.broadcast_to(np.float32(0), (meta.frames,))
        clip = Clip(audio, int(meta.samplerate), made, warnings=list(recorded.get("warnings", [])))
        return RenderResult(wav, sidecar, clip)


class FarmIngress:
    """The farm's single address: the HTTP door of bridge/server/http_api.py over a queue with one worker per
    engine replica. Built as a Ray Serve ingress by :func:`build_farm`."""

    # Async: Ray Serve awaits it on the replica's event loop, where the replicas' info is awaited too (a blocking
    # call there is refused).
    async def __init__(  # type: ignore[misc]
        self, replicas: Any, workers: int, state_dir: str, clips_dir: str, key: str | None, name: str = ""
    ) -> None:
        from audioldm_daw.bridge.server.http_api import HttpDoor
        from audioldm_daw.bridge.server.jobs import JobQueue
        from audioldm_daw.bridge.server.journal import Journal

        info = await replicas.info.remote()
        self.engine = FarmEngine(replicas, info)
        state = Path(state_dir)
        state.mkdir(parents=True, exist_ok=True)
        Path(clips_dir).mkdir(parents=True, exist_ok=True)
        journal = Journal(state / "journal.jsonl")
        lost = journal.open()
        self.jobs = JobQueue(
            self.engine, Path(clips_dir), _no_osc_clients, journal=journal, lost=lost, workers=max(1, workers)
        )
        self.door = HttpDoor(self.engine, self.jobs, state / "uploads", key=key, name=name)
        self.door.gpu = f"{workers} x {info['gpu']}" if info.get("gpu") else ""

    def __serve_build_asgi_app__(self) -> Any:
        return self.door.app


def _no_osc_clients(client: Any, address: str, args: list[Any]) -> None:
    """The farm has no OSC door: every reply belongs to an HTTP client and goes through the door's route."""


def build_farm(
    *,
    replicas: int,
    state_dir: str | Path,
    clips_dir: str | Path,
    model: str | None = None,
    device: str | None = None,
    key: str | None = None,
    gpus_per_replica: float = 1.0,
    cpus_per_replica: float = 1.0,
    threads: int | None = None,
    name: str = "",
) -> Any:
    """The farm as a Ray Serve application, ready for ``serve.run``: ``replicas`` engines (each with
    ``gpus_per_replica`` GPUs, or on CPUs when that is 0) behind one ingress."""
    require_ray()
    from ray import serve

    resources: dict[str, float] = {"num_cpus": cpus_per_replica}
    if gpus_per_replica > 0:
        resources["num_gpus"] = gpus_per_replica
    engines = serve.deployment(
        name="EngineReplica",
        num_replicas=replicas,
        ray_actor_options=resources,
        max_ongoing_requests=1,  # one render at a time: Ray Serve holds the rest for the next free engine
    )(EngineReplica).bind(model, device, threads)
    ingress = serve.deployment(name="FarmIngress", num_replicas=1, ray_actor_options={"num_cpus": 0})(
        serve.ingress()(FarmIngress)
    )
    return ingress.bind(engines, replicas, str(state_dir), str(clips_dir), key, name)
