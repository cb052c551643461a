"""``send --engine URL`` and ``inbox --engine URL``: the OSC client's surface over remote engines' HTTP API.

Why the same surface as :class:`~audioldm_daw.bridge.clients.client.EngineClient` (connect, submit, wait,
cancel, close, and the same replies: queued, progress, done, fail, cancelled): ``send`` and the inbox watcher
build, check and follow their requests exactly as they do with an engine on this computer, so their output,
their words and their exit codes stay the same; only where the clip is made changes. Each take is handed to a
:class:`~audioldm_daw.bridge.clients.relay.Relay`, the code ``serve --engine`` renders with: the least busy
engine takes it, the input take is uploaded with it, a job whose engine stops is sent again to another one,
and the clip and its sidecar are downloaded atomically (hidden temporary name, then rename, sidecar first)
into the local clips folder (or where the caller asks), so every path printed is a path on this computer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from audioldm_daw.bridge.clients.client import EngineUnavailable, JobFailed, Result, Take
from audioldm_daw.bridge.clients.relay import Relay
from audioldm_daw.bridge.clients.remote import TIMEOUT_S
from audioldm_daw.bridge.protocol import ProtocolError, parse_request
from audioldm_daw.engine.errors import Cancelled, EngineError, InvalidRequest

CLOSE_WAIT_S = 5.0  # at close, how long cancelled takes get to tell their engine (a daemon thread after that)


class RemoteClient:
    """Remote engines (``urls``: each ``--engine``) as ``send`` and the inbox use an engine. ``key``: the
    engines' key; ``verify``: check their TLS certificates (True), or against this CA / self-signed file;
    ``folder``: where clips land (default: the local clips folder, as ``serve`` uses it)."""

    def __init__(
        self,
        urls: Iterable[str],
        key: str | None = None,
        *,
        verify: bool | str | Path = True,
        folder: str | Path | None = None,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self.relay = Relay(urls, key, None, verify=verify, timeout=timeout)
        if folder is None:
            from audioldm_daw.engine.output import default_clips_dir

            folder = default_clips_dir()
        self.folder = Path(folder).expanduser()
        self.backlog: list[tuple[str, list[Any]]] = []  # EngineClient's held-back replies: none are held here
        self.placed: dict[str, str] = {}  # job id -> the engine that took it
        self._events: queue.Queue[tuple[str, list[Any]]] = queue.Queue()
        self._cancelled: set[str] = set()
        self._taken: set[Path] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def where(self) -> str:
        """The engines, as a person reads them."""
        return ", ".join(self.relay.engines)

    def close(self) -> None:
        """Let cancelled takes tell their engines (bounded), then close the connections."""
        deadline = time.monotonic() + CLOSE_WAIT_S
        for thread in self._threads:
            if self._cancelled:
                thread.join(max(0.0, deadline - time.monotonic()))
        self.relay.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self, timeout: float | None = None) -> dict[str, dict[str, Any] | str]:
        """Ask every engine who it is; EngineUnavailable (each engine's reason) when none answers, and
        InvalidRequest when the key is not theirs. ``timeout`` is EngineClient's; each call has its own here."""
        answered = self.relay.connect()
        if not any(isinstance(info, dict) for info in answered.values()):
            raise EngineUnavailable("; ".join(str(why) for why in answered.values()))
        return answered

    # -- jobs ----------------------------------------------------------------------------------------------
    def submit(self, take: Take, out: str | Path | None = None) -> None:
        """Render ``take`` on the least busy engine, its clip landing at ``out`` (a .wav path; default: the
        take's name in the clips folder, ``-2``, ``-3`` ... when taken). Its replies come out of :meth:`wait`."""
        try:
            parsed = parse_request(take.address, take.args)
            request = parsed.to_request()
        except ProtocolError as exc:
            raise InvalidRequest(exc.message) from None
        target = Path(out) if out is not None else self._free(str(parsed.options.get("name") or take.job_id))
        target.parent.mkdir(parents=True, exist_ok=True)
        job = take.job_id
        thread = threading.Thread(target=self._render, args=(job, request, target), name=f"remote-{job}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancelled.add(job_id)

    def _free(self, stem: str) -> Path:
        """A clip path in the clips folder that no file and no other take of this client has."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            n = 1
            path = self.folder / f"{stem}.wav"
            while path in self._taken or path.exists() or path.with_suffix(".json").exists():
                n += 1
                path = self.folder / f"{stem}-{n}.wav"
            self._taken.add(path)
            return path

    def _render(self, job: str, request: Any, out: Path) -> None:
        put = self._events.put

        def note(ref: dict[str, Any]) -> None:
            self.placed[job] = str(ref.get("engine", ""))
            put(("/audioldm/queued", [job, 0, self.placed[job]]))

        try:
            done = self.relay.relay(
                request,
                out,
                progress=lambda step, total: put(("/audioldm/progress", [job, step, total])),
                cancel=lambda: job in self._cancelled,
                note=note,
            )
        except Cancelled:
            put(("/audioldm/cancelled", [job]))
        except EngineError as exc:
            put(("/audioldm/fail", [job, str(exc), request.mode]))
        except Exception as exc:  # a fault of this computer (its disk, its network stack): this take only
            put(("/audioldm/fail", [job, f"the clip could not be fetched ({exc}); send the request again", ""]))
        else:
            clip = done.clip
            warning = "; ".join(clip.warnings)
            seed = clip.request.seed if clip.request.seed is not None else request.seed
            put(("/audioldm/done", [job, str(done.path.resolve()), clip.seconds, clip.sample_rate, seed, warning]))

    def wait(
        self,
        job_ids: Sequence[str],
        on_event: Callable[[str, list[Any]], None] | None = None,
        timeout: float | None = None,
        **_ignored: float,
    ) -> dict[str, Result | JobFailed]:
        """Follow ``job_ids`` to their end, as :meth:`EngineClient.wait` does (``timeout`` bounds the whole
        wait; an engine that stops is the relay's to handle: it resends the job, or fails it in words)."""
        pending = set(job_ids)
        out: dict[str, Result | JobFailed] = {}
        start = time.monotonic()
        while pending:
            left = None if timeout is None else timeout - (time.monotonic() - start)
            if left is not None and left <= 0:
                raise JobFailed(f"no result within {timeout:g} s (--timeout); the job goes on in the engine")
            try:
                address, args = self._events.get(timeout=0.5 if left is None else min(0.5, left))
            except queue.Empty:
                continue
            job = args[0]
            if job not in pending:
                continue
            if address == "/audioldm/done":
                pending.discard(job)
                res = Result(job, args[1], float(args[2]), int(args[3]), int(args[4]), str(args[5]))
                res.elapsed = time.monotonic() - start
                out[job] = res
            elif address == "/audioldm/fail":
                pending.discard(job)
                out[job] = JobFailed(str(args[1]), job, str(args[2]))
            elif address == "/audioldm/cancelled":
                pending.discard(job)
                out[job] = JobFailed("cancelled", job)
            if on_event is not None:
                on_event(address, args)
        return out
