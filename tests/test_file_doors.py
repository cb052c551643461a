"""The engine's file doors under hostile or broken conditions, each probe reproduced:

- stalled input reads (a FUSE or network file that never answers) hold only their own request;
- ``folder`` and ``name`` cannot lead out of the clips folder, run over the name limit or hold control
  characters;
- an input's decoded size is bounded from its header (a small FLAC of 8 channels at 384 kHz);
- crash leftovers in subfolders are cleaned at start, and a lost job is announced once;
- write failures and a broken audio library are sentences that say what happened and what to do;
- input paths outside the allowed folders are refused without touching the file system, in the same
  words whether or not the file exists.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import socket
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from osc_helpers import Client, dead_pid

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.server.check_door import CheckDoor
from audioldm_daw.bridge.server.input_files import check_input_audio, input_folders
from audioldm_daw.bridge.server.jobs import JobQueue
from audioldm_daw.bridge.server.journal import Journal
from audioldm_daw.bridge.server.osc_server import OscServer
from audioldm_daw.engine import input_audio, output
from audioldm_daw.engine.errors import AudioLibraryError, Cancelled, InputAudioError, OutputError

CLASS_NAMES = ("Error", "Exception", "errno", "Errno", "Traceback", "System error")


def plain(message: str) -> None:
    """A message for people: no exception class names, no errno numbers, no libsndfile words."""
    assert not any(word in message for word in CLASS_NAMES), message


def _wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.sin(np.arange(int(rate * seconds)) / 5.0) * 0.3, rate)
    return path


class StubEngine:
    """Checks nothing itself (the door's file checks are what is tested) and renders until cancelled."""

    model = SimpleNamespace(model_id="stub", device="cpu", path=None)

    def check(self, request) -> None:
        return None

    def render(self, request, out, progress=None, cancel=None):
        while not (cancel and cancel()):
            time.sleep(0.01)
        raise Cancelled("cancelled")


class StallingSoundfile:
    """soundfile, except that reading the header of a file named ``stall*`` blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()

    def info(self, path: str):
        if Path(path).name.startswith("stall"):
            with self._lock:
                self.entered += 1
            self.release.wait(60)
        return sf.info(path)

    def __getattr__(self, name: str):
        return getattr(sf, name)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _answer(client: Client, job: str, timeout: float) -> tuple[tuple[str, list], float]:
    t0 = time.monotonic()
    msg = client.replies.until(lambda m: m[1][:1] == [job], timeout)[-1]
    return msg, time.monotonic() - t0


# -- 3: stalled reads ------------------------------------------------------------------------------------------
def test_stalled_reads_hold_only_their_own_request_and_are_bounded(tmp_path, monkeypatch):
    shim = StallingSoundfile()
    monkeypatch.setattr(input_audio, "load_soundfile", lambda: shim)
    drive = tmp_path / "nas"
    stalls = [_wav(drive / f"stall-{i}.wav") for i in range(5)]
    healthy = _wav(tmp_path / "local" / "take.wav")
    srv = OscServer(StubEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", check_time_limit=3)
    srv.start()
    a, b = Client(srv.address), Client(srv.address)
    try:
        for i, p in enumerate(stalls):
            a.send("/audioldm/transfer", f"stall{i}", str(p), "a choir", "steps", 2)
        _wait(lambda: shim.entered == 5, 5, "the five stalled reads did not start")
        # while five reads hang, a healthy file and a plain generate are queued at once, from either client
        for client, job, args in (
            (a, "ok-a", ("/audioldm/transfer", "ok-a", str(healthy), "a choir", "steps", 2)),
            (a, "gen-a", ("/audioldm/generate", "gen-a", "a pad", "steps", 2)),
            (b, "ok-b", ("/audioldm/transfer", "ok-b", str(healthy), "a choir", "steps", 2)),
        ):
            client.send(*args)
            msg, took = _answer(client, job, 2)
            assert msg[0] == "/audioldm/queued" and took < 0.8, (job, msg, took)
            print(f"{job}: /queued {took * 1000:.0f} ms after sending, while five reads stall")
        assert shim.entered == 5 and srv.door.stalled() == 0  # nothing has timed out yet
        # each stalled read ends at its own limit, in its own true words, once
        fails: dict[str, str] = {}

        def stalled_fail(m) -> bool:
            if m[0] == "/audioldm/fail" and str(m[1][0]).startswith("stall"):
                fails[m[1][0]] = m[1][1]
            return len(fails) == 5

        a.replies.until(stalled_fail, 10)
        for message in fails.values():
            assert "did not finish within 3 s" in message and "copy the file to a local disk" in message, message
        assert srv.door.stalled() == 5 and srv.door.timeouts == 5
        # beyond the bound of abandoned threads, file checks are refused at once, saying which drive stalls
        srv.door.max_stalled = 5
        a.send("/audioldm/transfer", "more-a", str(healthy), "a choir", "steps", 2)
        msg, took = _answer(a, "more-a", 2)
        assert msg[0] == "/audioldm/fail" and took < 0.8, msg
        assert f"reads from the drive holding {drive} are stalling" in msg[1][1], msg
        plain(msg[1][1])
        b.send("/audioldm/transfer", "more-b", str(healthy), "a choir", "steps", 2)
        msg, _ = _answer(b, "more-b", 2)
        assert "reads from a drive are stalling" in msg[1][1] and str(drive) not in msg[1][1], msg
        b.send("/audioldm/generate", "gen-b", "a pad", "steps", 2)  # a request that reads no file goes on
        assert _answer(b, "gen-b", 2)[0][0] == "/audioldm/queued"
        # the drive answers again: the abandoned threads end (never reused), file checks are taken again
        shim.release.set()
        _wait(lambda: srv.door.stalled() == 0, 10, "the abandoned threads did not end")
        a.send("/audioldm/transfer", "again", str(healthy), "a choir", "steps", 2)
        assert _answer(a, "again", 2)[0][0] == "/audioldm/queued"
        late = [m for m in a.replies.quiet(0.5) if m[1] and str(m[1][0]).startswith("stall")]
        assert late == []  # a late result of an abandoned check is dropped: one answer per request
        assert srv.door.threads() <= srv.door.max_threads
    finally:
        shim.release.set()
        a.close()
        b.close()
        srv.close()


def test_answers_keep_a_clients_order_unless_an_earlier_check_is_slow():
    door = CheckDoor(time_limit=5, order_hold=0.3)
    out: list[str] = []
    quick, slow = threading.Event(), threading.Event()

    def check(name: str, gate: threading.Event | None):
        def run():
            if gate is not None:
                gate.wait(10)
            return lambda: out.append(name)

        return run

    def submit(name: str, key: str, gate: threading.Event | None = None, inline: bool = False) -> None:
        door.submit(check(name, gate), out.append, lambda: out.append(f"{name}: timeout"), inline=inline, key=key)

    try:
        submit("a1", "A", quick)  # a file check that takes a moment
        submit("a2", "A", inline=True)  # answered behind a1: the same client, a1 still young
        submit("b1", "B", inline=True)  # another client: never held
        assert out == ["b1"]
        threading.Timer(0.05, quick.set).start()
        _wait(lambda: len(out) == 3, 2, f"not answered: {out}")
        assert out == ["b1", "a1", "a2"]
        submit("a3", "A", slow)  # a check that stalls
        t0 = time.monotonic()
        submit("a4", "A", inline=True)
        _wait(lambda: "a4" in out, 2, f"a4 held behind a stalled check: {out}")
        assert time.monotonic() - t0 < 1.0 and "a3" not in out
        slow.set()
        _wait(lambda: "a3" in out, 2, "a3 never answered")
    finally:
        quick.set()
        slow.set()
        door.close()


# -- 7: folder and name ------------------------------------------------------------------------------------------
@pytest.fixture
def stub_server(tmp_path):
    srv = OscServer(StubEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "clips")
    srv.start()
    client = Client(srv.address)
    yield srv, client
    client.close()
    srv.close()


def test_long_and_control_character_names_are_refused_at_the_door(stub_server):
    srv, client = stub_server
    for key, value, words in (
        ("folder", "x" * 300, "at most 255 bytes"),
        ("folder", "é" * 128, "at most 255 bytes"),  # 256 bytes in UTF-8
        ("name", "n" * 216, "at most 215 bytes"),
        ("folder", "live\nset", "U+000A"),
        ("folder", "live\tset", "U+0009"),
        ("name", "take\r1", "U+000D"),
        ("name", "take\u200b1", "U+200B"),  # invisible (format) characters are refused too
    ):
        client.send("/audioldm/generate", "bad", "a pad", key, value)
        msg, took = _answer(client, "bad", 2)
        assert msg[0] == "/audioldm/fail" and msg[1][1].startswith(f"{key}: ") and words in msg[1][1], msg
        assert took < 1.0
        plain(msg[1][1])
    assert srv.jobs.status() == (0, "")  # no job ran for any of them
    protocol.check_name("é" * 127, "folder")  # 254 bytes: fine
    protocol.check_name("n" * 215, "name")


def test_a_folder_that_links_out_of_the_clips_folder_is_refused(stub_server, tmp_path):
    srv, client = stub_server
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (srv.clips_dir / "out").symlink_to(elsewhere)
    client.send("/audioldm/generate", "link", "a pad", "folder", "out", "steps", 2)
    msgs = client.replies.job("link", timeout=10)
    assert msgs[-1][0] == "/audioldm/fail", msgs
    message = msgs[-1][1][1]
    assert "leads outside the clips folder" in message and "remove the link" in message, message
    assert str(elsewhere) not in message  # where the link points is not the client's business
    plain(message)
    assert list(elsewhere.iterdir()) == []


def test_the_write_checks_the_folder_again_after_the_job_ran(tmp_path):
    """A subfolder swapped for a link while the clip was made: the write refuses, nothing lands outside."""
    clips, elsewhere = tmp_path / "clips", tmp_path / "elsewhere"
    clips.mkdir()
    elsewhere.mkdir()
    path = output.path_in_folder(clips / "set", "take", root=clips)
    assert path.parent == (clips / "set").resolve() and path.parent.is_dir()  # created, then checked
    (clips / "set").rmdir()
    (clips / "set").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="leads outside the clips folder"):
        output.write_clip(path, np.zeros(1600, dtype=np.float32), 16000, {"request": {}})
    assert list(elsewhere.iterdir()) == []
    # without the swap the same write lands where it was checked
    (clips / "set").unlink()
    path = output.path_in_folder(clips / "set", "take", root=clips)
    assert output.write_clip(path, np.zeros(1600, dtype=np.float32), 16000, {"request": {}}) == path
    assert sorted(p.name for p in (clips / "set").iterdir()) == ["take.json", "take.wav"]


# -- 8: decoded size -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide_flac(tmp_path_factory) -> Path:
    """The probe: a FLAC of 8 channels at 384 kHz, 60 s: a small file on disk, nearly 1 GB decoded."""
    path = tmp_path_factory.mktemp("wide") / "wide.flac"
    with sf.SoundFile(str(path), "w", 384000, 8, subtype="PCM_16", format="FLAC") as f:
        block = np.full((384000 * 5, 8), 100, dtype=np.int16)  # a constant: FLAC packs it into almost nothing
        for _ in range(12):
            f.write(block)
    return path


def test_the_decoded_size_is_bounded_from_the_header(wide_flac):
    assert wide_flac.stat().st_size < input_audio.MAX_INPUT_BYTES // 100
    tracemalloc.start()
    try:
        with pytest.raises(InputAudioError) as caught:
            input_audio.load_input(wide_flac, 16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert peak < 20 * 2**20, peak  # refused from the header: nothing was decoded
    assert "8 channel(s) x 60.0 s at 384000 Hz" in message, message
    assert "at most 2 channels x 60 s at 192 kHz" in message and "at most 7.5 s of 8 channel(s)" in message
    assert "mix it down to stereo" in message
    plain(message)


def test_a_wide_input_is_refused_at_the_osc_door(stub_server, wide_flac):
    _srv, client = stub_server
    client.send("/audioldm/variation", "wide", str(wide_flac))
    msg, _ = _answer(client, "wide", 10)
    assert msg[0] == "/audioldm/fail" and msg[1][1].startswith("input_path: "), msg
    assert "the engine decodes at most" in msg[1][1]


# -- 10: crash leftovers below the clips folder, lost jobs announced once -------------------------------------------
def test_leftovers_in_subfolders_are_cleaned_at_start_without_following_links(tmp_path):
    dead = dead_pid()
    clips, outside = tmp_path / "clips", tmp_path / "outside"
    deep = clips / "a" / "b" / "c" / "d" / "e"  # five levels: past the walk's bound
    for folder in (clips / "set1", deep, outside):
        folder.mkdir(parents=True)
        (folder / f".half.{dead}-89abcdef.wav.part").write_bytes(b"RIFF")
    sf.write(str(clips / "set1" / f".whole.{dead}-0123abcd.wav.part"), np.zeros(800), 16000, format="WAV")
    (clips / "set1" / "whole.json").write_text(json.dumps({"request": {}}))
    (clips / "link").symlink_to(outside)
    rec = output.recover_clips(clips, at_start=True)
    assert [p.relative_to(clips) for p in rec.removed] == [Path("set1") / f".half.{dead}-89abcdef.wav.part"]
    assert [p.relative_to(clips) for p in rec.completed] == [Path("set1/whole.wav")]
    assert sorted(p.name for p in (clips / "set1").iterdir()) == ["whole.json", "whole.wav"]
    assert len(list(outside.iterdir())) == 1 and len(list(deep.iterdir())) == 1  # a link, or too deep: untouched
    assert output.RECOVER_DEPTH < 5


def test_a_lost_job_is_announced_once_and_still_answered(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.open()
    j.queued("gone", "/audioldm/generate", ("127.0.0.1", 5))
    j.running("gone")
    j.close()
    sent: list = []
    for start in range(3):
        journal = Journal(path)

        def send(c, a, args, start=start) -> None:
            sent.append((start, a, args))

        q = JobQueue(StubEngine(), tmp_path / "clips", send, journal=journal, lost=journal.open())
        try:
            q.announce_lost()
            job = q.get("gone")
            assert job is not None and job.last_reply[0] == "/audioldm/fail"  # /audioldm/job still answers it
            assert job.last_reply[1][1].startswith("lost: the engine stopped while it ran")
        finally:
            q.close()
            journal.close()
    assert [(s, a, args[0]) for s, a, args in sent] == [(0, "/audioldm/fail", "gone")]  # the first start only


# -- 11: words for write failures and a broken audio library --------------------------------------------------------
def _statvfs(favail: int = 1000, files: int = 1000, bavail: int = 10**6, flag: int = 0):
    return os.statvfs_result((4096, 4096, 10**6, bavail, bavail, files, favail, favail, flag, 255))


@pytest.mark.parametrize(
    ("code", "vfs", "words"),
    [
        (errno.ENOSPC, {"favail": 0}, "out of inodes"),
        (errno.ENOSPC, {}, "disk full"),
        (errno.EDQUOT, {}, "disk quota"),
        (errno.EROFS, {}, "read-only disk"),
        (errno.EACCES, {}, "no permission to write"),
        (errno.ENAMETOOLONG, {}, "longer than the file system allows"),
        (None, {"favail": 0}, "out of inodes"),  # libsndfile's "System error." carries no errno
        (None, {}, "the audio library gave no reason"),
    ],
)
def test_write_failures_say_what_happened(tmp_path, monkeypatch, code, vfs, words):
    monkeypatch.setattr(output.os, "statvfs", lambda _p: _statvfs(**vfs))
    exc = OSError(code, os.strerror(code)) if code is not None else RuntimeError("System error.")
    message = output.describe_write_failure(tmp_path, exc, 10)
    assert words in message, message
    plain(message)


def test_out_of_inodes_while_writing_a_clip_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    """The probe: libsndfile says "System error." when no inode is left; the sentence says what happened."""

    def write(*a, **k):
        raise RuntimeError("Error opening '.part': System error.")

    monkeypatch.setattr(output, "load_soundfile", lambda: SimpleNamespace(write=write))
    monkeypatch.setattr(output.os, "statvfs", lambda _p: _statvfs(favail=0))
    with pytest.raises(OutputError) as caught:
        output.write_clip(tmp_path / "take.wav", np.zeros(1600, dtype=np.float32), 16000, {"request": {}})
    message = str(caught.value)
    assert "out of inodes" in message and "delete some files there" in message, message
    plain(message)
    assert list(tmp_path.iterdir()) == []


def test_a_new_folder_on_a_read_only_disk_says_read_only(tmp_path, monkeypatch):
    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OutputError) as caught:
        output.confined_folder(tmp_path / "new-set", tmp_path)
    message = str(caught.value)
    assert "could not create the folder" in message and "read-only disk" in message, message
    assert "no longer exists" not in message
    plain(message)


def _broken(names: tuple[str, ...], monkeypatch) -> None:
    real = builtins.__import__

    def imp(name, *a, **k):
        if name.split(".")[0] in names:
            raise OSError(f"cannot load library '{name}': undefined symbol")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", imp)


def test_an_audio_library_that_cannot_load_says_how_to_repair_it(tmp_path, monkeypatch):
    clip = _wav(tmp_path / "in.wav")
    _broken(("torchaudio",), monkeypatch)
    with pytest.raises(AudioLibraryError) as caught:
        output.resample(np.zeros(441, dtype=np.float32), 44100, 48000)
    assert "the audio library torchaudio failed to load" in str(caught.value)
    assert "pip install --force-reinstall torchaudio" in str(caught.value) and "check the disk" not in str(caught.value)
    monkeypatch.undo()
    _broken(("soundfile",), monkeypatch)
    with pytest.raises(ValueError, match=r"soundfile \(libsndfile\) failed to load.*--force-reinstall soundfile"):
        check_input_audio(str(clip), tmp_path)
    with pytest.raises(AudioLibraryError):
        output.write_clip(tmp_path / "x.wav", np.zeros(16, dtype=np.float32), 16000, {"request": {}})


# -- 12: input paths outside the allowed folders ------------------------------------------------------------------
def test_paths_outside_the_allowed_folders_are_refused_untouched_and_alike(tmp_path, monkeypatch):
    clips, takes, private = tmp_path / "clips", tmp_path / "takes", tmp_path / "private"
    clips.mkdir()
    allowed = input_folders([takes], clips)
    assert allowed == (clips.resolve(), takes.resolve())
    exists = _wav(private / "secret.wav")
    _wav(takes / "take.wav")
    (takes / "sneaky.wav").symlink_to(exists)  # a link out of an allowed folder
    (takes / "sneaky-missing.wav").symlink_to(private / "missing.wav")

    def refusal(text: str) -> str:
        with pytest.raises(ValueError) as caught:
            check_input_audio(text, clips, allowed=allowed)
        return str(caught.value)

    calls: list = []
    real_stat, real_lstat = os.stat, os.lstat
    monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append(a) or real_stat(*a, **k))
    monkeypatch.setattr(os, "lstat", lambda *a, **k: calls.append(a) or real_lstat(*a, **k))
    words = {}
    for text in (str(exists), str(private / "missing.wav"), "/etc/shadow", "/etc/no-such-file", "../private/x.wav"):
        message = refusal(text)
        shown = os.path.normpath(text if text.startswith("/") else clips / text)
        words[text] = message.replace(shown, "<path>")
    assert calls == []  # refused on the text alone: nothing was touched
    monkeypatch.undo()
    assert len(set(words.values())) == 1, words  # the same words whether or not the file exists
    message = next(iter(words.values()))
    assert message.startswith("input_path: <path> is outside the folders this engine reads input files from")
    assert str(clips.resolve()) in message and str(takes.resolve()) in message and "--input-dir" in message
    # after links are resolved: the same sentence, naming the path as written, never the link's target
    for name in ("sneaky.wav", "sneaky-missing.wav"):
        message = refusal(str(takes / name))
        assert message.replace(str(takes / name), "<path>") == words[str(exists)], message
    assert check_input_audio(str(takes / "take.wav"), clips, allowed=allowed) == (takes / "take.wav").resolve()
    assert check_input_audio(str(exists), clips) == exists.resolve()  # the local CLI keeps no folder rule
    with pytest.raises(ValueError, match="system folders"):
        input_folders(["/etc"], clips)
    assert input_folders(None, clips)[1:] == (
        Path.home().resolve(),
        Path(tempfile.gettempdir()).resolve(),
    )


def test_osc_variation_of_a_system_file_says_the_same_as_for_a_missing_one(stub_server):
    srv, client = stub_server
    answers = []
    for path in ("/etc/shadow", "/etc/no-such-file", "/proc/self/environ"):
        client.send("/audioldm/variation", "peek", path)
        msg, _ = _answer(client, "peek", 5)
        assert msg[0] == "/audioldm/fail", msg
        answers.append(msg[1][1].replace(path, "<path>"))
    assert len(set(answers)) == 1, answers
    assert "--input-dir" in answers[0] and str(srv.clips_dir) in answers[0]
    plain(answers[0])


def test_serve_takes_input_dir_repeatable():
    import argparse

    from audioldm_daw.bridge.cli import serve as cmd_serve

    parser = argparse.ArgumentParser()
    cmd_serve.configure(parser)
    assert parser.parse_args(["--input-dir", "/a", "--input-dir", "/b"]).input_dir == ["/a", "/b"]
    assert parser.parse_args([]).input_dir == []
    assert "--input-dir DIR" in parser.format_help()


def test_audition_paths_are_judged_as_written_and_never_show_where_a_link_leads(tmp_path):
    from audioldm_daw.bridge.server.input_files import check_clip_path

    clips, secret = tmp_path / "clips", tmp_path / "secret"
    clips.mkdir()
    _wav(secret / "private.wav")
    (clips / "peek.wav").symlink_to(secret / "private.wav")
    _wav(clips / "take.wav")
    for text in ("peek.wav", str(secret / "private.wav"), "../secret/none.wav"):
        with pytest.raises(ValueError, match="is outside the clips folder") as caught:
            check_clip_path(text, clips)
        assert str(secret / "private.wav") not in str(caught.value) or text == str(secret / "private.wav")
    assert check_clip_path("take.wav", clips) == (clips / "take.wav").resolve()


def test_serve_restarts_clean_subfolders_and_announce_a_lost_job_once(tiny_model_dir, tmp_path, monkeypatch):
    """The probe end to end: leftovers in a ``folder`` subfolder, and a lost job, across two restarts."""
    import osc_helpers
    from osc_helpers import Replies, Serve

    from audioldm_daw.bridge.server.journal import state_dir

    clips = tmp_path / "clips"
    (clips / "live-set").mkdir(parents=True)
    dead = dead_pid()
    part = clips / "live-set" / f".half.{dead}-89abcdef.wav.part"
    part.write_bytes(b"RIFF")
    listener = Replies()  # the reply port: where an unregistered socket's answers go
    asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the socket that sent the lost job
    asker.bind(("127.0.0.1", 0))
    monkeypatch.setenv("AUDIOLDM_DAW_STATE", osc_helpers._STATE)
    journal = state_dir(clips) / "journal.jsonl"
    journal.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "e": "queued",
        "id": "gone",
        "address": "/audioldm/generate",
        "client": ["127.0.0.1", asker.getsockname()[1]],
        "t": 0,
    }
    journal.write_text(json.dumps(record) + "\n")
    try:
        for start in range(2):
            s = Serve(tiny_model_dir, clips, reply_port=listener.port)
            try:
                told = [m for m in listener.quiet(1.0) if m[0] == "/audioldm/fail"]
                if start == 0:
                    assert "removed 1 half-written temporary file(s)" in s.output() and not part.exists()
                    assert "lost job 'gone'" in s.output()
                    assert [m[1][0] for m in told] == ["gone"]
                else:
                    assert "lost job" not in s.output() and told == []  # told once, not at every restart
                    asker.sendto(osc("/audioldm/job", "gone"), s.address)  # still answered when asked
                    reply = listener.next(10)
                    assert reply[0] == "/audioldm/fail" and reply[1][1].startswith("lost: "), reply
            finally:
                s.stop()
    finally:
        asker.close()
        listener.close()


def osc(address: str, *args: object) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram
