"""The inbox against hostile and careless files: what it refuses unread, what it waits for, what it survives.

Each test reproduces a probe that once did harm: a link to a secret put the secret into done/ as a prompt; a
long .txt ended the watcher for good (and a huge one was read whole first); a JSON written in pieces was
taken half-written; a dead watcher thread inside ``serve`` was silent. Refusals are checked on
:meth:`Inbox.process` with a client that must never be touched (the file is refused before any engine is
asked); what comes next is checked against a real ``serve`` on the tiny model.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from audioldm_daw.bridge.clients import inbox as inbox_mod
from audioldm_daw.bridge.clients.client import MAX_DATAGRAM
from audioldm_daw.bridge.clients.inbox import MAX_JSON_BYTES, Inbox
from tests.osc_helpers import Serve, serve_env, shared_server

FAST = {"steps": 2, "duration": 0.5}
SECRET = "root:$6$not-a-real-hash$shadowline:19000:0:99999:7:::"
TOO_LONG = f"more than one OSC message to the engine can carry ({MAX_DATAGRAM} bytes"


class Untouchable:
    """A client that fails the test if the inbox uses it: a refused file never reaches an engine."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine client was used ({name}) for a file that should have been refused")


def make_inbox(folder: Path, port: int = 9, settle: float = 0.0, **kw: Any) -> tuple[Inbox, list[str]]:
    said: list[str] = []
    return Inbox(folder, "127.0.0.1", port, say=said.append, settle=settle, **kw), said


def refused(inbox: Inbox, name: str) -> str:
    """Process ``name`` with a client that must not be used; the error file's text (it must be in failed/)."""
    out = inbox.process(inbox.folder / name, Untouchable())  # type: ignore[arg-type]
    assert out is not None and not out.ok and not out.retry, out
    error = inbox.failed / f"{name}.error.txt"
    assert error.is_file(), sorted(p.name for p in inbox.failed.iterdir())
    assert os.path.lexists(inbox.failed / name) and not os.path.lexists(inbox.folder / name)
    assert not list(inbox.folder.glob(".*.working"))
    text = error.read_text()
    assert text.endswith("\n") and "Errno" not in text and "Traceback" not in text, text
    return text


def everything_under(folder: Path) -> str:
    """The text of every regular file under ``folder`` (links not followed)."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for f in files:
            p = Path(root) / f
            if p.is_file() and not p.is_symlink():
                out.append(p.read_text(errors="replace"))
    return "\n".join(out)


# -- links, pipes, folders: refused unread ----------------------------------------------------------------
def test_a_link_to_a_file_outside_is_moved_to_failed_and_its_target_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"  # stands in for /etc/shadow
    secret.write_text(SECRET + "\n")
    inbox, _ = make_inbox(tmp_path / "inbox")
    (inbox.folder / "leak.txt").symlink_to(secret)
    text = refused(inbox, "leak.txt")
    assert "leak.txt is a symbolic link" in text and "did not read" in text
    moved = inbox.failed / "leak.txt"
    assert moved.is_symlink() and os.readlink(moved) == str(secret)  # the link itself was moved, intact
    assert SECRET not in everything_under(inbox.folder)
    assert secret.read_text() == SECRET + "\n"


def test_a_link_to_a_file_inside_the_inbox_is_refused_too(tmp_path: Path) -> None:
    """Documented: even a link to a good request inside the folder is refused (a link may be re-pointed
    between the look and the read; the convention is a file, or a rename)."""
    inbox, _ = make_inbox(tmp_path / "inbox")
    (inbox.folder / "real.json.part").write_text(json.dumps({"prompt": "warm pad"}))
    (inbox.folder / "alias.json").symlink_to(inbox.folder / "real.json.part")
    assert "alias.json is a symbolic link" in refused(inbox, "alias.json")
    assert (inbox.folder / "real.json.part").is_file()  # the target stays where it was, untouched


def test_a_hard_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET)
    inbox, _ = make_inbox(tmp_path / "inbox")
    os.link(outside, inbox.folder / "hard.txt")
    text = refused(inbox, "hard.txt")
    assert "hard.txt is a hard link" in text and SECRET not in text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_or_a_folder_named_like_a_request_never_blocks_the_inbox(tmp_path: Path) -> None:
    inbox, _ = make_inbox(tmp_path / "inbox")
    os.mkfifo(inbox.folder / "pipe.txt")  # opening it for reading would wait for a writer forever
    (inbox.folder / "folder.txt").mkdir()
    (inbox.folder / "folder.txt" / "inner.txt").write_text("x")
    found = {p.name for p in inbox.pending()}
    assert found == {"pipe.txt", "folder.txt"}  # offered at once (refused unread), not left to block later passes

    texts: dict[str, str] = {}
    worker = threading.Thread(target=lambda: texts.update({n: refused(inbox, n) for n in sorted(found)}), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader before failing, so that the test run ends
        with open(inbox.folder / ".pipe.txt.working", "w") as w:
            w.write("x")
        pytest.fail("the inbox blocked on a named pipe")
    assert "pipe.txt is a named pipe" in texts["pipe.txt"]
    assert "folder.txt is a folder" in texts["folder.txt"]
    assert (inbox.failed / "folder.txt" / "inner.txt").read_text() == "x"  # moved whole, nothing lost
    assert inbox.pending() == []


# -- sizes: bounded before reading --------------------------------------------------------------------------
def test_a_prompt_file_over_the_limit_is_refused_with_the_limit_named(tmp_path: Path) -> None:
    inbox, _ = make_inbox(tmp_path / "inbox")
    (inbox.folder / "long.txt").write_text("warm pad " * (70_000 // 9))  # about 70 kB: "Message too long" once
    text = refused(inbox, "long.txt")
    assert text.startswith("the prompt file long.txt is 69993 bytes, " + TOO_LONG), text
    assert "shorten the prompt" in text and "Errno" not in text and "Message too long" not in text
    # the largest .txt that can be sent is not refused for its size (the limit is exact, not a guess)
    (inbox.folder / "edge.txt").write_text("a" * MAX_DATAGRAM)
    assert inbox_mod.read_bounded(inbox.folder / "edge.txt", "edge.txt", inbox_mod.limit_for("edge.txt"))


def test_a_huge_sparse_prompt_file_is_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = make_inbox(tmp_path / "inbox")
    huge = inbox.folder / "huge.txt"
    with open(huge, "wb") as f:
        f.write(b"a loud ")
        f.truncate(100 * 2**20)  # sparse: costs no disk, but reading it whole costs its size in memory
    read_bytes: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read_bytes.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    tracemalloc.start()
    try:
        text = refused(inbox, "huge.txt")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"100 MiB sparse .txt refused: {sum(read_bytes)} bytes read, Python peak {peak / 2**20:.2f} MiB")
    assert f"the prompt file huge.txt is {100 * 2**20} bytes" in text and TOO_LONG in text
    assert sum(read_bytes) == 0  # refused on fstat's size, before a byte was read
    assert peak < 4 * 2**20, peak


def test_a_json_file_over_its_bound_and_a_json_prompt_too_long_to_send(tmp_path: Path) -> None:
    inbox, _ = make_inbox(tmp_path / "inbox")
    (inbox.folder / "big.json").write_text(json.dumps({"prompt": "x", "pad": " " * MAX_JSON_BYTES}))
    text = refused(inbox, "big.json")
    assert f"more than the {MAX_JSON_BYTES} bytes a JSON request may have (it was not read)" in text, text
    # within the file bound, but its prompt is too long for one message: the client's check, the same words
    (inbox.folder / "wordy.json").write_text(json.dumps({"prompt": "a" * 70_000, **FAST}))
    text = refused(inbox, "wordy.json")
    assert text.startswith("the request is ") and TOO_LONG in text and "shorten the prompt" in text, text


def test_a_file_that_grows_after_its_size_was_checked_is_still_read_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "grow.json"
    path.write_bytes(b"y" * 5000)
    real_fstat, real_read = os.fstat, os.read
    asked: list[int] = []

    def fstat_before_growth(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd)[:10])
        fields[6] = 1  # st_size as it was when checked, before the writer went on
        return os.stat_result(fields)

    def read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "fstat", fstat_before_growth)
    monkeypatch.setattr(os, "read", read)
    with pytest.raises(inbox_mod.BadRequest, match=r"grow\.json is 101 bytes, more than the 100 bytes"):
        inbox_mod.read_bounded(path, "grow.json", 100)
    assert sum(asked) == 101  # one byte past the limit proves it too long; no more is read


# -- complete files only --------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_growing_file_is_taken_only_once_it_looks_the_same_twice(tmp_path: Path) -> None:
    """What protects a file being written is the two looks, not the file's age: this writer keeps an old
    modification time (as copies that preserve times do), which a check of the age alone took at once."""
    clock = Clock()
    inbox, _ = make_inbox(tmp_path / "inbox", settle=2.0, clock=clock)
    p = inbox.folder / "pad.json"
    old = time.time() - 3600

    def grow(text: str) -> None:
        with open(p, "a") as f:
            f.write(text)
        os.utime(p, (old, old))

    grow('{"prompt": ')
    assert inbox.pending() == []  # first look
    clock.now += 5
    grow('"warm pad"')
    assert inbox.pending() == []  # it changed since the first look (same old mtime, new size): the check restarts
    clock.now += 1.9
    assert inbox.pending() == []  # unchanged, but not yet settle apart
    clock.now += 5
    grow("}")
    assert inbox.pending() == []
    clock.now += 2.0
    assert inbox.pending() == [p]
    assert inbox_mod.read_request(p, p.read_text())[1] == {"prompt": "warm pad"}


def _write_in_chunks(path: Path, chunks: list[str], gap: float) -> threading.Thread:
    def run() -> None:
        with open(path, "w") as f:
            for i, chunk in enumerate(chunks):
                if i:
                    time.sleep(gap)
                f.write(chunk)
                f.flush()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _taken_while_writing(inbox: Inbox, path: Path, writer: threading.Thread, limit_s: float = 20.0) -> tuple[bool, str]:
    """Look every 0.05 s, as a fast watcher would: was ``path`` offered before the writer finished; and the
    text it had when offered (once the writer is done, within ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        writing = writer.is_alive()
        if path in inbox.pending():
            return writing, path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was never offered")


def test_a_json_written_in_chunks_a_second_apart_is_taken_whole(tmp_path: Path) -> None:
    chunks = ['{"prompt": "warm', ' pad", "bars": 4,', ' "bpm": 120}']
    inbox, _ = make_inbox(tmp_path / "inbox", settle=inbox_mod.SETTLE_S)  # the default
    path = inbox.folder / "slow.json"
    early, text = _taken_while_writing(inbox, path, _write_in_chunks(path, chunks, gap=1.0))
    assert not early and text == "".join(chunks)
    assert inbox_mod.read_request(path, text)[1] == {"prompt": "warm pad", "bars": 4.0, "bpm": 120.0}

    # The control: with a settle shorter than the writer's pauses the same writer is taken half-written.
    # So the chunks above really were far enough apart to be caught; a writer that pauses longer than any
    # settle is what the .part convention is for.
    short, _ = make_inbox(tmp_path / "short", settle=0.3)
    path = short.folder / "slow.json"
    early, text = _taken_while_writing(short, path, _write_in_chunks(path, chunks, gap=1.0))
    assert early and text != "".join(chunks)


def test_part_tmp_and_hidden_files_are_never_taken_until_renamed(tmp_path: Path) -> None:
    clock = Clock()
    inbox, _ = make_inbox(tmp_path / "inbox", settle=0.5, clock=clock)
    old = time.time() - 3600
    for name in ("pad.json.part", "pad2.txt.tmp", ".hidden.json", "PAD3.JSON.PART"):
        (inbox.folder / name).write_text(json.dumps({"prompt": "warm pad"}))
        os.utime(inbox.folder / name, (old, old))
    for _ in range(3):
        assert inbox.pending() == []
        clock.now += 10
    (inbox.folder / "pad.json.part").rename(inbox.folder / "pad.json")
    assert inbox.pending() == []  # renamed: the same short check as any file
    clock.now += 0.5
    assert [p.name for p in inbox.pending()] == ["pad.json"]


# -- against a real engine: the next request still renders ------------------------------------------------
@pytest.fixture(scope="module")
def engine_port(tiny_model_dir: Path, request: pytest.FixtureRequest) -> int:
    return shared_server(tiny_model_dir, request).address[1]


def watch(inbox: Inbox, until: Callable[[], bool], said: list[str], timeout: float = 120.0) -> None:
    """Run the watcher's own loop in a thread until ``until()`` (or fail after ``timeout`` seconds)."""
    stop = threading.Event()
    thread = threading.Thread(target=inbox.run, kwargs={"poll": 0.05, "stop": stop.is_set}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not until():
            assert thread.is_alive(), f"the watcher's loop ended: {said}"
            assert time.monotonic() < deadline, f"not within {timeout} s: {said}"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
        inbox.close()
    assert not thread.is_alive()


def test_poison_files_go_to_failed_and_the_next_request_still_renders(
    tmp_path: Path, engine_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every probe at once, older than the good request (they are looked at first): the good one renders."""
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    inbox, said = make_inbox(tmp_path / "inbox", engine_port, settle=0.1)
    f = inbox.folder
    (f / "leak.txt").symlink_to(secret)
    (f / "long.txt").write_text("warm pad " * 8000)
    with open(f / "huge.txt", "wb") as h:
        h.truncate(100 * 2**20)
    os.mkfifo(f / "pipe.txt")
    (f / "dir.txt").mkdir()
    (f / "boom.json").write_text(json.dumps({"prompt": "boom", **FAST}))
    old = time.time() - 60
    for name in ("long.txt", "huge.txt", "boom.json"):
        os.utime(f / name, (old, old))
    (f / "next.json").write_text(json.dumps({"prompt": "a kick drum", "seed": 3, **FAST}))

    real = inbox_mod.read_request

    def poison(path: Path, text: str) -> Any:  # an error of the watcher's own, in one request only
        if path.name == "boom.json":
            raise RuntimeError("injected fault")
        return real(path, text)

    monkeypatch.setattr(inbox_mod, "read_request", poison)
    watch(inbox, lambda: (f / "done" / "next.result.json").is_file(), said)
    failed = {p.name for p in inbox.failed.iterdir() if not p.name.endswith(".error.txt")}
    assert failed == {"leak.txt", "long.txt", "huge.txt", "pipe.txt", "dir.txt", "boom.json"}
    boom = (inbox.failed / "boom.json.error.txt").read_text()
    assert "could not handle this request (RuntimeError: injected fault)" in boom and "go on" in boom
    assert json.loads((f / "done" / "next.result.json").read_text())["seed"] == 3
    assert SECRET not in everything_under(f)
    assert any(line.startswith("boom.json: failed:") for line in said), said


def test_an_error_in_the_loop_itself_is_said_and_the_loop_goes_on(
    tmp_path: Path, engine_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, said = make_inbox(tmp_path / "inbox", engine_port, settle=0.1)
    (inbox.folder / "after.json").write_text(json.dumps({"prompt": "rain on a tin roof", **FAST}))
    real, calls = Inbox.pending, []

    def flaky(self: Inbox) -> list[Path]:
        calls.append(1)
        if len(calls) <= 2:
            raise OSError(5, "Input/output error")  # the folder on a flaky disk, twice
        return real(self)

    monkeypatch.setattr(Inbox, "pending", flaky)
    monkeypatch.setattr(inbox_mod, "ERROR_PAUSE_S", 0.1)
    watch(inbox, lambda: (inbox.folder / "done" / "after.result.json").is_file(), said)
    errors = [line for line in said if line.startswith("error while looking at the folder")]
    assert len(errors) == 2 and "trying again in 0.1 s" in errors[0], said


# -- a dead watcher is never silent ---------------------------------------------------------------------------
def test_start_watcher_reports_a_thread_that_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, said = make_inbox(tmp_path / "inbox")

    def dies(self: Inbox, **_kw: Any) -> None:
        raise MemoryError("injected")

    monkeypatch.setattr(Inbox, "run", dies)
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)  # the traceback is expected here
    inbox_mod.start_watcher(inbox, lambda: False).join(10)
    assert inbox.stopped == "MemoryError: injected"
    assert said and said[-1].startswith("STOPPED (MemoryError: injected): request files dropped in")
    # stopped on purpose (serve shutting down): nothing to report
    quiet, said2 = make_inbox(tmp_path / "quiet")
    monkeypatch.setattr(Inbox, "run", lambda self, **_kw: None)
    inbox_mod.start_watcher(quiet, lambda: True).join(10)
    assert quiet.stopped is None and not said2


def test_serve_says_when_its_inbox_thread_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``serve --inbox`` with a watcher that dies at once (injected at start-up by a sitecustomize)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "from audioldm_daw.bridge.clients import inbox\n"
        "def _dies(self, **kw):\n"
        "    raise RuntimeError('injected watcher fault')\n"
        "inbox.Inbox.run = _dies\n"
    )
    env = serve_env(PYTHONPATH=str(hook))
    folder = tmp_path / "inbox"
    clips = tmp_path / "clips"
    clips.mkdir()
    server = Serve(tiny_model_dir, clips, reply_port=9, extra=["--inbox", str(folder), "--no-audition"], env=env)
    try:
        server.wait_for(lambda lines: any("inbox: STOPPED" in line for line in lines), 60)
        assert server.proc.poll() is None  # the engine itself goes on serving
    finally:
        server.stop()
    line = next(line for line in server.lines if "inbox: STOPPED" in line)
    assert "RuntimeError: injected watcher fault" in line and str(folder.resolve()) in line, server.output()
