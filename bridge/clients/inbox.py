"""An inbox folder: any host or tool that can write a file can ask for a clip.

Drop ``pad.json`` (``{"mode": "generate", "prompt": "warm pad", "bars": 4, "bpm": 120}``: the keys are the
OSC names of docs/OSC.md, plus ``mode``, default generate) or ``pad.txt`` (one prompt) into the folder.
The watcher hands each request to a running ``audioldm-daw serve`` (it is a client, like ``send``), and
when the clip is done writes, in ``done/``: ``pad.wav``, its sidecar ``pad.json``, ``pad.result.json``
(path, seconds, sample rate, seed, sidecar) and the request itself as ``pad.request.json``. A request the
engine cannot do is moved to ``failed/`` with ``pad.json.error.txt`` beside it saying why.

Nothing is lost across a restart of either side: a request is claimed by renaming it to a hidden
``.pad.json.working`` while it is rendered, renamed back if the engine goes away or the watcher stops, and
a claimed file found at start-up (the watcher was killed) is put back and done again. While no engine
answers, requests simply wait in the folder.

``inbox --engine URL`` renders on remote engines (their ``serve --http``) instead of a local ``serve``: the
watcher is handed a :class:`~audioldm_daw.bridge.clients.remote_client.RemoteClient`, which uploads the takes
requests name and downloads each clip into the local clips folder; ``done/`` then gets it as it always does.

Writing a request from a script: a file is taken only once it is complete, that is, once its size and
modification time are unchanged across two looks at least ``settle`` seconds apart (``--settle``). That
check cannot tell a writer's pause longer than ``settle`` from the end of the file, so a script that
writes slowly, or in pieces, uses the rename convention: write ``pad.json.part`` (or ``pad.json.tmp``, or a
name that starts with ``.``; such files are never taken) and rename it to ``pad.json`` when it is complete.
The renamed file is taken after the same short check.

What the watcher reads, and what it refuses (moved to ``failed/`` with a sentence saying why, never read):
only regular files inside the folder. A symbolic link is refused even when it points inside the folder (it
is moved, its target is never opened: a link can point at any file the watcher may read), and so are hard
links (the same content under another name elsewhere), named pipes, folders and devices. The size is
checked before anything is read: a ``.txt`` prompt must fit one OSC message (the client's limit, the same
sentence ``send`` gives), a ``.json`` request has a bound of its own (:data:`MAX_JSON_BYTES`).

One bad request never stops the next: whatever goes wrong with one (an error of the watcher's own
included) sends it to ``failed/`` with a sentence; an error in the loop itself is said and the loop goes on
after a pause. ``serve --inbox`` says so if the watcher's thread ever stops (see :func:`start_watcher`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audioldm_daw.bridge.clients.client import (
    MAX_DATAGRAM,
    EngineClient,
    EngineUnavailable,
    JobFailed,
    RequestTooLarge,
    Result,
    Take,
    takes_for,
    too_large,
)
from audioldm_daw.engine.errors import InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.clients.remote_client import RemoteClient

SUFFIXES = (".json", ".txt")
NEVER_TAKEN = (".part", ".tmp")  # a script writes NAME.json.part and renames it when complete
WORKING = ".working"
SETTLE_S = 2.0  # a file must look the same twice this far apart before it is taken (it may still be written)
RETRY_S = 2.0  # how often to look for the engine again while none answers
ERROR_PAUSE_S = 5.0  # after an error in the loop itself: a pause, so that a lasting fault does not spin
MAX_PROMPT_FILE_BYTES = MAX_DATAGRAM  # a longer prompt could never be sent (one OSC message, one datagram)
MAX_JSON_BYTES = 256 * 1024  # a request is a small object of option names and values; a prompt fits in one datagram
READ_CHUNK = 64 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = (
    os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)  # NONBLOCK: opening a named pipe must not wait for a writer (it is refused after fstat)

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A request file that can never work as written (its message goes to ``failed/NAME.error.txt``)."""


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def _refused(name: str, what: str) -> BadRequest:
    return BadRequest(
        f"{name} is {what}: the inbox reads only regular files inside its folder, and did not read this one; "
        "write the request itself into the folder (a copy, not a link)"
    )


def limit_for(name: str) -> int:
    """The most bytes a request file of this name may have (checked before it is read)."""
    return MAX_PROMPT_FILE_BYTES if name.lower().endswith(".txt") else MAX_JSON_BYTES


def _too_big(name: str, size: int, limit: int) -> BadRequest | RequestTooLarge:
    if name.lower().endswith(".txt"):
        return too_large(size, f"the prompt file {name}")  # the limit is one datagram: send's own sentence
    return BadRequest(
        f"the request file {name} is {size} bytes, more than the {limit} bytes a JSON request may have "
        "(it was not read); a request is a small object of OSC option names and values (docs/OSC.md), and its "
        f"prompt must fit one OSC message ({MAX_DATAGRAM} bytes) anyway"
    )


def read_bounded(path: Path, name: str, limit: int) -> bytes:
    """The bytes of ``path`` (named ``name`` to the user), if it is a regular file of at most ``limit`` bytes;
    else BadRequest saying why, without reading it. ``path`` itself is opened without following a link
    (O_NOFOLLOW; where the system has none, a link is refused by lstat and a swap caught by the inode)."""
    before = None
    if not _NOFOLLOW:
        before = os.lstat(path)
        if not stat.S_ISREG(before.st_mode):
            raise _refused(name, _kind(before.st_mode))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):  # ELOOP on Linux, EMLINK on FreeBSD: O_NOFOLLOW met a link
            raise _refused(name, "a symbolic link") from None
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = 0
        if mode and not stat.S_ISREG(mode):
            raise _refused(name, _kind(mode)) from None
        raise BadRequest(
            f"{name} could not be opened ({exc.strerror or 'an error of the system'}); check its permissions"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refused(name, _kind(st.st_mode))
        if before is not None and (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise _refused(name, "a file that was replaced while it was opened")
        if st.st_nlink > 1:
            raise _refused(name, "a hard link (the same file also has another name, perhaps outside the inbox)")
        if st.st_size > limit:
            raise _too_big(name, st.st_size, limit)
        parts: list[bytes] = []
        total = 0
        while total <= limit:  # bounded even if the file grows after the size was checked
            part = os.read(fd, min(READ_CHUNK, limit + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
        if total > limit:
            raise _too_big(name, max(total, os.fstat(fd).st_size), limit)
        return b"".join(parts)
    finally:
        os.close(fd)


def read_request(path: Path, text: str) -> tuple[str, dict[str, Any], str | None]:
    """(mode, values by request field, clip name) of a request file's contents; BadRequest naming the key."""
    from audioldm_daw.bridge import protocol
    from audioldm_daw.engine.params import MODES, PARAMS

    if path.suffix.lower() == ".txt":
        prompt = " ".join(text.split())
        if not prompt:
            raise BadRequest("the file is empty: a .txt request holds one prompt")
        return "generate", {"prompt": prompt}, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object of OSC option names and values, got {type(data).__name__}")
    mode = data.pop("mode", "generate")
    if mode not in MODES:
        raise BadRequest(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    name = data.pop("name", None)
    if name is not None:
        try:
            protocol.check_name(name if isinstance(name, str) else "")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    values: dict[str, Any] = {}
    names = {p.name: p for p in PARAMS.values()}
    for key, value in data.items():
        param = names.get(key)
        if param is None:
            known = ", ".join(["mode", "name", *names])
            raise BadRequest(f"{key}: not a request key (keys: {known})")
        if not param.applies_to(mode):
            raise BadRequest(param.not_for(mode).message(protocol.osc_name))
        values[param.field] = _value(param, value)
    if isinstance(values.get("input_path"), str):
        given = Path(values["input_path"]).expanduser()
        values["input_path"] = str(given if given.is_absolute() else path.parent / given)  # beside the request
    return mode, values, name


def _value(param: Any, value: Any) -> Any:
    """A JSON value checked as the engine checks it; numbers may also come as strings ("4", "off")."""
    import argparse

    from audioldm_daw.bridge import protocol
    from audioldm_daw.bridge.param_text import converter

    try:
        if isinstance(value, str) and param.kind not in ("text", "path", "string", "choice"):
            return converter(param)(value)
        return param.check(value)
    except argparse.ArgumentTypeError as exc:
        raise BadRequest(f"{param.name}: {exc}") from None
    except InvalidRequest as exc:
        raise BadRequest(exc.message(protocol.osc_name)) from None


@dataclass
class Outcome:
    request: str  # the request file's name
    ok: bool
    message: str  # where the result went, or why it failed
    retry: bool = False  # left in the inbox (the engine went away)


class Inbox:
    """Watches ``folder`` and renders its requests, one at a time, in the order they arrived."""

    def __init__(
        self,
        folder: Path,
        host: str = "127.0.0.1",
        port: int = 9000,
        say: Callable[[str], None] = print,
        settle: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
        key: str | None = None,
        remote: RemoteClient | None = None,
    ) -> None:
        """``key``: the engine's key (``serve --token-file``) for an engine on another computer. ``remote``:
        render on remote engines through this client instead of OSC to ``host``/``port`` (its owner closes it)."""
        self.key = key
        self.remote = remote
        self.where = remote.where if remote is not None else f"udp://{host}:{port}"
        self.folder = Path(folder).expanduser().resolve()
        self.done = self.folder / "done"
        self.failed = self.folder / "failed"
        for d in (self.folder, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.say = say
        self.settle = settle
        self.clock = clock
        self.seen: dict[str, tuple[tuple[int, int, int], float]] = {}  # name -> (size, mtime, inode), first seen
        self.client: EngineClient | RemoteClient | None = None
        self.waiting_said = False
        self.stopped: str | None = None  # why the watcher's thread ended, None while it runs (start_watcher)

    # -- the folder -----------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Put back requests a killed watcher had claimed (they are done again); their names."""
        back = []
        for claimed in sorted(self.folder.glob(f".*{WORKING}")):
            original = self.folder / claimed.name[1 : -len(WORKING)]
            if not os.path.lexists(original):
                claimed.rename(original)
                back.append(original.name)
        return back

    def pending(self) -> list[Path]:
        """Request files that are complete, oldest first: a regular file once its size, modification time and
        inode are the same at two looks ``settle`` apart (this call is a look); anything else with a request
        suffix at once (it is refused unread). Names ending in .part or .tmp, or starting with a dot, never."""
        now = self.clock()
        found = []
        listed = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.lower().endswith(NEVER_TAKEN) or not name.lower().endswith(SUFFIXES):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:  # gone since the listing
                    continue
                path = self.folder / name
                if not stat.S_ISREG(st.st_mode):
                    found.append((st.st_mtime_ns, name, path))
                    continue
                listed.add(name)
                look = (st.st_size, st.st_mtime_ns, st.st_ino)
                before = self.seen.get(name)
                if before is None or before[0] != look:
                    self.seen[name] = (look, now)  # new or changed: the check starts again
                elif now - before[1] >= self.settle:
                    found.append((st.st_mtime_ns, name, path))
        for name in set(self.seen) - listed:
            del self.seen[name]
        return [p for _, _, p in sorted(found)]

    def settled(self) -> list[Path]:
        """:meth:`pending` after waiting out one ``settle`` (for a single pass: ``inbox --once``)."""
        first = self.pending()
        if not self.seen:  # no regular file to watch: nothing to wait for
            return first
        time.sleep(self.settle)
        return self.pending()

    def claim(self, path: Path) -> Path | None:
        claimed = self.folder / f".{path.name}{WORKING}"
        try:
            path.rename(claimed)  # atomic: two watchers on one folder never take the same request (a link: itself)
        except FileNotFoundError:
            return None
        self.seen.pop(path.name, None)
        return claimed

    # -- the engine -----------------------------------------------------------------------------------
    def engine(self) -> EngineClient | RemoteClient | None:
        """A client registered with a live engine, or None (said once) while none answers."""
        try:
            if self.client is None:
                self.client = self.remote or EngineClient(self.host, self.port, key=self.key)
            self.client.connect(timeout=1.0)
        except EngineUnavailable as exc:
            if not self.waiting_said:
                self.say(f"waiting: {exc}; requests stay in {self.folder} until it answers")
                self.waiting_said = True
            return None
        if self.waiting_said:
            self.say(f"engine at {self.where} answers")
            self.waiting_said = False
        return self.client

    # -- one request ----------------------------------------------------------------------------------
    def process(self, path: Path, client: EngineClient | RemoteClient) -> Outcome | None:
        """Render one request file; None if another watcher took it first. Whatever goes wrong with this one
        request ends in ``failed/`` with a sentence (or back in the inbox when the engine went away)."""
        claimed = self.claim(path)
        if claimed is None:
            return None
        t0 = time.perf_counter()
        takes: list[Take] = []
        try:
            try:
                data = read_bounded(claimed, path.name, limit_for(path.name))
                mode, values, name = read_request(path, data.decode("utf-8", errors="replace"))
                from audioldm_daw.bridge.protocol import osc_name

                takes = takes_for(mode, values, name=name or path.stem, prefix="inbox", namer=osc_name)
            except (BadRequest, InvalidRequest) as exc:
                return self._failed(claimed, path.name, str(exc))
            client.backlog.clear()
            try:
                for take in takes:
                    client.submit(take)
                results = client.wait([t.job_id for t in takes])
            except RequestTooLarge as exc:  # this system's own datagram limit is lower than the client's check
                self._cancel(takes)
                return self._failed(claimed, path.name, str(exc))
            except EngineUnavailable as exc:
                claimed.rename(path)
                return Outcome(path.name, False, f"{exc}; it stays in the inbox", retry=True)
            if any(isinstance(r, JobFailed) and str(r) == "cancelled" for r in results.values()):
                claimed.rename(path)  # the engine stopped (or someone cancelled it): not the request's fault
                return Outcome(path.name, False, "cancelled in the engine; it stays in the inbox", retry=True)
            errors = [r for r in results.values() if isinstance(r, JobFailed)]
            if errors:
                return self._failed(claimed, path.name, "; ".join(str(e) for e in errors))
            done = [r for r in (results[t.job_id] for t in takes) if isinstance(r, Result)]  # no errors: all of them
            return self._done(claimed, path, takes, done, time.perf_counter() - t0)
        except Exception as exc:  # a fault of the watcher's own, or of the disk: this request only
            self._cancel(takes)
            log.debug("request %s", path.name, exc_info=True)
            reason = (
                f"the inbox could not handle this request ({type(exc).__name__}: {exc}); it was set aside so that "
                "the requests after it go on; drop it in again to retry, and report the error if it comes back"
            )
            if not os.path.lexists(claimed):  # already moved on (to done/): nothing to set aside
                return Outcome(path.name, False, reason)
            return self._failed(claimed, path.name, reason)
        except BaseException:
            if os.path.lexists(claimed) and not os.path.lexists(path):  # stopped mid-job: it waits for the next start
                claimed.rename(path)
                self._cancel(takes)
            raise

    def _cancel(self, takes: list[Take]) -> None:
        if self.client is not None:
            for take in takes:
                self.client.cancel(take.job_id)

    def _failed(self, claimed: Path, name: str, message: str) -> Outcome:
        target = _unique(self.failed / name, lambda p: [p, p.with_name(p.name + ".error.txt")])
        _write_new(target.with_name(target.name + ".error.txt"), message + "\n")
        claimed.rename(target)
        return Outcome(name, False, f"{message} (moved to {target.relative_to(self.folder)})")

    def _done(self, claimed: Path, path: Path, takes: list[Take], results: list[Result], seconds: float) -> Outcome:
        base = _unique(self.done / path.stem, lambda p: [_plus(p, ".wav"), _plus(p, ".result.json")])
        copies = []
        for i, res in enumerate(results):
            stem = base.name if i == 0 else f"{base.name}-{i + 1}"
            wav = self.done / f"{stem}.wav"
            engine_path = res.path
            try:
                _copy_clip(Path(res.path), wav)
                res.path = str(wav)
            except OSError:  # an engine on another computer: its clips folder is not ours to read
                pass
            obj = res.to_json() | {"engine_path": engine_path, "mode": takes[i].mode, "prompt": takes[i].prompt}
            copies.append(obj)
        summary = copies[0] | {"request": path.name, "seconds_total": round(seconds, 3)}
        if len(copies) > 1:
            summary["takes"] = copies
        request_copy = self.done / f"{base.name}.request{path.suffix}"
        result_file = _plus(base, ".result.json")
        tmp = result_file.with_name(f".{result_file.name}.tmp")
        _write_new(tmp, json.dumps(summary, indent=2) + "\n")
        claimed.rename(request_copy)
        tmp.rename(result_file)  # last: a watcher of done/ that sees the result file finds everything beside it
        return Outcome(path.name, True, f"{Path(copies[0]['path']).name} ({seconds:.1f} s)")

    # -- the loop -------------------------------------------------------------------------------------
    def run_once(self) -> list[Outcome]:
        """Every complete request now in the folder (none while no engine answers)."""
        out: list[Outcome] = []
        for path in self.pending():
            client = self.engine()
            if client is None:
                break
            outcome = self.process(path, client)
            if outcome is None:
                continue
            out.append(outcome)
            self.say(
                f"{outcome.request}: {'done, ' if outcome.ok else 'failed: ' if not outcome.retry else ''}"
                f"{outcome.message}"
            )
            if outcome.retry:
                break
        return out

    def run(self, poll: float = 0.5, stop: Callable[[], bool] = lambda: False) -> None:
        """Watch until ``stop()``; an error in one pass is said, and the next pass follows a pause."""
        try:
            back = self.recover()
        except OSError as exc:  # the folder is not ours to rename in: said, and the watching goes on
            back = []
            self.say(
                f"could not put back the requests of a stopped watcher ({exc.strerror or exc}); check {self.folder}"
            )
        if back:
            self.say(
                f"put back {len(back)} request(s) that were being rendered when the watcher stopped: " + ", ".join(back)
            )
        self.say(f"watching {self.folder} (results in done/, refused requests in failed/)")
        while not stop():
            try:
                outcomes = self.run_once()
            except Exception as exc:
                log.debug("inbox loop", exc_info=True)
                with contextlib.suppress(Exception):  # nowhere to say it (stdout closed): the loop goes on regardless
                    self.say(
                        f"error while looking at the folder ({type(exc).__name__}: {exc}); "
                        f"trying again in {ERROR_PAUSE_S:g} s"
                    )
                self.close()  # a fresh client next time, in case the socket was the trouble
                time.sleep(ERROR_PAUSE_S)
                continue
            if self.waiting_said or any(o.retry for o in outcomes):
                time.sleep(RETRY_S)
            else:
                time.sleep(poll)

    def close(self) -> None:
        if self.client is not None and self.client is not self.remote:  # a remote client is its owner's to close
            self.client.close()
        self.client = None


def start_watcher(inbox: Inbox, stop: Callable[[], bool]) -> threading.Thread:
    """Run ``inbox`` in a daemon thread (``serve --inbox``). Should the thread ever end while ``stop()`` is
    false, it says so in a line and sets ``inbox.stopped`` (why), so that a dead inbox is never silent."""

    def watch() -> None:
        why = "it returned"
        try:
            inbox.run(stop=stop)
        except BaseException as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if not stop():
                inbox.stopped = why
                inbox.say(
                    f"STOPPED ({why}): request files dropped in {inbox.folder} are no longer rendered; "
                    "restart serve to start the inbox again"
                )
            inbox.close()

    thread = threading.Thread(target=watch, daemon=True, name="inbox")
    thread.start()
    return thread


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a new file, never through a link someone put there."""
    if os.path.lexists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _unique(path: Path, taken: Callable[[Path], list[Path]]) -> Path:
    """``path``, or ``name-2``, ``name-3`` ... if any of the files ``taken(candidate)`` names exists (a
    dangling link counts: nothing is written through one)."""
    candidate, n = path, 1
    while any(os.path.lexists(p) for p in taken(candidate)):
        n += 1
        candidate = (
            path.with_name(f"{path.stem}-{n}{path.suffix}")
            if path.suffix in SUFFIXES
            else path.with_name(f"{path.name}-{n}")
        )
    return candidate


def _plus(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended (a stem may hold dots: ``my.take`` -> ``my.take.wav``)."""
    return path.with_name(path.name + suffix)


def _copy_clip(src: Path, wav: Path) -> None:
    """The clip and its sidecar into ``done/`` (a hard link where the folders share a disk)."""
    for a, b in ((src, wav), (src.with_suffix(".json"), wav.with_name(wav.name[: -len(".wav")] + ".json"))):
        if not a.is_file():
            if a == src:
                raise FileNotFoundError(a)
            continue
        tmp = b.with_name(f".{b.name}.tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)  # a leftover (or a planted link): copyfile would write through a link
        try:
            tmp.hardlink_to(a)
        except OSError:
            shutil.copyfile(a, tmp)
        tmp.replace(b)
