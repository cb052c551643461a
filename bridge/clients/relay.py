"""A laptop's engine that renders elsewhere: the backend ``serve --engine URL`` hands the OSC server's job queue
instead of a loaded model, so Max, Live, Pd, REAPER and Bitwig keep talking OSC to this computer while one or
more GPU machines (``serve --http`` there, docs/HTTP.md) do the work.

Why a backend of the job queue rather than a second server: every OSC feature (the checks, the caps per
client, ``/audioldm/job``, cancel, the journal, notify ports) stays the code that already serves them; only
the step "render this request into this path" changes. :meth:`Relay.relay` uploads the take a request names
(read here, under the same path rules as a local engine), relays the remote job's events as progress, and
downloads the clip and its sidecar to the path the queue chose, atomically (temp name, then rename, sidecar
first), so the reply carries a local path.

Why several engines: each job goes to the least busy one (its ``/v1/info`` queue plus the jobs this relay has
in flight there). A job whose engine stops (connection refused or reset, a stream that ends before its final
event, the engine reporting the job lost after its own restart) is sent again to another engine; an engine
that did not answer is passed over for a while. The queue's journal keeps each job's engine, remote id, local
path and request (:meth:`~audioldm_daw.bridge.server.journal.Journal.remote`), so a relay killed and started
again follows the same remote jobs and fetches what finished meanwhile, and a local job id is answered once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from audioldm_daw.bridge import remote_api as api
from audioldm_daw.bridge.clients.client import EngineUnavailable
from audioldm_daw.bridge.clients.remote import TIMEOUT_S, RemoteEngine, RemoteError
from audioldm_daw.engine import params as P
from audioldm_daw.engine.errors import Cancelled, EngineError, InvalidRequest
from audioldm_daw.engine.request import GenerateRequest

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.05  # how often a job's cancel flag is looked at while its engine renders it
STREAM_IDLE_S = 60.0  # the longest wait for the next event (the engine sends a keep-alive well within it)
STREAM_RESUMES = 5  # a broken event stream of a live engine is picked up again this many times per job
DEAD_FOR_S = 15.0  # an engine that did not answer is passed over this long while others take the jobs


class EngineLost(EngineError):
    """The job's engine stopped before the job ended (refused or reset connection, a stream that ended early,
    the job lost by the engine's own restart): the request may be sent to another engine."""


@dataclass(frozen=True)
class RemoteModel:
    """The served model as the OSC server reports it (``/audioldm/status``, ``/audioldm/pong``)."""

    model_id: str
    path: PurePosixPath  # no folder on this computer: the job queue compares no model files
    device: str


@dataclass(frozen=True)
class Seeded:
    seed: int | None


@dataclass
class RelayedClip:
    """What the job queue reads of a finished clip for its ``/audioldm/done`` reply."""

    seconds: float
    sample_rate: int
    request: Seeded
    warnings: list[str] = field(default_factory=list)


@dataclass
class Relayed:
    """A clip rendered remotely and now on this computer's disk (the job queue's view of a render result)."""

    path: Path
    sidecar: Path
    clip: RelayedClip


def request_params(request: GenerateRequest) -> tuple[str, dict[str, Any]]:
    """A checked request -> the mode and parameters of the HTTP API (the names of engine/params.py), with every
    value explicit (the seed included) so the remote clip is the one this request describes. The input path
    is left out: the take travels with the request."""
    mode = request.mode
    spec = api.mode_spec(mode)
    names = set(spec.options) | {a.name for a in spec.args}
    source = request.typed_source
    params: dict[str, Any] = {}
    for param in P.PARAMS.values():
        if param.kind == P.PATH or param.door or param.name not in names or not param.applies_to(mode):
            continue
        value = getattr(source if param.source else request, param.field, None)
        if param.kind == P.LEVEL and value is None:
            value = P.OFF
        elif value is None or (param.kind == P.TEXT and value == ""):
            continue  # the engine's default (a mode whose prompt is optional leaves it out)
        elif param.kind == P.FLAG:
            value = int(bool(value))
        params[param.name] = value
    return mode, params


class Relay:
    """One or more remote engines, as the OSC server's job queue uses an engine (see the module docstring).

    ``urls``: the engines (``--engine``, in order); ``token``: their key; ``client_id``: this relay's id with
    them, kept across restarts (its jobs are visible to it alone)."""

    def __init__(
        self,
        urls: Iterable[str],
        token: str | None = None,
        client_id: str | None = None,
        *,
        verify: bool | str | Path = True,
        timeout: float = TIMEOUT_S,
        dead_for: float = DEAD_FOR_S,
    ) -> None:
        self._token, self._verify, self._timeout = token, verify, timeout
        self.engines: dict[str, RemoteEngine] = {}
        for url in urls:
            self.engines[url.rstrip("/")] = RemoteEngine(url, token, client_id, verify=verify, timeout=timeout)
        if not self.engines:
            raise InvalidRequest("--engine: give the URL of at least one engine, e.g. http://gpu.local:8750")
        self.client_id = next(iter(self.engines.values())).client_id
        self.dead_for = dead_for
        self._lock = threading.Lock()
        self._inflight: Counter[str] = Counter()
        self._dead_until: dict[str, float] = {}
        first = next(iter(self.engines))
        self.model = RemoteModel("remote", PurePosixPath(first), "remote")

    @property
    def workers(self) -> int:
        """Jobs the queue runs at once: two per engine, so each engine has the next job while it renders one."""
        return 2 * len(self.engines)

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()

    def connect(self) -> dict[str, dict[str, Any] | str]:
        """Each engine's ``/v1/info``, or the sentence saying why it did not answer. A wrong key is refused
        (InvalidRequest): every job would fail. The first engine that answers names the model."""
        out: dict[str, dict[str, Any] | str] = {}
        for url, engine in self.engines.items():
            try:
                info = engine.info()
            except RemoteError as exc:
                if exc.status == 401:
                    raise InvalidRequest(f"--engine {url}: {exc}") from None
                out[url] = str(exc)
                continue
            except EngineError as exc:
                out[url] = str(exc)
                continue
            out[url] = info
            if self.model.model_id == "remote":
                self.model = RemoteModel(str(info.get("model", "remote")), PurePosixPath(url), str(info.get("device")))
        return out

    # -- what the job queue calls ---------------------------------------------------------------------
    def check(self, request: GenerateRequest) -> None:
        """The checks that need the input file, made here where the file is (its model's checks are made by
        the engine that takes the job, and a refusal there fails the job with the engine's words)."""
        from audioldm_daw.engine.input_audio import check_request_input

        check_request_input(request)

    def render(
        self,
        request: GenerateRequest,
        out_path: str | Path,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Relayed:
        return self.relay(request, out_path, progress, cancel)

    def relay(
        self,
        request: GenerateRequest | None,
        out_path: str | Path,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        note: Callable[[dict[str, Any]], None] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> Relayed:
        """Render ``request`` on a remote engine into ``out_path`` (and its ``.json`` sidecar). ``note(ref)`` is
        told where each attempt went (the queue writes it to its journal); ``resume``: such a ref from an
        earlier run, whose remote job is followed (or, when its engine lost it, sent again).
        Raises Cancelled, EngineError in words (the engine's refusal, or every engine gone)."""
        out = Path(out_path)
        sidecar = out.with_suffix(".json")
        stop = cancel or (lambda: False)
        ref: dict[str, Any] = dict(resume) if resume else {}
        if request is None:
            try:
                request = GenerateRequest.from_dict(ref["request"])
            except (KeyError, TypeError, EngineError):
                request = None
        ref.setdefault("out", str(out))
        if request is not None:
            ref.setdefault("request", request.to_dict())
        url, remote = ref.get("engine"), ref.get("remote")
        tried: list[str] = []
        lost: EngineLost | None = None
        for _attempt in range(len(self.engines) + 2):
            if stop():
                raise Cancelled()
            if not url or not remote:
                if request is None:
                    break
                url, remote = self._send(request, tried, lost)
                ref.update(engine=url, remote=remote)
                if note is not None:
                    note(dict(ref))
            try:
                return self._follow(str(url), str(remote), out, sidecar, progress, stop)
            except EngineLost as exc:
                log.warning("job %s on %s: %s", remote, url, exc)
                lost = exc
                tried.append(str(url))
                url = remote = None
        if stop():
            raise Cancelled()
        raise EngineError(_lost_words(lost, tried, request is not None))

    # -- sending ------------------------------------------------------------------------------------------
    def _send(self, request: GenerateRequest, tried: list[str], lost: EngineLost | None) -> tuple[str, str]:
        """Queue ``request`` on the least busy engine not tried yet; the engine's refusal in its words."""
        mode, params = request_params(request)
        refusals: list[str] = []
        for url in self._by_load(tried):
            engine = self.engines[url]
            try:
                ids = engine.submit_takes(mode, params, request.input_path)
            except RemoteError as exc:
                if exc.status == 503:  # full or shutting down: another engine may take it
                    refusals.append(f"{url}: {exc}")
                    continue
                raise EngineError(f"the engine at {url} refused the job: {exc}") from None
            except EngineUnavailable:
                self._mark_dead(url)
                continue
            return url, ids[0]
        if refusals:
            raise EngineError("every engine refused the job for now (" + "; ".join(refusals) + ")")
        raise EngineError(_lost_words(lost, tried, True))

    def _by_load(self, tried: list[str]) -> list[str]:
        """The engines not tried yet, least busy first (their queue and this relay's jobs there); engines that
        did not answer lately come last, still tried when no other answers."""
        now = time.monotonic()
        ranked: list[tuple[int, float, int, str]] = []
        for order, url in enumerate(self.engines):
            if url in tried:
                continue
            with self._lock:
                dead = self._dead_until.get(url, 0.0) > now
                mine = self._inflight[url]
            if dead:
                ranked.append((1, 0.0, order, url))
                continue
            try:
                info = self.engines[url].info()
            except EngineError:
                self._mark_dead(url)
                ranked.append((1, 0.0, order, url))
                continue
            load = float(info.get("queue", 0)) + float(bool(info.get("running"))) + mine
            ranked.append((0, load, order, url))
        return [url for *_, url in sorted(ranked)]

    def _mark_dead(self, url: str) -> None:
        with self._lock:
            self._dead_until[url] = time.monotonic() + self.dead_for

    def _engine(self, url: str) -> RemoteEngine:
        """The client of ``url``: one of ``--engine``, or one a journal names that is no longer among them."""
        with self._lock:
            if url not in self.engines:
                self.engines[url] = RemoteEngine(
                    url, self._token, self.client_id, verify=self._verify, timeout=self._timeout
                )
            return self.engines[url]

    # -- following a remote job ---------------------------------------------------------------------------
    def _follow(
        self,
        url: str,
        remote: str,
        out: Path,
        sidecar: Path,
        progress: Callable[[int, int], None] | None,
        cancel: Callable[[], bool],
    ) -> Relayed:
        engine = self._engine(url)
        finished = threading.Event()

        def watch_cancel() -> None:
            while not finished.wait(CANCEL_POLL_S):
                if cancel():
                    with contextlib.suppress(EngineError):
                        engine.cancel(remote)
                    return

        watcher = threading.Thread(target=watch_cancel, name=f"relay-cancel-{remote[:13]}", daemon=True)
        with self._lock:
            self._inflight[url] += 1
        watcher.start()
        try:
            return self._stream(engine, url, remote, out, sidecar, progress)
        finally:
            finished.set()
            with self._lock:
                self._inflight[url] -= 1

    def _stream(
        self,
        engine: RemoteEngine,
        url: str,
        remote: str,
        out: Path,
        sidecar: Path,
        progress: Callable[[int, int], None] | None,
    ) -> Relayed:
        after: str | None = None
        for _resume in range(STREAM_RESUMES + 1):
            try:
                for event in engine.events(remote, after=after, timeout=STREAM_IDLE_S):
                    after = event.id or after
                    if event.name == api.PROGRESS and progress is not None:
                        progress(int(event.data.get("step", 0)), int(event.data.get("total", 0)))
                    elif event.name == api.DONE:
                        return self._fetch(engine, remote, out, sidecar, event.data)
                    elif event.name == api.CANCELLED:
                        raise Cancelled()
                    elif event.name == api.FAILED:
                        if event.data.get("lost"):
                            raise EngineLost(f"the engine at {url} stopped while it had the job")
                        raise EngineError(str(event.data.get("message") or "the job failed on the engine"))
            except EngineUnavailable:
                pass  # the stream broke: ask below whether the engine is still there
            except RemoteError as exc:
                if exc.status != 404:
                    raise EngineError(str(exc)) from None
                return self._gone(url, remote, out, sidecar)
            try:
                state = engine.job(remote)
            except EngineUnavailable:
                raise EngineLost(f"the engine at {url} stopped answering while it had the job") from None
            except RemoteError as exc:
                if exc.status != 404:
                    raise EngineError(str(exc)) from None
                return self._gone(url, remote, out, sidecar)
            if state.get("state") == "lost":
                raise EngineLost(f"the engine at {url} stopped while it had the job")
        raise EngineLost(f"the event stream of the engine at {url} kept breaking")

    def _gone(self, url: str, remote: str, out: Path, sidecar: Path) -> Relayed:
        """The engine no longer knows the job: its clip is here already (fetched just before a restart), or
        the engine restarted and forgot it (then it is sent again)."""
        if out.exists() and sidecar.exists():
            return _local(out, sidecar)
        raise EngineLost(f"the engine at {url} no longer knows the job (it was restarted)")

    def _fetch(self, engine: RemoteEngine, remote: str, out: Path, sidecar: Path, done: dict[str, Any]) -> Relayed:
        """Download the finished clip and sidecar to the queue's paths, then free the engine's copy."""
        try:
            engine.download_to(remote, out, sidecar)
        except EngineUnavailable:
            raise EngineLost(f"the engine at {engine.url} stopped answering before its clip came back") from None
        except RemoteError as exc:
            if exc.status == 410 and out.exists() and sidecar.exists():
                return _local(out, sidecar)
            raise EngineError(str(exc)) from None
        with contextlib.suppress(EngineError):
            engine.forget(remote)
        warning = str(done.get("warning") or "")
        seed = done.get("seed")
        return Relayed(
            out,
            sidecar,
            RelayedClip(
                float(done.get("seconds", 0.0)),
                int(done.get("sample_rate", 0)),
                Seeded(int(seed) if seed is not None else None),
                [warning] if warning else [],
            ),
        )


def _local(out: Path, sidecar: Path) -> Relayed:
    """A clip already downloaded (before a relay restart): its reply from its own files."""
    from audioldm_daw.engine.output import load_soundfile

    info = load_soundfile().info(str(out))
    try:
        seed = json.loads(sidecar.read_text())["request"]["seed"]
    except (OSError, ValueError, KeyError, TypeError):
        seed = None
    return Relayed(out, sidecar, RelayedClip(info.frames / info.samplerate, int(info.samplerate), Seeded(seed)))


def _lost_words(lost: EngineLost | None, tried: list[str], can_resend: bool) -> str:
    """Why a job could not be rendered anywhere, and what to do."""
    if lost is None:
        return (
            "lost: no engine answered (" + ", ".join(tried or ["none given"]) + "); check that `audioldm-daw serve "
            "--http` runs there and the network, then send the request again"
        )
    again = "no other engine could take it" if can_resend else "its request was not kept, so it cannot be resent"
    return f"lost: {lost} and {again}; send the request again when an engine is back"
