"""The Python client of a remote engine's HTTP API (``serve --http``; docs/HTTP.md): what a laptop relay,
``send`` or any script uses to render on a GPU machine elsewhere.

    engine = RemoteEngine("https://gpu.local:8750", token=key, client_id=load_client_id(path))
    job = engine.submit("variation", {"duration": 4, "seed": 1}, input_path="take.wav")
    for event in engine.events(job):        # queued, progress ..., then done / failed / cancelled
        print(event.name, event.data)
    wav, sidecar = engine.download(job, "clips/")

Why a client id: the engine shows, cancels and serves a job only to the id that sent it. It is a random text
the client keeps (:func:`load_client_id` keeps it in a file), so a relay that restarts finds its jobs again
with :meth:`RemoteEngine.jobs` and fetches what finished meanwhile. Downloads land atomically, as the
engine's own clips folder does: each file streams into a hidden temporary name beside its place and is
renamed when complete, the sidecar first, so a DAW watching the folder never sees half a clip nor a clip
without its sidecar. Every failure is an :class:`~audioldm_daw.engine.errors.EngineError` whose message is
the engine's sentence (:class:`RemoteError`, with the HTTP status) or says what to check
(:class:`~audioldm_daw.bridge.clients.client.EngineUnavailable`). Imports no torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from audioldm_daw.bridge import remote_api as api
from audioldm_daw.bridge.clients.client import EngineUnavailable, JobFailed
from audioldm_daw.bridge.protocol import ProtocolError
from audioldm_daw.engine.errors import EngineError, InvalidRequest

TIMEOUT_S = 30.0  # connect, read and write of one call (an event stream waits longer: see events)
CHUNK = 1 << 20


class RemoteError(EngineError):
    """The engine refused a call; ``status`` is the HTTP status, the message the engine's own sentence."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Event:
    """One event of a job: ``name`` (queued, progress, done, failed, cancelled), its data, its id in the stream
    (give it back as ``after`` to resume a stream that broke)."""

    name: str
    data: dict[str, Any]
    id: str = ""

    @property
    def final(self) -> bool:
        return self.name in api.FINAL_EVENTS


def load_client_id(path: str | Path) -> str:
    """The client id kept in ``path``; a new random one is written there (readable by its owner only) when the
    file is missing, so the same client finds its jobs after a restart."""
    file = Path(path).expanduser()
    if file.exists():
        text = file.read_text().strip()
        try:
            return api.check_client_id(text)
        except ValueError:
            raise InvalidRequest(
                f"{file}: expected a client id (16 to 128 letters, digits, - or _); delete the file to have a new one"
            ) from None
    file.parent.mkdir(parents=True, exist_ok=True)
    client_id = api.new_client_id()
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(client_id + "\n")
    return client_id


class RemoteEngine:
    """One engine's HTTP API, as one client (``client_id``) sees it. Thread-safe as httpx's Client is."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        client_id: str | None = None,
        *,
        verify: bool | str | Path = True,
        timeout: float = TIMEOUT_S,
    ) -> None:
        """``url``: the engine's base URL (``http://host:port`` or ``https://...``; a reverse proxy's path
        prefix may follow). ``token``: the engine's key (its ``--token-file``'s text). ``client_id``: this
        client's id (a new random one when None: keep :attr:`client_id` to find the jobs again).
        ``verify``: check the engine's TLS certificate (True), not (False), or against this CA or
        self-signed certificate file."""
        self.url = url.rstrip("/")
        self.client_id = api.check_client_id(client_id) if client_id else api.new_client_id()
        headers = {api.CLIENT_HEADER: self.client_id}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        context: bool | ssl.SSLContext = (
            verify if isinstance(verify, bool) else ssl.create_default_context(cafile=str(verify))
        )
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=context)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """name, version, api, model, device, gpu, queue (jobs waiting), running, modes, upload limits."""
        return dict(self._call("GET", f"{api.PREFIX}/info").json())

    def submit(self, mode: str, params: Mapping[str, Any], input_path: str | Path | None = None) -> str:
        """Queue one job and return its id (``count`` above 1 makes several: :meth:`submit_takes`)."""
        ids = self.submit_takes(mode, params, input_path)
        if len(ids) != 1:
            raise InvalidRequest(f"count: {len(ids)} takes were queued ({', '.join(ids)}); use submit_takes for them")
        return ids[0]

    def submit_takes(self, mode: str, params: Mapping[str, Any], input_path: str | Path | None = None) -> list[str]:
        """Queue a request (one job per take) and return the job ids. ``params`` by the names of
        engine/params.py; ``input_path``: the local take an input mode works on (uploaded with the request).
        The parameters are checked here first, by the same table as the engine, so a mistake costs no upload."""
        try:
            api.parse_params(mode, params)
        except ProtocolError as exc:
            raise InvalidRequest(exc.message) from None
        body = {"mode": mode, "params": dict(params)}
        if input_path is None:
            answer = self._call("POST", f"{api.PREFIX}/jobs", json=body)
        else:
            take = Path(input_path)
            try:
                handle = take.open("rb")
            except OSError as exc:
                raise InvalidRequest(
                    f"input: {take} cannot be read ({(exc.strerror or str(exc)).lower()}); check the path"
                ) from None
            with handle:
                files = {
                    api.REQUEST_PART: (None, json.dumps(body), "application/json"),
                    api.INPUT_PART: (take.name, handle, "application/octet-stream"),
                }
                answer = self._call("POST", f"{api.PREFIX}/jobs", files=files)
        return [str(job["id"]) for job in answer.json()["jobs"]]

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's state: id, mode, state, and (as they come) step, total, seconds, sample_rate, seed,
        warning or message."""
        return dict(self._call("GET", api.job_path(job_id)).json())

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        """This client's jobs the engine remembers (all, or those in ``state``, e.g. "done")."""
        params = {"state": state} if state else None
        return list(self._call("GET", f"{api.PREFIX}/jobs", params=params).json()["jobs"])

    def events(self, job_id: str, after: str | None = None, timeout: float | None = None) -> Iterator[Event]:
        """The job's events as they happen, from its first (or after the event id ``after``) to its final one;
        ``timeout``: the longest wait for the next event (None: as long as the job takes; the engine sends a
        keep-alive meanwhile)."""
        from httpx_sse import SSEError, connect_sse

        headers = {"Last-Event-ID": after} if after else {}
        wait = httpx.Timeout(self._http.timeout.connect, read=timeout)
        try:
            with connect_sse(self._http, "GET", api.job_path(job_id, "events"), headers=headers, timeout=wait) as src:
                if src.response.status_code >= 400:
                    src.response.read()
                    raise _refused(src.response)
                for sse in src.iter_sse():
                    if not sse.event or sse.event == "message":
                        continue
                    event = Event(sse.event, json.loads(sse.data) if sse.data else {}, sse.id)
                    yield event
                    if event.final:
                        return
        except SSEError:
            raise RemoteError(
                f"{self.url} did not answer with an event stream; is it an audioldm-daw engine?", 502
            ) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def wait(self, job_id: str, timeout: float | None = None) -> Event:
        """The job's final event; :class:`JobFailed` when it failed (its message is the engine's)."""
        for event in self.events(job_id, timeout=timeout):
            if event.final:
                if event.name == api.FAILED:
                    raise JobFailed(str(event.data.get("message", "the job failed")), job_id)
                return event
        raise RemoteError(f"the event stream of job {job_id!r} ended before the job did; ask again", 502)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (a running one stops at its next step: its cancelled event says so)."""
        return dict(self._call("POST", api.job_path(job_id, "cancel")).json())

    def forget(self, job_id: str) -> None:
        """Remove a finished job's clip and sidecar from the engine (after :meth:`download`)."""
        self._call("DELETE", api.job_path(job_id))

    def download(self, job_id: str, folder: str | Path, name: str | None = None) -> tuple[Path, Path]:
        """Fetch a finished job's clip and sidecar into ``folder`` as ``name.wav`` and ``name.json`` (default: the
        job id; ``-2``, ``-3`` ... when taken), each atomically; returns both paths."""
        target = Path(folder).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        stem = name or job_id
        wav, side = target / f"{stem}.wav", target / f"{stem}.json"
        n = 1
        while wav.exists() or side.exists():
            n += 1
            wav, side = target / f"{stem}-{n}.wav", target / f"{stem}-{n}.json"
        return self.download_to(job_id, wav, side)

    def download_to(self, job_id: str, wav: str | Path, sidecar: str | Path) -> tuple[Path, Path]:
        """Fetch a finished job's clip and sidecar to exactly these paths (a relay that chose them when the job
        was sent), each atomically and the sidecar first; a file already there is replaced."""
        wav, side = Path(wav), Path(sidecar)
        self._fetch(api.job_path(job_id, "sidecar"), side)
        try:
            self._fetch(api.job_path(job_id, "clip"), wav)
        except BaseException:
            side.unlink(missing_ok=True)
            raise
        return wav, side

    # -- plumbing ----------------------------------------------------------------------------------------
    def _fetch(self, path: str, dest: Path) -> None:
        part = dest.with_name(f".{dest.name}.part")
        try:
            with self._http.stream("GET", path) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    raise _refused(answer)
                with open(part, "wb") as out:
                    for chunk in answer.iter_bytes(CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(part, dest)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        except OSError as exc:
            raise EngineError(
                f"{dest}: the download could not be written ({(exc.strerror or str(exc)).lower()}); free some space "
                "or choose another folder, then download again (the engine keeps the clip)"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if answer.status_code >= 400:
            raise _refused(answer)
        return answer

    def _unreachable(self, exc: httpx.HTTPError) -> EngineError:
        if isinstance(exc, httpx.TimeoutException):
            return EngineUnavailable(f"the engine at {self.url} did not answer in time; check it is running")
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return EngineUnavailable(
                f"the engine at {self.url} showed a TLS certificate this computer does not trust; give its "
                "certificate (or its CA's) to trust: --engine-ca PEM on the command line, verify=PATH in Python"
            )
        return EngineUnavailable(
            f"no engine answered at {self.url}; check the address, that `audioldm-daw serve --http` runs there, "
            "and the firewall"
        )


def _refused(answer: httpx.Response) -> RemoteError:
    try:
        message = str(answer.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"the engine answered HTTP {answer.status_code} without a reason; is it an audioldm-daw engine?"
    return RemoteError(message, answer.status_code)
