"""The check door: request checks that may read files, run off the OSC thread, each with a time limit.

Why: reading an input file can block for as long as its drive likes (a stalled network share, a FUSE
or cloud folder, a file that never answers). The OSC thread must never wait on one, and neither may
the requests of anyone else. So each check runs on a thread of its own pool; the pool grows when
every thread is busy (up to ``MAX_CHECK_THREADS``), so a few stalled reads never make a healthy file
wait for a free thread. A check past its time limit is answered for it (its own sentence: it did not
finish within the limit), and its thread is abandoned, never reused: it ends when its read returns.
Abandoned threads are bounded (``MAX_STALLED_CHECKS``); beyond the bound new file checks are refused
at once, in words that say reads from that drive are stalling, until some of them return.

Order: answers to one client keep its arrival order where that is cheap. A checked request waits for
an earlier request of the same client only while that one is young (``ORDER_HOLD_S``, longer than a
healthy check takes); a check that takes longer is slow, and holds nobody. Requests of other clients
never wait for each other. Every ticket is answered exactly once: a late result of an abandoned check
is dropped.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import PurePath

from audioldm_daw.bridge.protocol import ProtocolError

log = logging.getLogger(__name__)

CHECK_WORKERS = 4  # idle threads kept for checks that read files
MAX_CHECK_THREADS = 32  # threads checking at once, stalled ones not counted; more checks wait their turn
MAX_STALLED_CHECKS = 16  # abandoned threads (checks past their limit) before file checks are refused
CHECK_TIME_LIMIT_S = 10.0  # an input check that takes longer is answered with /fail
MAX_PENDING_CHECKS = 256  # requests being checked at once; more are refused
ORDER_HOLD_S = 0.2  # how long an answer waits behind an earlier, unfinished check of the same client


@dataclass(eq=False)
class _Ticket:
    check: Callable[[], Callable[[], None]]
    on_error: Callable[[str], None]
    on_timeout: Callable[[], None]
    deadline: float
    key: Hashable = None  # the client: answers keep its order
    label: str = ""  # the file the check reads, for the stalling sentence
    born: float = field(default_factory=time.monotonic)
    action: Callable[[], None] | None = None
    started: bool = False
    abandoned: bool = False


class CheckDoor:
    """Checks that may read files, each on a pool thread with a time limit (see the module docstring)."""

    def __init__(
        self,
        workers: int = CHECK_WORKERS,
        time_limit: float = CHECK_TIME_LIMIT_S,
        *,
        max_threads: int = MAX_CHECK_THREADS,
        max_stalled: int = MAX_STALLED_CHECKS,
        order_hold: float = ORDER_HOLD_S,
    ) -> None:
        self.time_limit = time_limit
        self.workers = workers
        self.max_threads = max_threads
        self.max_stalled = max_stalled
        self.order_hold = order_hold
        self._cv = threading.Condition()
        self._tickets: list[_Ticket] = []  # open tickets, in arrival order
        self._work: collections.deque[_Ticket] = collections.deque()  # waiting for a thread
        self._idle = 0  # threads waiting for work
        self._threads = 0  # live check threads, abandoned ones included
        self._stalled: list[_Ticket] = []  # tickets whose thread was abandoned and has not returned
        self._closed = False
        self._serial = 0
        self.timeouts = 0
        self._watch = threading.Thread(target=self._watchdog, name="audioldm-check-watch", daemon=True)
        self._watch.start()

    # -- what callers see ----------------------------------------------------------------------------
    def pending(self) -> int:
        """Requests being checked or waiting to be answered."""
        with self._cv:
            return len(self._tickets)

    def stalled(self) -> int:
        """Checks abandoned past their time limit whose read has not returned yet."""
        with self._cv:
            return len(self._stalled)

    def threads(self) -> int:
        """Live check threads (idle, busy and abandoned)."""
        with self._cv:
            return self._threads

    def submit(
        self,
        check: Callable[[], Callable[[], None]],
        on_error: Callable[[str], None],
        on_timeout: Callable[[], None],
        *,
        inline: bool = False,
        key: Hashable = None,
        label: str = "",
    ) -> None:
        """``check()`` returns the action that answers the request (run in the client's order) or raises
        ProtocolError, whose message ``on_error`` sends; ``on_timeout`` answers a check past the limit.
        ``inline``: the check reads no file and runs here; ``key``: the client whose order is kept;
        ``label``: the file the check reads."""
        ticket = _Ticket(check, on_error, on_timeout, time.monotonic() + self.time_limit, key, label)
        with self._cv:
            refusal = self._refusal(inline, key)
            if refusal is not None:
                on_error(refusal)
                return
            self._tickets.append(ticket)
            if not inline:
                self._work.append(ticket)
                self._staff()
            self._cv.notify_all()
        if inline:
            self._run(ticket)

    def close(self) -> None:
        """Answer every ticket still open with a refusal and stop the threads (a blocked one is abandoned)."""
        with self._cv:
            self._closed = True
            self._work.clear()
            for t in self._tickets:
                if t.action is None:
                    t.action = functools.partial(t.on_error, "the engine is shutting down; send the request again")
            self._release()
            self._cv.notify_all()

    # -- inside ----------------------------------------------------------------------------------------
    def _refusal(self, inline: bool, key: Hashable) -> str | None:
        """Why a new request cannot be checked now, or None (called with the lock held). The stalling
        folder is named only to the client that asked for it (another client's paths are not its business)."""
        if self._closed:
            return "the engine is shutting down; send the request again when it is back"
        if len(self._tickets) >= MAX_PENDING_CHECKS:
            return (
                f"too many requests are being checked ({len(self._tickets)}); wait for their answers, "
                "then send the request again"
            )
        if not inline and len(self._stalled) >= self.max_stalled:
            mine = [t.label for t in self._stalled if t.key == key and t.label]
            where = PurePath(mine[-1]).parent if mine else None
            drive = f"the drive holding {where}" if where is not None else "a drive"
            return (
                f"input_path: reads from {drive} are stalling ({len(self._stalled)} reads of input files have "
                f"not returned, each for more than {self.time_limit:g} s: a network drive or cloud folder that "
                "stopped answering?); the engine checks no more input files until some return: copy the file to "
                "a local disk and send the request again, or reconnect the drive"
            )
        return None

    def _staff(self) -> None:
        """Start threads for waiting work that no idle thread will take (called with the lock held)."""
        working = self._threads - len(self._stalled)
        need = len(self._work) - self._idle
        while need > 0 and working < self.max_threads:
            self._serial += 1
            name = f"audioldm-check-{self._serial}"
            threading.Thread(target=self._worker, name=name, daemon=True).start()
            self._threads += 1
            self._idle += 1  # counted idle until it takes its first ticket
            working += 1
            need -= 1

    def _worker(self) -> None:
        while True:
            with self._cv:
                while not self._work and not self._closed:
                    if self._idle > self.workers:  # more idle threads than kept: this one ends
                        self._idle -= 1
                        self._threads -= 1
                        return
                    self._cv.wait()
                if self._closed:
                    self._idle -= 1
                    self._threads -= 1
                    return
                ticket = self._work.popleft()
                self._idle -= 1
                ticket.started = True
            self._run(ticket)
            with self._cv:
                if ticket.abandoned:  # past its limit: answered for it; this thread is not reused
                    self._stalled.remove(ticket)
                    self._threads -= 1
                    self._staff()
                    return
                self._idle += 1

    def _run(self, ticket: _Ticket) -> None:
        message: str | None = None
        try:
            action = ticket.check()
        except ProtocolError as exc:
            message = exc.message
        except Exception as exc:
            log.exception("checking a request failed")
            message = f"the engine hit an unexpected problem checking the request ({str(exc) or 'no details'})"
        if message is not None:
            action = functools.partial(ticket.on_error, message)
        with self._cv:
            if ticket.action is None:
                ticket.action = action
            self._release()
            self._cv.notify_all()

    def _watchdog(self) -> None:
        """Answer checks past their limit (abandoning their thread), and release answers held for order."""
        with self._cv:
            while not self._closed:
                now = time.monotonic()
                wake = None
                for t in list(self._tickets):
                    if t.action is not None:
                        continue
                    if t.deadline <= now:
                        self._expire(t)
                        continue
                    wake = t.deadline if wake is None else min(wake, t.deadline)
                    hold_end = t.born + self.order_hold
                    if hold_end > now:
                        wake = min(wake, hold_end)
                self._release()
                self._cv.wait(None if wake is None else max(wake - time.monotonic(), 0.001))

    def _expire(self, t: _Ticket) -> None:
        """A ticket past its deadline (lock held): a running check is abandoned with its own timeout
        answer; one that never got a thread says so (its file was never read, so no false words)."""
        if t.started:
            t.action = t.on_timeout
            t.abandoned = True
            self._stalled.append(t)
            self.timeouts += 1
            log.warning("an input check did not finish within %g s (%s); its thread is left", self.time_limit, t.label)
            self._staff()  # the work behind it gets a fresh thread
            return
        if t in self._work:
            self._work.remove(t)
        t.action = functools.partial(
            t.on_error,
            f"input_path: the engine could not start reading the file within {self.time_limit:g} s: every "
            f"checking thread is busy ({len(self._stalled)} reads of input files are stalling); send the request "
            "again in a moment, or copy the file to a local disk",
        )

    def _release(self) -> None:
        """Answer resolved tickets (lock held). One waits only behind an earlier unresolved ticket of its own
        client that is younger than ``order_hold``; every other answer goes out now."""
        now = time.monotonic()
        held: set[Hashable] = set()
        keep: list[_Ticket] = []
        ready: list[_Ticket] = []
        for t in self._tickets:
            if t.action is None:
                if now - t.born < self.order_hold:
                    held.add(t.key)
                keep.append(t)
            elif t.key in held:
                keep.append(t)
            else:
                ready.append(t)
        self._tickets = keep
        for t in ready:
            try:
                t.action()  # type: ignore[misc]
            except Exception:
                log.exception("answering a checked request failed")
