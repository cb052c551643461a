"""The HTTP door of the engine (``serve --http HOST:PORT``): a versioned JSON API on Starlette, served by uvicorn,
for a laptop (or a relay, or a script) on another computer. docs/HTTP.md is its reference.

Why it shares the OSC server's job queue rather than running its own: one engine renders one job at a time,
so both doors must wait in one line, and the journal must see every job (a crash then reports HTTP jobs lost
too). The queue reaches HTTP clients through :meth:`JobQueue.add_door`: a job's replies (queued, progress,
done, fail, cancelled) become the events of its record here, which ``GET /v1/jobs/{id}/events`` streams as
server-sent events (with ids, so a client that reconnects with ``Last-Event-ID`` misses nothing).

Who may do what: with a key (``--token-file``) every request carries ``Authorization: Bearer KEY``, compared in
constant time, from loopback too (a reverse proxy on the same computer makes every request look local). A
client names itself with a random id in the ``X-AudioLDM-Client`` header; a job belongs to that id, and any
other id is told there is no such job (404), so one client cannot learn that another's job exists. The
engine names HTTP jobs itself, and never opens a path a client sends: input audio travels in the request
(multipart), is written only into the engine's upload folder under a name the engine makes, bounded in size
while it streams in and in length from its header before a sample is decoded, and removed when its job ends.
Every refusal is a JSON body ``{"error": sentence}`` with the status code that fits.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from audioldm_daw import __version__
from audioldm_daw.bridge import remote_api as api
from audioldm_daw.bridge.protocol import ProtocolError, osc_name
from audioldm_daw.bridge.server.jobs import CANCELLED, DONE, FAILED, FINISHED, LOST, QUEUED, Client, JobError
from audioldm_daw.engine.errors import EngineError, InvalidRequest
from audioldm_daw.engine.params import MAX_INPUT_SECONDS

if TYPE_CHECKING:
    import uvicorn
    from python_multipart.multipart import MultipartCallbacks

    from audioldm_daw.bridge.server.jobs import JobQueue
    from audioldm_daw.bridge.server.ports import EnginePort

log = logging.getLogger(__name__)
access = logging.getLogger("audioldm_daw.access")

MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # a long studio take in 24-bit stereo fits; a disk-filling stream does not
MAX_REQUEST_PART = 64 * 1024  # the JSON of a request (a prompt is the longest thing in it)
MAX_UPLOADS_AT_ONCE = 8  # uploads streaming in together: more wait their turn as a refusal, not on the disk
HISTORY = 1000  # finished HTTP jobs remembered for their owners (the job queue keeps as many)
REMOTE_FOLDER = "remote"  # the clips folder's subfolder that HTTP jobs write into
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".aif", ".aiff", ".ogg"})
SSE_PING_S = 15  # a comment line this often keeps proxies from closing a quiet event stream
CLIENT_PREFIX = "http:"  # the host part of an HTTP client in the job queue (and the journal): never an address

KEY_NEEDED = (
    "this engine needs its key: send the header 'Authorization: Bearer KEY', KEY being the text in the file the "
    "engine's --token-file names (its path is printed when serve starts)"
)
WRONG_KEY = (
    "this is not the engine's key: send the text of the file the engine's --token-file names (its path is printed "
    "when serve starts) as 'Authorization: Bearer KEY'"
)


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API: the routes and docs/HTTP.md (server/http_docs.py) are both made from these."""

    method: str
    path: str
    handler: str  # the HttpDoor method that answers it
    doc: str
    answer: str
    client: bool = True  # needs the client id header


J = f"{api.PREFIX}/jobs/{{job_id}}"
ENDPOINTS = (
    Endpoint("GET", f"{api.PREFIX}/info", "info", "who the engine is and how busy", "200 JSON", client=False),
    Endpoint(
        "POST",
        f"{api.PREFIX}/jobs",
        "submit",
        'queue a job: JSON `{"mode", "params"}`, or multipart/form-data with that JSON as the `request` part and '
        "the take as the `input` part (the input modes)",
        '202 `{"jobs": [job, ...]}` (one per take of `count`)',
    ),
    Endpoint("GET", f"{api.PREFIX}/jobs", "list_jobs", "your jobs (`?state=done` ...)", '200 `{"jobs": [...]}`'),
    Endpoint("GET", J, "job", "one job's state", "200 job"),
    Endpoint("GET", f"{J}/events", "events", "the job's events, as server-sent events", "200 text/event-stream"),
    Endpoint("POST", f"{J}/cancel", "cancel", "cancel a queued or running job", "202 job; 409 when finished"),
    Endpoint("GET", f"{J}/clip", "clip", "the finished clip", "200 audio/wav; 409 when not done"),
    Endpoint("GET", f"{J}/sidecar", "sidecar", "the finished clip's sidecar", "200 JSON; 409 when not done"),
    Endpoint(
        "DELETE", J, "forget", "remove a finished job's clip and sidecar from the engine", "204; 409 when not finished"
    ),
)


class Refusal(Exception):
    """A request the door answers with ``status`` and a sentence (the JSON body's ``error``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def owner_mark(client_id: str) -> str:
    """What the queue and the journal keep of a client id: a hash, so the state folder never holds the id."""
    return hashlib.sha256(b"audioldm-daw http client\0" + client_id.encode()).hexdigest()[:32]


def is_http_client(client: Client) -> bool:
    """Whether a queue client is one of this door's (its replies come here, not over UDP)."""
    return bool(client) and str(client[0]).startswith(CLIENT_PREFIX)


@dataclass
class Upload:
    """An uploaded take in the upload folder; removed when the last of its jobs has ended."""

    path: Path
    jobs: int = 0

    def release(self) -> None:
        self.jobs -= 1
        if self.jobs <= 0:
            self.path.unlink(missing_ok=True)


@dataclass
class RemoteJob:
    """One HTTP job as its owner sees it: the events so far (the stream replays them), the result."""

    id: str
    owner: str
    mode: str
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    events: list[dict[str, Any]] = field(default_factory=list)
    upload: Upload | None = None
    path: Path | None = None  # the clip on the engine's disk: served by download, never shown
    result: dict[str, Any] = field(default_factory=dict)
    # The streams waiting for its next event, each with its event loop (two servers may serve one door: plain
    # and TLS); touched under the door's lock.
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        """The job as the API shows it (no path on the engine's disk)."""
        out: dict[str, Any] = {"id": self.id, "mode": self.mode, "state": self.state, "created": self.created}
        out.update(self.result)
        if self.state == DONE:
            out["clip"] = api.job_path(self.id, "clip")
            out["sidecar"] = api.job_path(self.id, "sidecar")
        return out


class HttpDoor:
    """The HTTP API of one engine, over the job queue the OSC server runs (see the module docstring)."""

    def __init__(
        self,
        engine: EnginePort,
        jobs: JobQueue,
        upload_dir: Path,
        *,
        key: str | None = None,
        name: str = "",
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_upload_seconds: float = MAX_INPUT_SECONDS,
        max_uploads_at_once: int = MAX_UPLOADS_AT_ONCE,
        history: int = HISTORY,
    ) -> None:
        """``upload_dir``: the engine's own upload folder (emptied now: what is there was left by a crash)."""
        self.engine = engine
        self.jobs = jobs
        self.key = key.encode() if key else None
        self.name = name or socket.gethostname()
        self.max_upload_bytes = max_upload_bytes
        self.max_upload_seconds = max_upload_seconds
        self.history = history
        self.upload_dir = Path(upload_dir)
        if self.upload_dir.exists():
            shutil.rmtree(self.upload_dir, ignore_errors=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._records: OrderedDict[str, RemoteJob] = OrderedDict()
        self._uploads = threading.BoundedSemaphore(max_uploads_at_once)
        self.gpu = gpu_name(engine)
        jobs.add_door(is_http_client, self.deliver)
        routes = [
            Route(e.path, self._endpoint(getattr(self, e.handler), client=e.client), methods=[e.method])
            for e in ENDPOINTS
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})  # type: ignore[dict-item]

    # -- replies from the job queue (its worker thread, or the thread that submits or cancels) -------------------
    def deliver(self, client: Client, address: str, args: list[Any]) -> None:
        """A queue reply for one of this door's clients -> an event of its job; wakes the streams that wait."""
        job_id = str(args[0]) if args else ""
        with self._lock:
            record = self._records.get(job_id)
            if record is None:
                if address != "/audioldm/fail":
                    return
                # A job an earlier run lost (the queue tells its client at start): its owner may still ask.
                record = RemoteJob(job_id, str(client[0])[len(CLIENT_PREFIX) :], "", state=LOST)
                self._records[job_id] = record
            if record.state in FINISHED and (record.state != LOST or record.events):
                return  # a job ends once; a late reply (a cancel racing the last step) changes nothing
            event: dict[str, Any]
            if address == "/audioldm/queued":
                event = {"event": api.QUEUED, "position": int(args[1])}
            elif address == "/audioldm/progress":
                record.state = "running"
                event = {"event": api.PROGRESS, "step": int(args[1]), "total": int(args[2])}
                record.result.update(step=int(args[1]), total=int(args[2]))
            elif address == "/audioldm/done":
                record.state = DONE
                record.path = Path(args[1])
                record.result.update(seconds=float(args[2]), sample_rate=int(args[3]), seed=int(args[4]))
                record.result.update(warning=str(args[5]))
                event = {"event": api.DONE, **record.result}
            elif address == "/audioldm/fail":
                record.state = LOST if record.state == LOST else FAILED
                record.result["message"] = self._hide_paths(str(args[1]))
                event = {"event": api.FAILED, "message": record.result["message"], "lost": record.state == LOST}
            elif address == "/audioldm/cancelled":
                record.state = CANCELLED
                event = {"event": api.CANCELLED}
            else:
                return
            event["id"] = record.id
            record.events.append(event)
            if record.state in FINISHED and record.upload is not None:
                record.upload.release()
                record.upload = None
            self._forget_old()
            waiters = list(record.waiters)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits there any more
                loop.call_soon_threadsafe(waiter.set)

    def _forget_old(self) -> None:
        finished = [k for k, r in self._records.items() if r.state in FINISHED]
        for key in finished[: max(0, len(finished) - self.history)]:
            del self._records[key]

    def _hide_paths(self, message: str) -> str:
        """A message without the engine's upload folder in it (the client knows its file by its own name)."""
        folder = str(self.upload_dir)
        if folder not in message:
            return message
        words = message.split()
        return " ".join("the uploaded audio" if folder in w else w for w in words)

    # -- plumbing: key, client id, refusals as JSON ---------------------------------------------------------
    def _endpoint(
        self, handler: Callable[..., Awaitable[Response]], *, client: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                self._check_key(request)
                if not client:
                    return await handler(request)
                try:
                    client_id = api.check_client_id(request.headers.get(api.CLIENT_HEADER))
                except ValueError as exc:
                    raise Refusal(400, str(exc)) from None
                return await handler(request, owner_mark(client_id))
            except Refusal as exc:
                return refusal(exc.status, exc.message)

        return run

    def _check_key(self, request: Request) -> None:
        if self.key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Refusal(401, KEY_NEEDED)
        if not hmac.compare_digest(given.strip().encode(), self.key):
            raise Refusal(401, WRONG_KEY)

    def _own(self, job_id: str, owner: str) -> RemoteJob:
        with self._lock:
            record = self._records.get(job_id)
        if record is None or record.owner != owner:
            raise Refusal(
                404,
                f"no job {job_id[:80]!r} of yours on this engine (unknown, sent by another client, or finished "
                "long ago); GET /v1/jobs lists yours",
            )
        return record

    # -- endpoints ---------------------------------------------------------------------------------------
    async def info(self, request: Request) -> Response:
        """What discovery and least-busy scheduling need: who the engine is and how busy."""
        waiting, running = self.jobs.status()
        model = self.engine.model
        return JSONResponse(
            {
                "name": self.name,
                "version": __version__,
                "api": api.API_VERSION,
                "model": str(model.model_id),
                "device": str(model.device),
                "gpu": self.gpu,
                "queue": waiting,
                "running": bool(running),
                "modes": list(api.P.MODES),
                "max_upload_bytes": self.max_upload_bytes,
                "max_upload_seconds": self.max_upload_seconds,
            }
        )

    async def submit(self, request: Request, owner: str) -> Response:
        """``POST /v1/jobs``: JSON ``{"mode", "params"}``, or multipart with that JSON as the ``request`` part and
        the input audio as the ``input`` part. Answers 202 with the queued job(s)."""
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        upload: Upload | None = None
        try:
            if kind == "application/json":
                body = await _read_bounded(request, MAX_REQUEST_PART)
                fields = _json_object(body)
            elif kind == "multipart/form-data":
                fields, upload = await self._read_multipart(request)
            else:
                raise Refusal(
                    415,
                    f"expected a JSON request (Content-Type: application/json) or, with input audio, "
                    f"multipart/form-data; got {kind[:60] or 'no Content-Type'}",
                )
            return await self._queue(fields, upload, owner)
        finally:
            if upload is not None:
                with self._lock:
                    if upload.jobs <= 0:  # refused (or all its jobs ended already): the take goes at once
                        upload.path.unlink(missing_ok=True)

    async def _queue(self, fields: dict[str, Any], upload: Upload | None, owner: str) -> Response:
        mode = fields.get("mode")
        unknown = sorted(set(fields) - {"mode", "params"})
        if unknown:
            raise Refusal(400, f"unknown field(s) {', '.join(unknown)[:120]}: a request has only mode and params")
        try:
            req = api.parse_params(str(mode) if mode is not None else "", fields.get("params") or {})
        except ProtocolError as exc:
            raise Refusal(422, exc.message) from None
        mode = str(mode)
        if api.takes_input(mode) and upload is None:
            raise Refusal(
                422,
                f"{mode} works on input audio: send the request as multipart/form-data with the take as its "
                f"{api.INPUT_PART!r} part",
            )
        if upload is not None and not api.takes_input(mode):
            raise Refusal(422, f"{mode} takes no input audio: leave the {api.INPUT_PART!r} part out")
        if upload is not None:
            await run_in_threadpool(self._check_take, upload.path)
            req.values["input_path"] = str(upload.path)
        try:
            takes = req.to_takes()
        except ProtocolError as exc:
            raise Refusal(422, self._hide_paths(exc.message)) from None
        try:
            await run_in_threadpool(self.engine.check, takes[0])
        except InvalidRequest as exc:
            raise Refusal(422, self._hide_paths(exc.message(osc_name))) from None
        except EngineError as exc:
            raise Refusal(422, self._hide_paths(str(exc))) from None
        client: Client = (CLIENT_PREFIX + owner, 0)
        queued: list[dict[str, Any]] = []
        if upload is not None:
            with self._lock:  # every take holds the take before the first can end and let it go
                upload.jobs = len(takes)
        for k, take in enumerate(takes):
            job_id = f"http-{uuid.uuid4().hex}"
            record = RemoteJob(job_id, owner, mode, upload=upload)
            with self._lock:
                self._records[job_id] = record
            try:
                self.jobs.submit(take, job_id, client, name=job_id, address=req.spec.address, folder=REMOTE_FOLDER)
            except JobError as exc:
                with self._lock:
                    self._records.pop(job_id, None)
                    if upload is not None:
                        for _ in takes[k:]:
                            upload.release()
                if not queued:
                    raise Refusal(503, str(exc)) from None
                break  # some takes are queued: say which, and that the rest were refused
            queued.append(record.describe() | {"position": record.events[0]["position"] if record.events else 0})
        access.info("http %s: %d job(s) from client %s", mode, len(queued), owner[:8])
        body: dict[str, Any] = {"jobs": queued}
        if len(queued) < len(takes):
            body["error"] = (
                f"only {len(queued)} of {len(takes)} takes were queued: the queue is full; send the rest again later"
            )
        return JSONResponse(body, status_code=202)

    def _check_take(self, path: Path) -> None:
        """The uploaded take's header, before a sample is decoded: audio soundfile reads, and not too long."""
        from audioldm_daw.engine.output import load_soundfile

        try:
            info = load_soundfile().info(str(path))
        except (RuntimeError, TypeError, OSError):
            raise Refusal(
                415, "the uploaded input is not audio the engine can read (expected WAV, FLAC, AIFF or OGG)"
            ) from None
        seconds = info.frames / info.samplerate if info.samplerate else 0.0
        if seconds > self.max_upload_seconds:
            raise Refusal(
                413,
                f"the uploaded input is {seconds:.1f} s long, more than this engine takes "
                f"({self.max_upload_seconds:g} s); cut the passage you want out of the take",
            )

    async def _read_multipart(self, request: Request) -> tuple[dict[str, Any], Upload | None]:
        """Stream a multipart body: the ``request`` part into memory (bounded), the ``input`` part into a new
        file of the upload folder (bounded while it streams: a refusal stops reading)."""
        from python_multipart.multipart import MultipartParser, parse_options_header

        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_upload_bytes + MAX_REQUEST_PART:
            raise Refusal(413, self._too_large(int(length)))
        _, options = parse_options_header(request.headers.get("content-type"))
        boundary = options.get(b"boundary")
        if not boundary:
            raise Refusal(400, "the multipart body has no boundary in its Content-Type; let your HTTP library build it")
        if not self._uploads.acquire(blocking=False):
            raise Refusal(503, "the engine takes as many uploads at once as it can; send the request again shortly")
        state = _Parts(self)
        try:
            callbacks = cast("MultipartCallbacks", state.callbacks())
            parser = MultipartParser(boundary, callbacks, max_size=self.max_upload_bytes + MAX_REQUEST_PART)
            async for chunk in request.stream():
                parser.write(chunk)
                state.raise_if_refused()
            parser.finalize()
            state.raise_if_refused()
            state.close()
        except BaseException:
            state.discard()
            raise
        finally:
            self._uploads.release()
        if state.request is None:
            raise Refusal(400, f"the multipart body has no {api.REQUEST_PART!r} part (the JSON of mode and params)")
        fields = _json_object(bytes(state.request))
        return fields, (Upload(state.path) if state.path is not None and state.wrote_input else None)

    def _too_large(self, size: int) -> str:
        return (
            f"the upload is {size / 2**20:.1f} MB, more than this engine takes ({self.max_upload_bytes / 2**20:g} "
            "MB); cut the passage you want out of the take, or export it at a lower rate or in FLAC"
        )

    async def list_jobs(self, request: Request, owner: str) -> Response:
        """``GET /v1/jobs``: the caller's own jobs (a relay that restarted fetches what finished meanwhile)."""
        want = request.query_params.get("state")
        if want is not None and want not in api.STATES:
            raise Refusal(400, f"state: expected one of {', '.join(api.STATES)}, got {want[:40]!r}")
        with self._lock:
            mine = [r.describe() for r in self._records.values() if r.owner == owner]
        return JSONResponse({"jobs": [j for j in mine if want is None or j["state"] == want]})

    async def job(self, request: Request, owner: str) -> Response:
        record = self._own(request.path_params["job_id"], owner)
        with self._lock:
            return JSONResponse(record.describe())

    async def events(self, request: Request, owner: str) -> Response:
        """``GET /v1/jobs/{id}/events``: the job's events as server-sent events, from the first one (or after
        ``Last-Event-ID``) to its final one (done, failed or cancelled), then the stream ends."""
        from sse_starlette import EventSourceResponse, ServerSentEvent

        record = self._own(request.path_params["job_id"], owner)
        after = request.headers.get("last-event-id", "")
        start = int(after) + 1 if after.isdigit() else 0

        async def stream() -> AsyncIterator[ServerSentEvent]:
            index = start
            waiter = (asyncio.get_running_loop(), asyncio.Event())
            try:
                while True:
                    with self._lock:
                        fresh = record.events[index:]
                        ended = record.state in FINISHED
                        waiter[1].clear()  # under the lock: an event appended after this read sets it again
                        record.waiters.add(waiter)
                    for event in fresh:
                        data = {k: v for k, v in event.items() if k != "event"}
                        yield ServerSentEvent(json.dumps(data), event=event["event"], id=str(index))
                        index += 1
                    if ended:
                        with self._lock:
                            if index >= len(record.events):
                                return
                        continue
                    if fresh:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(waiter[1].wait(), SSE_PING_S)
            finally:
                with self._lock:
                    record.waiters.discard(waiter)

        return EventSourceResponse(stream(), ping=SSE_PING_S, headers={"Cache-Control": "no-store"})

    async def cancel(self, request: Request, owner: str) -> Response:
        """``POST /v1/jobs/{id}/cancel``: a queued job ends at once, a running one at its next step (its
        ``cancelled`` event says when); a finished one cannot be cancelled (409)."""
        record = self._own(request.path_params["job_id"], owner)
        try:
            self.jobs.cancel(record.id, (CLIENT_PREFIX + owner, 0))
        except JobError as exc:
            raise Refusal(409, str(exc)) from None
        with self._lock:
            return JSONResponse(record.describe(), status_code=202)

    async def forget(self, request: Request, owner: str) -> Response:
        """``DELETE /v1/jobs/{id}``: a finished job's clip and sidecar are removed from the engine, and the
        job forgotten (a relay does this once it has both)."""
        record = self._own(request.path_params["job_id"], owner)
        if record.state not in FINISHED:
            raise Refusal(409, f"job {record.id!r} is {record.state}: cancel it first, then forget it")
        with self._lock:
            self._records.pop(record.id, None)
        if record.path is not None:
            record.path.unlink(missing_ok=True)
            record.path.with_suffix(".json").unlink(missing_ok=True)
        return Response(status_code=204)

    async def clip(self, request: Request, owner: str) -> Response:
        path = self._finished(request.path_params["job_id"], owner)
        return FileResponse(path, media_type="audio/wav", filename=path.name, headers={"Cache-Control": "no-store"})

    async def sidecar(self, request: Request, owner: str) -> Response:
        path = self._finished(request.path_params["job_id"], owner).with_suffix(".json")
        return FileResponse(
            path, media_type="application/json", filename=path.name, headers={"Cache-Control": "no-store"}
        )

    def _finished(self, job_id: str, owner: str) -> Path:
        record = self._own(job_id, owner)
        if record.state != DONE or record.path is None:
            raise Refusal(409, f"job {record.id!r} has no clip to download (it is {record.state})")
        if not record.path.is_file():
            raise Refusal(
                410, f"the clip of job {record.id!r} is no longer on the engine (its clips folder was tidied)"
            )
        return record.path


class _Parts:
    """The callbacks of python-multipart's streaming parser: which part is which, where its bytes go."""

    def __init__(self, door: HttpDoor) -> None:
        self.door = door
        self.request: bytearray | None = None
        self.path: Path | None = None
        self.wrote_input = False
        self._file: Any = None
        self._header_field = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: str | None = None
        self._size = 0
        self._refusal: Refusal | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: setattr(self, "_header_field", self._header_field + d[s:e]),
            "on_header_value": self._header_value,
            "on_header_end": lambda: setattr(self, "_header_field", b""),
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._current, self._header_field = {}, None, b""

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        name = self._header_field.lower()
        self._headers[name] = self._headers.get(name, b"") + data[start:end]

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("latin-1")
        if self._refusal is not None:
            return
        if name == api.REQUEST_PART and self.request is None:
            self._current, self.request = name, bytearray()
        elif name == api.INPUT_PART and self.path is None:
            # Only the suffix of the sender's file name is kept (and only a known audio one): the file is the
            # engine's, under a name the engine makes, in the engine's upload folder.
            given = disposition.get(b"filename", b"").decode("utf-8", "replace")
            suffix = Path(given).suffix.lower() if Path(given).suffix.lower() in AUDIO_SUFFIXES else ""
            self.path = self.door.upload_dir / f"{uuid.uuid4().hex}{suffix}"
            try:
                self._file = open(self.path, "xb")  # noqa: SIM115 (closed in _end, close or discard)
            except OSError as exc:
                self._refusal = Refusal(507, _disk_words(exc))
                return
            self._current = name
        else:
            self._refusal = Refusal(
                400,
                f"unexpected multipart part {name[:40]!r}: a request has one {api.REQUEST_PART!r} part (JSON) and at "
                f"most one {api.INPUT_PART!r} part (the audio)",
            )

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._refusal is not None or self._current is None:
            return
        chunk = data[start:end]
        if self._current == api.REQUEST_PART:
            assert self.request is not None
            if len(self.request) + len(chunk) > MAX_REQUEST_PART:
                self._refusal = Refusal(413, f"the request part is longer than {MAX_REQUEST_PART // 1024} kB")
                return
            self.request += chunk
            return
        self._size += len(chunk)
        if self._size > self.door.max_upload_bytes:
            self._refusal = Refusal(413, self.door._too_large(self._size))
            return
        try:
            self._file.write(chunk)
        except OSError as exc:
            self._refusal = Refusal(507, _disk_words(exc))
            return
        self.wrote_input = True

    def _end(self) -> None:
        if self._current == api.INPUT_PART and self._file is not None:
            self._file.close()
            self._file = None
        self._current = None

    def raise_if_refused(self) -> None:
        if self._refusal is not None:
            raise self._refusal

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _disk_words(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the engine's disk is full: the upload cannot be stored; try again when the engine has space"
    return (
        f"the engine could not store the upload ({(exc.strerror or 'unknown reason').lower()}); its log has the "
        "details; send the request again"
    )


async def _read_bounded(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, f"the request is longer than {limit // 1024} kB; a prompt that long is never read whole")
    return bytes(body)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, 'the request is not JSON: expected {"mode": "generate", "params": {...}}') from None
    if not isinstance(value, dict):
        raise Refusal(400, 'the request should be a JSON object: {"mode": "generate", "params": {...}}')
    return value


def refusal(status: int, message: str) -> JSONResponse:
    """The one shape of every refusal: ``{"error": sentence}``, with a key challenge on 401."""
    headers = {"WWW-Authenticate": 'Bearer realm="audioldm-daw"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return refusal(
            404, f"no such endpoint {request.url.path[:100]}; the API lives under {api.PREFIX}/ (docs/HTTP.md)"
        )
    if exc.status_code == 405:
        return refusal(405, f"{request.method} is not an operation of {request.url.path[:100]} (docs/HTTP.md)")
    return refusal(exc.status_code, str(exc.detail))


def gpu_name(engine: EnginePort) -> str:
    """The GPU's name, "" on a CPU engine."""
    device = getattr(engine.model, "device", None)
    if getattr(device, "type", "") != "cuda":
        return ""
    try:
        import torch

        return str(torch.cuda.get_device_name(device))
    except Exception:  # a driver that cannot say: the device string still tells it is a GPU
        return str(device)


# -- serving ---------------------------------------------------------------------------------------------
def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port); ValueError in words."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--http: expected HOST:PORT such as 127.0.0.1:8750 or 0.0.0.0:8750, got {text!r}")
    return host, int(port)


def bind_tcp(host: str, port: int) -> socket.socket:
    """The HTTP door's listening socket, bound now (before the model load) and kept; a sentence when it cannot be."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"--http: cannot listen on {host}:{port} ({(exc.strerror or str(exc)).lower()})") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(
                f"--http: another program already listens on {host}:{port}; stop it, or choose another port"
            ) from None
        raise ValueError(f"--http: cannot listen on {host}:{port} ({(exc.strerror or str(exc)).lower()})") from None
    return sock


class HttpServer:
    """uvicorn serving a door's app on a bound socket, on a thread of its own (the OSC server has the main one)."""

    def __init__(
        self, door: HttpDoor, sock: socket.socket, *, tls_cert: str | None = None, tls_key: str | None = None
    ) -> None:
        import uvicorn

        self.door = door
        self.sock = sock
        self.tls = bool(tls_cert)
        config = uvicorn.Config(
            door.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self.server: uvicorn.Server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="audioldm-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a thread; returns once uvicorn listens (or raises ValueError when it could not start)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise ValueError(
                "--http: the HTTP server did not start (check --tls-cert and --tls-key: a certificate and its "
                "private key, in PEM)"
            )

    def close(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self.sock.close()


def check_tls(cert: str | None, key: str | None) -> None:
    """Refuse, before the model load, a TLS pair that is half given or cannot be read, in words."""
    if bool(cert) != bool(key):
        raise ValueError("--tls-cert and --tls-key go together: give the certificate and its private key (PEM)")
    if not cert or not key:
        return
    import ssl

    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise ValueError(f"{option} {path}: expected a readable PEM file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError):
        raise ValueError(
            f"--tls-cert {cert} and --tls-key {key} are not a certificate and its private key in PEM; check both "
            "files (openssl x509 -in CERT -noout -text shows a certificate)"
        ) from None
