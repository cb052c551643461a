"""The job queue behind the OSC server: one worker thread per engine (device), jobs in arrival order.

Why a queue and not a thread per request: one engine runs one generation at a time, and clients match
replies by job id, so each job gets a record that keeps its last reply (``/audioldm/job`` re-sends it
to a client that missed a UDP packet). Cancelling a running job sets a flag that the engine polls
before every denoising step, so it lands within one step; a cancelled job never leaves a clip behind.

The queue is bounded, in all and per client host (the source address, not its port: a program that opens
a fresh socket per request is still one client), so one packet or one runaway patch cannot queue without
limit; past a bound the request is refused in words. Several programs on one computer share its cap.
With a :class:`~audioldm_daw.bridge.server.journal.Journal` every job's life is written down, so that after a
crash the jobs it interrupted answer "lost" instead of being forgotten. A job that fails says what
happened and what to do (disk full, folder gone, out of GPU memory, a model folder changed on disk),
never an exception's class name.
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
from typing import TYPE_CHECKING, Any

from audioldm_daw.bridge.protocol import osc_name
from audioldm_daw.engine.errors import Cancelled, EngineError, InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.server.journal import Journal, LostJob
    from audioldm_daw.bridge.server.ports import EnginePort
    from audioldm_daw.engine.request import GenerateRequest

log = logging.getLogger(__name__)
access = logging.getLogger("audioldm_daw.access")  # one line per finished job; `serve` shows them

Client = tuple[Any, ...]  # the sender's socket address, (host, port[, ...])
SendFn = Callable[[Client, str, list[Any]], None]

QUEUED, RUNNING, DONE, FAILED, CANCELLED, LOST = "queued", "running", "done", "failed", "cancelled", "lost"
FINISHED = (DONE, FAILED, CANCELLED, LOST)
MAX_PROGRESS_PER_S = 50.0  # progress replies per second to one client (host), across its jobs
MAX_PROGRESS_PER_JOB = 50  # progress replies of one job at most (plus its last step), whatever its step count
HISTORY = 1000  # finished job records kept for /audioldm/job and id uniqueness
MAX_WAITING = 256  # jobs waiting in all
MAX_PER_CLIENT = 64  # jobs waiting or running for one client host (every program on one computer shares it)
MODEL_FILES_CHECKED = 4000  # files of the model folder whose size and time are compared before each job


def client_host(client: Client) -> str:
    """The host part of a client address: the caps count per host, not per source port, since a program
    can open a fresh socket (a fresh port) for every request."""
    return str(client[0]) if client else ""


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
    folder: str | None = None  # a subfolder of the clips folder (checked by the protocol: one level)
    state: str = QUEUED
    last_reply: tuple[str, list[Any]] | None = None
    path: Path | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cancellers: list[Client] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    resume: dict[str, Any] | None = None  # a remote job an earlier run of a relay left running (see Journal.remote)


def model_stamp(folder: Path | None) -> tuple[tuple[str, int, int], ...] | None:
    """(name, size, mtime) of the model folder's files: cheap to take, changes when a file does."""
    if folder is None:
        return None
    out = []
    try:
        for i, p in enumerate(sorted(Path(folder).rglob("*"))):
            if i >= MODEL_FILES_CHECKED:
                break
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out.append((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(out)


def describe_job_error(exc: BaseException, request: GenerateRequest | None = None) -> str:
    """A job's failure in words a musician can act on (what happened, what to do), without class names."""
    import errno as _errno

    text = str(exc)
    if type(exc).__name__ == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in text):
        size = ""
        if request is not None:
            seconds = getattr(request, "duration", None)
            size = f" ({seconds:g} s" if seconds else " (this clip"
            size += f", {request.candidates} candidate(s))"
        return (
            f"out of GPU memory{size}: try a shorter clip or fewer candidates, or close other programs that use "
            "the GPU; the engine goes on with the next job"
        )
    if isinstance(exc, MemoryError):
        return (
            "out of memory: the computer ran out of memory for this clip; try a shorter clip or fewer candidates, "
            "or close other programs"
        )
    if isinstance(exc, OSError):
        reason = (exc.strerror or text or "unknown reason").lower()
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == _errno.ENOSPC:
            return f"disk full{where}: free some space and send the request again"
        return f"a file the job needs could not be used{where}: {reason}; check the disk, then send the request again"
    return (
        f"the engine hit an unexpected problem ({text or 'no details'}); its log has the details; "
        "send the request again"
    )


@dataclass
class LastSent:
    """When a client last got a progress reply: shared by the throttles of all its jobs."""

    at: float | None = None


class ProgressThrottle:
    """Progress replies at most ``rate`` per second per client and ``per_job`` per job; the last step always
    gets out.

    Why both bounds: one request must not buy an unbounded number of replies (a job of a thousand steps
    would otherwise answer one datagram with a thousand), and a client's jobs run one after the other, so
    the rate is shared (``last``) by all of that client's jobs rather than starting afresh with each one.
    Steps closer than 1/rate to the client's previous progress reply, or closer than ``total / per_job``
    steps to the job's previous one, are skipped, except the final one, which waits out the remainder of
    the interval (at most 1/rate seconds) so a client always sees ``step == total``. ``per_job`` 0: every
    step may be sent (only the rate bounds them).
    """

    def __init__(
        self,
        emit: Callable[[int, int], None],
        rate: float = MAX_PROGRESS_PER_S,
        clock: Callable[[], float] = time.monotonic,
        *,
        per_job: int = MAX_PROGRESS_PER_JOB,
        last: LastSent | None = None,
    ) -> None:
        self.emit = emit
        self.interval = 1.0 / rate
        self.clock = clock
        self.per_job = per_job
        self.shared = last if last is not None else LastSent()
        self.step = 0  # the step of this job's previous progress reply

    @property
    def last(self) -> float | None:
        return self.shared.at

    def __call__(self, done: int, total: int) -> None:
        if done < total and self.per_job > 0 and (done - self.step) * self.per_job < total:
            return
        now = self.clock()
        wait = 0.0 if self.shared.at is None else self.shared.at + self.interval - now
        if wait > 0:
            if done < total:
                return
            time.sleep(wait)
            now = self.clock()
        self.shared.at = now
        self.step = done
        self.emit(done, total)


class JobQueue:
    """Jobs for one engine, run by one worker thread in arrival order.

    ``send(client, address, args)`` delivers a reply; the server maps the client to its reply port at
    send time, so a later ``/audioldm/notify`` redirects the replies of jobs already queued.
    """

    def __init__(
        self,
        engine: EnginePort,
        clips_dir: Path,
        send: SendFn,
        *,
        history: int = HISTORY,
        progress_rate: float = MAX_PROGRESS_PER_S,
        progress_per_job: int = MAX_PROGRESS_PER_JOB,
        max_waiting: int = MAX_WAITING,
        max_per_client: int = MAX_PER_CLIENT,
        journal: Journal | None = None,
        lost: list[LostJob] = (),  # type: ignore[assignment]
        workers: int = 1,
    ) -> None:
        """``workers``: jobs run at once. One for a local engine (one generation at a time); a relay to remote
        engines (bridge/clients/relay.py) runs several, each waiting on its engine over the network."""
        self.engine = engine
        self.clips_dir = Path(clips_dir).expanduser().resolve()
        self.send = send
        self.history = history
        self.progress_rate = progress_rate
        self.progress_per_job = progress_per_job
        self.max_waiting = max_waiting
        self.max_per_client = max_per_client
        self.journal = journal
        self._lock = threading.Condition()
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._waiting: collections.deque[Job] = collections.deque()
        self._active: list[Job] = []  # running jobs, oldest first
        self._closing = False
        self._per_client: collections.Counter[str] = collections.Counter()  # jobs waiting or running per host
        self._last_progress: dict[str, LastSent] = {}  # per host, while it has jobs
        # Jobs an earlier run lost and has not told their client about yet (``/audioldm/job`` answers
        # every lost job the journal keeps, told or not).
        # A relay resumes the remote jobs an earlier run left behind instead of calling them lost.
        resumable = [rec for rec in lost if rec.remote and getattr(engine, "relay", None) is not None]
        lost = [rec for rec in lost if rec not in resumable]
        self.lost: list[LostJob] = [rec for rec in lost if not rec.announced]
        self.resumed = [rec.id for rec in resumable]
        for rec in resumable:
            job = Job(rec.id, None, rec.client or ("", 0), None, rec.address, resume=rec.remote)  # type: ignore[arg-type]
            self._jobs[rec.id] = job
            self._waiting.append(job)
            self._per_client[client_host(job.client)] += 1
            if journal is not None:
                journal.queued(rec.id, rec.address, rec.client)
                journal.remote(rec.id, rec.remote or {})
        for rec in lost:
            job = Job(rec.id, None, rec.client or ("", 0), None, rec.address, state=LOST)  # type: ignore[arg-type]
            job.last_reply = ("/audioldm/fail", [rec.id, rec.message(), rec.address])
            self._jobs[rec.id] = job
        model = getattr(engine, "model", None)
        self._model_path = getattr(model, "path", None)
        self._model_stamp = model_stamp(self._model_path) if isinstance(self._model_path, Path) else None
        self._threads = [
            threading.Thread(target=self._work, name=f"audioldm-jobs-{n}", daemon=True) for n in range(max(1, workers))
        ]
        self._thread = self._threads[0]
        for thread in self._threads:
            thread.start()

    def add_door(self, serves: Callable[[Client], bool], send: SendFn) -> None:
        """Another door shares this queue (the HTTP API, bridge/server/http_api.py): replies for the clients
        ``serves`` accepts go to its ``send``, every other reply where it went before. One queue for every door,
        so the engine runs one job at a time and the journal sees them all."""
        before = self.send

        def route(client: Client, address: str, args: list[Any]) -> None:
            (send if serves(client) else before)(client, address, args)

        self.send = route

    # -- requests from the OSC thread -------------------------------------------------------------
    def submit(
        self,
        request: GenerateRequest,
        job_id: str,
        client: Client,
        name: str | None = None,
        address: str = "",
        folder: str | None = None,
    ) -> Job:
        """Queue a job and send ``/audioldm/queued`` before the worker can start it (replies stay in order)."""
        with self._lock:
            if self._closing:
                raise JobError("the engine is shutting down; send the request again when it is back")
            if not job_id:
                job_id = self._fresh_id()
            elif job_id in self._jobs and self._jobs[job_id].state != LOST:  # a lost job may be sent again
                state = self._jobs[job_id].state
                raise JobError(f'job_id: {job_id!r} is already in use (by a {state} job); choose another or send ""')
            if len(self._waiting) >= self.max_waiting:
                raise JobError(
                    f"the queue is full: {len(self._waiting)} jobs are waiting (at most {self.max_waiting}); "
                    "wait for some to finish, or cancel some, then send the request again"
                )
            host = client_host(client)
            if self._per_client[host] >= self.max_per_client:
                raise JobError(
                    f"too many jobs from this client: {self._per_client[host]} are waiting or running from its "
                    f"computer {host} (at most {self.max_per_client} per computer, shared by every program on it); "
                    "wait for some to finish, or cancel some, then send it again"
                )
            self._jobs.pop(job_id, None)
            job = Job(job_id, request, client, name, address, folder)
            self._jobs[job_id] = job
            self._per_client[host] += 1
            if self.journal is not None:
                self.journal.queued(job_id, address, client)
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

    def announce_lost(self) -> None:
        """Tell each client whose job an earlier run lost (a patch may be listening still): one /fail each,
        once: the journal records that it was told, so a later restart does not tell it again."""
        for rec in self.lost:
            if rec.client is not None:
                self.send(rec.client, "/audioldm/fail", [rec.id, rec.message(), rec.address])
            rec.announced = True
            if self.journal is not None:
                self.journal.announced(rec.id)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def status(self) -> tuple[int, str]:
        """(jobs waiting, id of the running job or "")."""
        with self._lock:
            return len(self._waiting), self._active[0].id if self._active else ""

    def close(self, timeout: float = 30.0) -> None:
        """Cancel everything (queued jobs at once, the running one at its next step) and stop the worker."""
        with self._lock:
            self._closing = True
            while self._waiting:
                self._finish_cancelled(self._waiting.popleft(), [])
            for running in self._active:
                running.cancel_event.set()
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
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
                self._active.append(job)
                if self.journal is not None:
                    self.journal.running(job.id)
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
                            [job.id, "the engine hit an unexpected problem; its log has the details", job.address],
                        )
            finally:
                with self._lock:
                    if job in self._active:
                        self._active.remove(job)

    def _run(self, job: Job) -> None:
        with self._lock:
            last = self._last_progress.setdefault(client_host(job.client), LastSent())
        throttle = ProgressThrottle(
            lambda d, t: self._progress(job, d, t), self.progress_rate, per_job=self.progress_per_job, last=last
        )
        try:
            from audioldm_daw.engine.output import path_in_folder

            self._preflight()
            folder = self.clips_dir / job.folder if job.folder else self.clips_dir
            if job.resume is not None:  # the clip's place was chosen by the run that sent it
                out = Path(job.resume["out"])
            else:
                out = path_in_folder(folder, job.name or job.id, root=self.clips_dir)  # checked again at write time
            relay = getattr(self.engine, "relay", None)
            if relay is not None:  # a remote engine renders it; the journal keeps where (bridge/clients/relay.py)
                result = relay(
                    job.request,
                    out,
                    progress=throttle,
                    cancel=job.cancel_event.is_set,
                    note=lambda ref: self._note_remote(job, ref),
                    resume=job.resume,
                )
            else:
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
            message = self._model_changed() or describe_job_error(exc, job.request)
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
                seed = clip.request.seed
                assert seed is not None  # the engine resolves every request's seed
                args = [job.id, str(job.path), float(clip.seconds), int(clip.sample_rate), seed, warning]
                self._finish(job, DONE, "/audioldm/done", args)
            return
        with self._lock:
            if job.cancel_event.is_set():
                self._finish_cancelled(job, job.cancellers)
            else:
                self._finish(job, FAILED, "/audioldm/fail", [job.id, message, job.address])

    def _note_remote(self, job: Job, ref: dict[str, Any]) -> None:
        """A relay sent ``job`` to a remote engine: the journal keeps where (engine, remote id, local path), so a
        relay killed meanwhile fetches the clip when it starts again."""
        job.resume = ref
        if self.journal is not None:
            self.journal.remote(job.id, ref)

    def _preflight(self) -> None:
        """Refuse a job the clips folder or the model folder cannot serve before spending minutes on it."""
        from audioldm_daw.engine.errors import OutputError
        from audioldm_daw.engine.output import describe_write_failure

        if not self.clips_dir.is_dir():
            raise OutputError(describe_write_failure(self.clips_dir, None, 0))
        changed = self._model_changed()
        if changed:
            raise EngineError(changed)

    def _model_changed(self) -> str | None:
        """Words for a model folder whose files changed on disk since it was loaded, or None."""
        if self._model_stamp is None:
            return None
        now = model_stamp(self._model_path)
        if now == self._model_stamp:
            return None
        before = {n: (s, t) for n, s, t in self._model_stamp}
        after = {n: (s, t) for n, s, t in now or ()}
        names = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return (
            f"the model folder {self._model_path} changed on disk while the engine was serving "
            f"({shown or 'its files'}); "
            "clips made now would not match their recall data: restart the engine to load the model as it is now"
        )

    def _progress(self, job: Job, done: int, total: int) -> None:
        with self._lock:
            if job.state == RUNNING and not job.cancel_event.is_set():
                if self.journal is not None:
                    self.journal.step(job.id, done, total)
                self._reply(job, "/audioldm/progress", [job.id, int(done), int(total)])

    # -- helpers (called with the lock held) -----------------------------------------------------
    def _reply(self, job: Job, address: str, args: list[Any]) -> None:
        job.last_reply = (address, args)
        self.send(job.client, address, args)

    def _finish(self, job: Job, state: str, address: str, args: list[Any]) -> None:
        job.state = state
        if job in self._active:  # idle as soon as the final reply is out, so /status agrees with it
            self._active.remove(job)
        host = client_host(job.client)
        self._per_client[host] -= 1
        if self._per_client[host] <= 0:
            del self._per_client[host]
            self._last_progress.pop(host, None)
        if self.journal is not None:
            self.journal.ended(job.id, state)
        what = args[1] if len(args) > 1 else ""
        access.info(
            "%s job %r from %s: %s in %.1f s", state, job.id, job.client[0], what, time.monotonic() - job.created
        )
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
