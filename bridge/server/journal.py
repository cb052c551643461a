"""What a server must remember across a crash: its jobs (a journal) and its clients' reply ports.

Why a journal: after ``kill -9`` or a power cut, a client asking ``/audioldm/job`` about a job that was
queued or running deserves "lost: the engine stopped while it ran (at step k of n)", not "unknown", so
it knows to send the request again. Each job writes a few JSON lines (queued, running, progress steps,
end) to an append-only file; each line goes out in one ``write`` (a killed process loses nothing the
kernel already has) and the lines that change a job's state are fsync'd (a power cut loses at most the
latest progress step). On start the server replays the file: jobs without an end are lost; their client
is told once (an ``announced`` line records it, so a later restart does not tell it again). The file is
rewritten (compacted) on start and whenever it passes ``max_lines``, keeping only the jobs still open
and the latest lost ones, so it stays bounded (a few hundred kB).

Why registrations are kept: a patch sends ``/audioldm/notify`` once, when it opens; after a restart of
the engine it would otherwise hear nothing (not even its pong) until it registered again.

Both live in the state folder of one clips folder (``$AUDIOLDM_DAW_STATE``, else the per-user state
folder), never in the clips folder itself, which a DAW watches. A lock file there keeps a second server
off the same clips folder. Writing here is best effort: a full or read-only disk is logged, never raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

MAX_LINES = 5000  # compact past this many lines (about 500 kB)
KEEP_LOST = 1000  # lost jobs remembered, like the finished jobs a server keeps for /audioldm/job
WARN_INTERVAL_S = 60.0
STEP_FSYNC = False  # progress lines are written (kill-safe) but not fsync'd (power-cut loses the last step)


def state_dir(clips_dir: Path) -> Path:
    """The state folder of a clips folder: ``$AUDIOLDM_DAW_STATE``/serve/<hash of its path>."""
    root = os.environ.get("AUDIOLDM_DAW_STATE")
    if root:
        base = Path(root).expanduser()
    else:
        from platformdirs import user_state_dir

        base = Path(user_state_dir("audioldm-daw"))
    key = hashlib.sha256(str(Path(clips_dir).resolve()).encode()).hexdigest()[:16]
    return base / "serve" / key


@dataclass
class LostJob:
    """A job that was queued or running when the engine stopped without finishing it."""

    id: str
    address: str
    client: tuple[str, int] | None
    was: str  # "queued" or "running"
    step: int = 0
    total: int = 0
    when: float = 0.0
    announced: bool = False  # its client was told (once: a later restart does not tell it again)
    remote: dict[str, Any] | None = None  # a relay's: where the job renders (engine, remote id, local path)

    def message(self) -> str:
        """The /fail text for it: what happened and what to do."""
        if self.was == "running":
            where = f" (at step {self.step} of {self.total})" if self.total else " (before its first step)"
            return f"lost: the engine stopped while it ran{where}; send the request again to make the clip"
        return "lost: the engine stopped before the job started (it was queued); send the request again"

    def record(self) -> dict[str, Any]:
        return {
            "e": "lost",
            "id": self.id,
            "address": self.address,
            "client": list(self.client) if self.client else None,
            "was": self.was,
            "step": self.step,
            "total": self.total,
            "t": self.when,
            "announced": self.announced,
        } | ({"remote": self.remote} if self.remote else {})


def _client(value: Any) -> tuple[str, int] | None:
    if isinstance(value, list) and len(value) >= 2 and isinstance(value[0], str) and isinstance(value[1], int):
        return value[0], value[1]
    return None


class Journal:
    """The append-only job journal of one server (see the module docstring)."""

    def __init__(self, path: Path, *, max_lines: int = MAX_LINES, keep_lost: int = KEEP_LOST) -> None:
        self.path = Path(path)
        self.max_lines = max_lines
        self.keep_lost = keep_lost
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lines = 0
        self._open: OrderedDict[str, LostJob] = OrderedDict()  # jobs not finished, as they would be lost
        self._lost: OrderedDict[str, LostJob] = OrderedDict()
        self._warned = -1e9
        self.failed_writes = 0

    # -- start -----------------------------------------------------------------------------------------
    def open(self) -> list[LostJob]:
        """Replay the journal, compact it, and return the jobs an earlier run left unfinished (oldest first)."""
        with self._lock:
            self._replay()
            for job in self._open.values():
                self._lost[job.id] = job
                self._lost.move_to_end(job.id)
            self._open.clear()
            while len(self._lost) > self.keep_lost:
                self._lost.popitem(last=False)
            self._compact()
            return list(self._lost.values())

    def _replay(self) -> None:
        try:
            text = self.path.read_text(errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            self._warn(f"could not read the job journal {self.path}: {exc.strerror or exc}")
            return
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a power cut
            if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                self._apply(rec)

    def _apply(self, rec: dict[str, Any]) -> None:
        event, job_id = rec.get("e"), rec["id"]
        if event == "queued":
            self._lost.pop(job_id, None)
            self._open[job_id] = LostJob(
                job_id, str(rec.get("address", "")), _client(rec.get("client")), "queued", when=float(rec.get("t", 0))
            )
        elif event in ("running", "step") and job_id in self._open:
            job = self._open[job_id]
            job.was = "running"
            if event == "step":
                job.step, job.total = int(rec.get("step", 0)), int(rec.get("total", 0))
        elif event == "end":
            self._open.pop(job_id, None)
        elif event == "lost":
            self._lost[job_id] = LostJob(
                job_id,
                str(rec.get("address", "")),
                _client(rec.get("client")),
                str(rec.get("was", "queued")),
                int(rec.get("step", 0)),
                int(rec.get("total", 0)),
                float(rec.get("t", 0)),
                bool(rec.get("announced", False)),
                rec["remote"] if isinstance(rec.get("remote"), dict) else None,
            )
        elif event == "remote" and job_id in self._open and isinstance(rec.get("ref"), dict):
            self._open[job_id].remote = rec["ref"]
        elif event == "announced" and job_id in self._lost:
            self._lost[job_id].announced = True
        elif event == "forget":
            self._lost.pop(job_id, None)

    # -- events ----------------------------------------------------------------------------------------
    def queued(self, job_id: str, address: str, client: Any) -> None:
        host_port = [str(client[0]), int(client[1])] if client else None
        self._write({"e": "queued", "id": job_id, "address": address, "client": host_port, "t": time.time()}, True)

    def running(self, job_id: str) -> None:
        self._write({"e": "running", "id": job_id}, True)

    def step(self, job_id: str, step: int, total: int) -> None:
        self._write({"e": "step", "id": job_id, "step": int(step), "total": int(total)}, STEP_FSYNC)

    def ended(self, job_id: str, state: str) -> None:
        self._write({"e": "end", "id": job_id, "state": state}, True)

    def remote(self, job_id: str, ref: dict[str, Any]) -> None:
        """A relay (``serve --engine``) sent the job to a remote engine: ``ref`` says which engine, the remote
        job's id, the local path its clip goes to and the request, so that a relay killed before the clip came
        back fetches it (or sends the request again) when it starts, instead of calling the job lost."""
        self._write({"e": "remote", "id": job_id, "ref": ref}, True)

    def announced(self, job_id: str) -> None:
        """A lost job's client was told that it is lost: a later start does not tell it again (it stays
        known, so ``/audioldm/job`` still answers it)."""
        self._write({"e": "announced", "id": job_id}, True)

    def forget(self, job_id: str) -> None:
        """A lost job's id is used again: the lost record goes."""
        if job_id in self._lost:
            self._write({"e": "forget", "id": job_id}, False)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None

    def size(self) -> tuple[int, int]:
        """(lines, bytes) of the journal file now."""
        with self._lock:
            try:
                return self._lines, self.path.stat().st_size
            except OSError:
                return self._lines, 0

    # -- writing ---------------------------------------------------------------------------------------
    def _write(self, rec: dict[str, Any], sync: bool) -> None:
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self._apply(rec)
            try:
                if self._fd is None:
                    self._reopen()
                assert self._fd is not None
                os.write(self._fd, line)
                if sync:
                    os.fsync(self._fd)
                self._lines += 1
            except OSError as exc:
                self.failed_writes += 1
                self._warn(f"could not write the job journal {self.path}: {exc.strerror or exc}")
                with contextlib.suppress(OSError):
                    if self._fd is not None:
                        os.close(self._fd)
                self._fd = None
                return
            if self._lines > self.max_lines:
                self._compact()

    def _reopen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _compact(self) -> None:
        """Rewrite the file with only what a restart needs: the open jobs and the latest lost ones."""
        while len(self._lost) > self.keep_lost:
            self._lost.popitem(last=False)
        lines = [json.dumps(j.record(), separators=(",", ":")) for j in self._lost.values()]
        for job in self._open.values():
            lines.append(
                json.dumps(
                    {"e": "queued", "id": job.id, "address": job.address, "client": job.client, "t": job.when},
                    separators=(",", ":"),
                )
            )
            if job.was == "running":
                lines.append(json.dumps({"e": "step", "id": job.id, "step": job.step, "total": job.total}))
            if job.remote:
                lines.append(json.dumps({"e": "remote", "id": job.id, "ref": job.remote}, separators=(",", ":")))
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as f:
                f.write("".join(line + "\n" for line in lines))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._reopen()
            self._lines = len(lines)
        except OSError as exc:
            self.failed_writes += 1
            self._warn(f"could not compact the job journal {self.path}: {exc.strerror or exc}")
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._warned > WARN_INTERVAL_S:
            self._warned = now
            log.warning("%s (jobs still run; a crash now may forget them)", text)


class Registrations:
    """The ``/audioldm/notify`` ports of clients (one per source host and port), saved so that they survive a
    restart.

    Each registration also says whether it was made with the engine's key (``keyed``). The file keeps a mark
    of the key it was made with (a hash, never the key), so a restart with another key file restores the
    ports but not the keys' proof. There is no per-host entry: a socket that never registered gets its
    replies on the documented reply port of its host, never on a port another program registered there.
    """

    def __init__(self, path: Path | None, limit: int, mark: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.limit = limit
        self.mark = mark  # the current key's mark ("" without a key)
        self.by_client: OrderedDict[tuple[str, int], tuple[int, bool]] = OrderedDict()  # (port, keyed)
        self._warned = -1e9

    def load(self) -> int:
        """Read the saved registrations; returns how many clients were restored."""
        if self.path is None:
            return 0
        try:
            data = json.loads(self.path.read_text())
            rows = data.get("clients", [])[-self.limit :]
        except (OSError, ValueError, AttributeError, TypeError):
            return 0
        for row in rows:
            try:
                host, port, target = str(row[0]), int(row[1]), int(row[2])
                mark = str(row[3]) if len(row) > 3 else ""
            except (TypeError, ValueError, IndexError):
                continue
            keyed = bool(self.mark) and hmac.compare_digest(mark, self.mark)
            self.by_client[(host, port)] = (target, keyed)
        return len(self.by_client)

    def get(self, host: str, source: int) -> tuple[int, bool] | None:
        """(reply port, keyed) of the registration of ``(host, source)``, or None."""
        return self.by_client.get((host, source))

    def register(self, host: str, source: int, port: int, keyed: bool = False) -> None:
        """Replies for (host, source) go to ``port``; saved at once (unless nothing changed: clients repeat
        their notify while they connect, and the OSC thread should not write a file for each)."""
        entry = (port, keyed)
        if self.by_client.get((host, source)) == entry:
            self.by_client.move_to_end((host, source))
            return
        _put(self.by_client, (host, source), entry, self.limit)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = {"clients": [[h, p, t, self.mark if k else ""] for (h, p), (t, k) in self.by_client.items()]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
        except OSError as exc:
            now = time.monotonic()
            if now - self._warned > WARN_INTERVAL_S:
                self._warned = now
                log.warning("could not save the reply ports in %s: %s", self.path, exc.strerror or exc)


class StateLock:
    """One server per clips folder: an exclusive lock on ``serve.lock`` in its state folder.

    filelock takes the lock the way each system offers one (``flock`` on Linux and macOS, ``msvcrt.locking``
    on Windows, a marker file where neither exists), and the system drops it when the holder dies, so a
    crashed server never blocks the next one. The holder's pid goes to ``serve.pid`` beside it: Windows
    keeps a locked file unreadable to others, and the refusal should still name the server to stop.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "serve.lock"
        self.pid_path = Path(folder) / "serve.pid"
        self._lock: Any = None

    def acquire(self) -> int | None:
        """Take the lock; returns None, or the pid of the server holding it (-1 when it cannot be read; then
        nothing is taken). Raises OSError when the state folder cannot be written."""
        import filelock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            try:
                holder = int(self.pid_path.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            return holder or -1
        try:
            self.pid_path.write_text(str(os.getpid()))
        except OSError:
            lock.release()
            raise
        self._lock = lock
        return None

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self.pid_path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self._lock.release()
            self._lock = None


def _put(table: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    """``table[key] = value`` as the newest entry, the oldest forgotten past ``limit``."""
    table.pop(key, None)
    table[key] = value
    while len(table) > limit:
        table.popitem(last=False)
