"""The job queue behind the OSC server: one worker thread per engine (device), jobs in arrival order.

Why a queue and not a thread per request: one engine runs one generation at a time, and clients match
replies by job id, so each job gets a record that keeps its last reply (``/audioldm/job`` re-sends it
to a client that missed a UDP packet). Cancelling a running job sets a flag that the engine polls
before every denoising step, so it lands within one step; a cancelled job never leaves a clip behind.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audioldm_daw.bridge.protocol import osc_name
from audioldm_daw.engine.errors import Cancelled, EngineError, InvalidRequest
from audioldm_daw.engine.request import GenerateRequest

log = logging.getLogger(__name__)

Client = tuple[Any, ...]  # the sender's socket address, (host, port[, ...])
SendFn = Callable[[Client, str, list[Any]], None]

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
MAX_PROGRESS_PER_S = 50.0
HISTORY = 1000  # finished job records kept for /audioldm/job and id uniqueness


class JobError(Exception):
    """A queue operation a client asked for that cannot be done (the message goes into /fail)."""


@dataclass
class Job:
    """One request on its way through the queue, and everything a client may ask about it later."""

    id: str
    request: GenerateRequest
    client: Client
    name: str | None = None
    address: str = ""  # the request address, named in /audioldm/fail
    state: str = QUEUED
    last_reply: tuple[str, list[Any]] | None = None
    path: Path | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cancellers: list[Client] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)


class ProgressThrottle:
    """Progress replies at least once per step, at most ``rate`` per second; the last step always gets out.

    Steps faster than 1/rate are skipped, except the final one, which waits out the remainder of the
    interval (at most 1/rate seconds) so a client always sees ``step == total``.
    """

    def __init__(self, emit: Callable[[int, int], None], rate: float = MAX_PROGRESS_PER_S, clock=time.monotonic):
        self.emit = emit
        self.interval = 1.0 / rate
        self.clock = clock
        self.last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        wait = 0.0 if self.last is None else self.last + self.interval - now
        if wait > 0:
            if done < total:
                return
            time.sleep(wait)
            now = self.clock()
        self.last = now
        self.emit(done, total)


class JobQueue:
    """Jobs for one engine, run by one worker thread in arrival order.

    ``send(client, address, args)`` delivers a reply; the server maps the client to its reply port at
    send time, so a later ``/audioldm/notify`` redirects the replies of jobs already queued.
    """

    def __init__(
        self,
        engine: Any,
        clips_dir: Path,
        send: SendFn,
        *,
        history: int = HISTORY,
        progress_rate: float = MAX_PROGRESS_PER_S,
    ) -> None:
        self.engine = engine
        self.clips_dir = Path(clips_dir).expanduser().resolve()
        self.send = send
        self.history = history
        self.progress_rate = progress_rate
        self._lock = threading.Condition()
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="audioldm-jobs", daemon=True)
        self._thread.start()

    # -- requests from the OSC thread -------------------------------------------------------------
    def submit(
        self, request: GenerateRequest, job_id: str, client: Client, name: str | None = None, address: str = ""
    ) -> Job:
        """Queue a job and send ``/audioldm/queued`` before the worker can start it (replies stay in order)."""
        with self._lock:
            if self._closing:
                raise JobError("the engine is shutting down")
            if not job_id:
                job_id = self._fresh_id()
            elif job_id in self._jobs:
                state = self._jobs[job_id].state
                raise JobError(f'job_id: {job_id!r} is already in use (by a {state} job); choose another or send ""')
            job = Job(job_id, request, client, name, address)
            self._jobs[job_id] = job
            self._reply(job, "/audioldm/queued", [job_id, len(self._waiting)])
            self._waiting.append(job)
            self._forget_old()
            self._lock.notify_all()
        return job

    def cancel(self, job_id: str, client: Client) -> None:
        """Cancel a queued job now, or a running one at its next step; the reply comes when it has stopped."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobError(f"job_id: no job {job_id!r} (unknown, or finished long ago)")
            if job.state in FINISHED:
                raise JobError(f"job {job_id!r} has already finished ({job.state}); nothing to cancel")
            if job.state == QUEUED:
                self._waiting.remove(job)
                self._finish_cancelled(job, [client])
                return
            job.cancellers.append(client)
            job.cancel_event.set()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def status(self) -> tuple[int, str]:
        """(jobs waiting, id of the running job or "")."""
        with self._lock:
            return len(self._waiting), self._running.id if self._running else ""

    def close(self, timeout: float = 30.0) -> None:
        """Cancel everything (queued jobs at once, the running one at its next step) and stop the worker."""
        with self._lock:
            self._closing = True
            while self._waiting:
                self._finish_cancelled(self._waiting.popleft(), [])
            if self._running is not None:
                self._running.cancel_event.set()
            self._lock.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the running job did not stop within %.0f s", timeout)

    # -- the worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closing:
                    self._lock.wait()
                if not self._waiting:
                    return
                job = self._waiting.popleft()
                job.state = RUNNING
                self._running = job
            try:
                self._run(job)
            except Exception:  # never let one job take the worker down
                log.exception("job %s: unexpected error in the queue", job.id)
                with self._lock:
                    if job.state not in FINISHED:
                        self._finish(
                            job,
                            FAILED,
                            "/audioldm/fail",
                            [job.id, "internal error (see the engine's log)", job.address],
                        )
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        throttle = ProgressThrottle(lambda d, t: self._progress(job, d, t), self.progress_rate)
        try:
            from audioldm_daw.engine.output import path_in_folder

            out = path_in_folder(self.clips_dir, job.name or job.id)
            result = self.engine.render(job.request, out, progress=throttle, cancel=job.cancel_event.is_set)
        except Cancelled:
            with self._lock:
                self._finish_cancelled(job, job.cancellers)
            return
        except InvalidRequest as exc:
            message = exc.message(osc_name)
        except EngineError as exc:
            message = str(exc)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            message = f"internal error: {type(exc).__name__}: {exc}"
        else:
            with self._lock:
                if job.cancel_event.is_set():
                    # Cancelled after the last step: the caller asked for no clip, so none is left.
                    for p in (result.path, result.sidecar):
                        Path(p).unlink(missing_ok=True)
                    self._finish_cancelled(job, job.cancellers)
                    return
                clip = result.clip
                job.path = Path(result.path).resolve()
                warning = "; ".join(clip.warnings)
                seed = int(clip.request.seed)
                args = [job.id, str(job.path), float(clip.seconds), int(clip.sample_rate), seed, warning]
                self._finish(job, DONE, "/audioldm/done", args)
            return
        with self._lock:
            if job.cancel_event.is_set():
                self._finish_cancelled(job, job.cancellers)
            else:
                self._finish(job, FAILED, "/audioldm/fail", [job.id, message, job.address])

    def _progress(self, job: Job, done: int, total: int) -> None:
        with self._lock:
            if job.state == RUNNING and not job.cancel_event.is_set():
                self._reply(job, "/audioldm/progress", [job.id, int(done), int(total)])

    # -- helpers (called with the lock held) -----------------------------------------------------
    def _reply(self, job: Job, address: str, args: list[Any]) -> None:
        job.last_reply = (address, args)
        self.send(job.client, address, args)

    def _finish(self, job: Job, state: str, address: str, args: list[Any]) -> None:
        job.state = state
        if self._running is job:  # idle as soon as the final reply is out, so /status agrees with it
            self._running = None
        self._reply(job, address, args)

    def _finish_cancelled(self, job: Job, cancellers: list[Client]) -> None:
        """/cancelled to the job's client and, once each, to every other client that asked for it."""
        self._finish(job, CANCELLED, "/audioldm/cancelled", [job.id])
        for c in dict.fromkeys(cancellers):
            if c != job.client:
                self.send(c, "/audioldm/cancelled", [job.id])

    def _fresh_id(self) -> str:
        while True:
            job_id = f"job-{uuid.uuid4().hex[:8]}"
            if job_id not in self._jobs:
                return job_id

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state in FINISHED]
        for key in finished[: max(0, len(finished) - self.history)]:
            del self._jobs[key]
