"""The failure paths a studio hits, each made to happen: a full disk (a small tmpfs), a read-only folder (a
read-only bind mount), a file in place of the clips folder, a folder gone, a path too long, a stalled input
read, out of GPU memory, a model folder changed on disk, crash leftovers, odd input rates, queue bounds.
Each must end in a sentence that says what happened and what to do, and leave the server serving.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from osc_helpers import Client, dead_pid

from audioldm_daw.bridge.server.jobs import JobQueue, describe_job_error
from audioldm_daw.bridge.server.journal import Journal
from audioldm_daw.bridge.server.osc_server import OscServer
from audioldm_daw.engine import output
from audioldm_daw.engine.errors import Cancelled, OutputError
from audioldm_daw.engine.request import GenerateRequest

SHORT = ("duration", 0.5, "steps", 2, "seed", 1)
CLASS_NAMES = ("Error", "Exception", "errno", "Errno", "Traceback")


def plain(message: str) -> None:
    """A message for people: no exception class names, no errno numbers."""
    assert not any(word in message for word in CLASS_NAMES), message


def _mount(*args: str) -> str | None:
    """Run mount; None if it worked, else why not (then the test says so and skips)."""
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or f"mount exited {r.returncode}")


@pytest.fixture
def mounted(tmp_path):
    """Mount helper that unmounts whatever it mounted."""
    done: list[Path] = []

    def mount(*args: str) -> None:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs or a read-only bind needs root (the errno paths are tested below)")
        why = _mount(*args)
        if why:
            pytest.skip(f"this environment cannot mount: {why}")
        done.append(Path(args[-1]))

    yield mount
    for p in reversed(done):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)


@pytest.fixture
def server(tiny_engine, tmp_path):
    srv = OscServer(tiny_engine, host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "clips")
    srv.start()
    client = Client(srv.address)
    yield srv, client
    client.close()
    srv.close()


def _fail_of(client: Client, job: str, *args: object) -> str:
    client.send("/audioldm/generate", job, "a calm pad", *args)
    msgs = client.replies.job(job, timeout=120)
    assert msgs[-1][0] == "/audioldm/fail", msgs
    message = msgs[-1][1][1]
    plain(message)
    return message


def _works(client: Client, job: str) -> Path:
    client.send("/audioldm/generate", job, "a calm pad", *SHORT)
    done = client.replies.job(job, timeout=120)[-1]
    assert done[0] == "/audioldm/done", done
    return Path(done[1][1])


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the clips folder ---------------------------------------------------------------------------------------
def test_disk_full_says_how_much_is_needed_and_free_then_serves_again(server, mounted):
    srv, client = server
    mounted("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(srv.clips_dir))
    message = _fail_of(client, "full", *SHORT)
    assert message.startswith("disk full: the clip needs about 0.1 MB"), message
    assert "is free in " + str(srv.clips_dir) in message and "free some space" in message
    assert _visible(srv.clips_dir) == []
    assert client.ask("/audioldm/ping")[0] == "/audioldm/pong"
    assert _mount("-o", "remount,size=4m", str(srv.clips_dir)) is None
    assert _works(client, "after-full").is_file()


def test_read_only_folder_then_serves_again(server, mounted):
    srv, client = server
    d = str(srv.clips_dir)
    mounted("--bind", d, d)
    if _mount("-o", "remount,bind,ro", d):
        pytest.skip("cannot remount read-only here")
    message = _fail_of(client, "ro", *SHORT)
    assert "is on a read-only disk" in message and "remount it writable" in message, message
    assert _mount("-o", "remount,bind,rw", d) is None
    assert _works(client, "after-ro").is_file()


def test_folder_replaced_by_a_file_and_folder_gone(server):
    srv, client = server
    shutil.rmtree(srv.clips_dir)
    srv.clips_dir.write_text("not a folder")
    message = _fail_of(client, "file", *SHORT)
    assert "is a file, not a folder" in message and "move the file away" in message, message
    srv.clips_dir.unlink()
    message = _fail_of(client, "gone", *SHORT)
    assert "no longer exists" in message and "create it again" in message, message
    srv.clips_dir.mkdir()
    assert _works(client, "back").is_file()


def test_write_failures_in_words_by_errno(tmp_path):
    """The errno paths a mount cannot easily produce here (permissions as root, a name too long, ENOSPC
    reported by the write itself) go through the same sentence builder."""
    for code, words in (
        (errno.ENOSPC, "disk full"),
        (errno.EROFS, "read-only disk"),
        (errno.ENAMETOOLONG, "longer than the file system allows"),
        (errno.EIO, "check the disk"),
    ):
        message = output.describe_write_failure(tmp_path, OSError(code, os.strerror(code)), 10)
        assert words in message, (code, message)
        plain(message)


def test_write_never_shows_a_partial_or_lonely_file(tmp_path, monkeypatch):
    """The sidecar lands first, the WAV last; a failure between the two takes the sidecar back."""
    order: list[str] = []
    real = os.replace

    def spy(src, dst):
        order.append(Path(dst).suffix)
        if Path(dst).suffix == ".wav" and "fail" in Path(dst).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", spy)
    audio = np.zeros(1600, dtype=np.float32)
    output.write_clip(tmp_path / "ok.wav", audio, 16000, {"request": {}})
    assert order == [".json", ".wav"]
    with pytest.raises(OutputError, match="disk full"):
        output.write_clip(tmp_path / "fail.wav", audio, 16000, {"request": {}})
    assert _visible(tmp_path) == ["ok.json", "ok.wav"]


# -- crash leftovers -----------------------------------------------------------------------------------------
def test_recover_removes_a_dead_writers_parts_completes_an_interrupted_clip_and_keeps_live_ones(tmp_path):
    dead = dead_pid()
    sf.write(tmp_path / f".kill-sidecar.{dead}-0123abcd.wav.part", np.zeros(800), 16000, format="WAV")
    (tmp_path / "kill-sidecar.json").write_text(json.dumps({"request": {}}))
    (tmp_path / f".half.{dead}-89abcdef.wav.part").write_bytes(b"RIFF")
    (tmp_path / f".half.{dead}-89abcdef.json.part").write_text("{")
    (tmp_path / ".old.0123abcd.json.part").write_text("{")  # an older version's name, no pid
    live = tmp_path / f".busy.{os.getpid()}-00000000.wav.part"
    live.write_bytes(b"RIFF")
    (tmp_path / "mine.json").write_text("{}")  # a sidecar whose WAV the user deleted: not ours to touch
    rec = output.recover_clips(tmp_path)
    assert [p.name for p in rec.completed] == ["kill-sidecar.wav"]
    assert sorted(p.name for p in rec.removed) == sorted(
        [f".half.{dead}-89abcdef.wav.part", f".half.{dead}-89abcdef.json.part", ".old.0123abcd.json.part"]
    )
    assert rec.kept == [live] and "completed 1 clip" in rec.summary()
    assert sf.info(str(tmp_path / "kill-sidecar.wav")).frames == 800
    assert _visible(tmp_path) == [live.name, "kill-sidecar.json", "kill-sidecar.wav", "mine.json"]
    # a server starting up owns its pid: its own leftovers (a restarted container reuses pids) go too
    assert [p.name for p in output.recover_clips(tmp_path, at_start=True).removed] == [live.name]


# -- inputs --------------------------------------------------------------------------------------------------
def test_paths_too_long_are_refused_before_any_file_system_call(server, monkeypatch):
    _srv, client = server
    calls = []
    monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError(a)))
    for text, words in (("/x" * 3000, "longer than a path can be"), ("/tmp/" + "n" * 300 + ".wav", "a name can be")):
        reply = client.ask("/audioldm/transfer", "long", text, "a choir")
        assert reply[0] == "/audioldm/fail" and reply[1][0] == "long" and words in reply[1][1], reply
        plain(reply[1][1])
    monkeypatch.undo()
    assert calls == []
    assert client.ask("/audioldm/ping")[0] == "/audioldm/pong"


class StallingEngine:
    """The tiny engine, but checking an input file blocks until released (a stalled network or FUSE read)."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.model = engine.model
        self.release = threading.Event()

    def check(self, request) -> None:
        if request.input_path is not None:
            self.release.wait(30)
        self._engine.check(request)

    def render(self, *a, **k):
        return self._engine.render(*a, **k)


def test_a_stalled_input_read_never_freezes_the_front_door(tiny_engine, tmp_path):
    engine = StallingEngine(tiny_engine)
    clip = tmp_path / "in.wav"
    sf.write(str(clip), np.sin(np.arange(16000) / 5.0) * 0.3, 16000)
    srv = OscServer(engine, host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", check_time_limit=1.5)
    srv.start()
    client, other = Client(srv.address), Client(srv.address)
    try:
        client.send("/audioldm/transfer", "stalled", str(clip), "a choir", "steps", 2)
        client.send("/audioldm/generate", "behind", "a pad", *SHORT)
        # the request behind it waits only a moment for the stalled one's answer (the client's order), then
        # is queued before the stalled check's limit ends it (the next reply): a stalled ticket holds no other
        assert client.replies.next(5) == ("/audioldm/queued", ["behind", 0])
        for _ in range(5):  # ping and status answer at once while the read hangs (another socket: no job replies)
            assert other.ask("/audioldm/ping", timeout=0.5)[0] == "/audioldm/pong"
        assert other.ask("/audioldm/status", timeout=0.5)[0] == "/audioldm/status"
        per = client.replies.jobs(["stalled", "behind"], timeout=120)  # "behind" may finish first: it waits for none
        fail = per["stalled"][-1]
        assert fail[0] == "/audioldm/fail" and len(per["stalled"]) == 1, per["stalled"]
        assert "did not finish within 1.5 s" in fail[1][1] and "copy the file to a local disk" in fail[1][1]
        assert per["behind"][-1][0] == "/audioldm/done"
        assert srv.door.stalled() == 1  # its thread is abandoned, not reused
        engine.release.set()
        assert client.replies.quiet(0.5) == []  # the late check result is dropped: one answer per request
        assert srv.door.timeouts == 1
    finally:
        engine.release.set()
        client.close()
        other.close()
        srv.close()


@pytest.mark.parametrize("rate", [1000, 11127, 44101, 383999, 384000])
def test_resampling_any_input_rate_stays_within_a_small_memory_bound(rate):
    x = np.random.default_rng(0).standard_normal(rate * 2).astype(np.float32)
    tracemalloc.start()
    try:
        y = output.resample(x, rate, 16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(y) == -(-16000 * len(x) // rate)
    extra = peak - y.nbytes - x.nbytes * 2  # the float64 copy of the input is the streaming path's one copy
    assert extra < 24 * 2**20, (rate, extra / 2**20)


def test_the_streaming_resampler_equals_torchaudio():
    import torch
    import torchaudio.functional as AF

    x = np.random.default_rng(1).standard_normal(11025).astype(np.float32)
    for a, b in ((11025, 16000), (48000, 16000), (16000, 44100)):
        ref = AF.resample(torch.as_tensor(x), a, b).numpy()
        assert np.abs(output.resample_streaming(x, a, b) - ref).max() < 5e-4
    assert output.torchaudio_kernel_elements(16000, 48000) < output.MAX_KERNEL_ELEMENTS  # output path unchanged
    assert output.torchaudio_kernel_elements(11127, 16000) > output.MAX_KERNEL_ELEMENTS


# -- the engine under a job ----------------------------------------------------------------------------------
def test_out_of_gpu_memory_and_unexpected_errors_are_sentences():
    import torch

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    message = describe_job_error(oom, GenerateRequest("x", duration=30, candidates=4))
    assert message.startswith("out of GPU memory (30 s, 4 candidate(s)): try a shorter clip or fewer candidates")
    for exc in (oom, MemoryError(), OSError(errno.EIO, "Input/output error", "/x"), KeyError("k")):
        plain(describe_job_error(exc))


def test_a_model_folder_changed_on_disk_is_named(tiny_model_dir, tmp_path):
    from audioldm_daw.engine import Engine

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    engine = Engine.load(folder, device="cpu")
    srv = OscServer(engine, host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c")
    srv.start()
    client = Client(srv.address)
    try:
        assert _works(client, "before").is_file()
        with open(folder / "model_index.json", "a") as f:
            f.write("\n")
        message = _fail_of(client, "after", *SHORT)
        assert "changed on disk while the engine was serving (model_index.json)" in message, message
        assert "restart the engine" in message
        assert client.ask("/audioldm/ping")[0] == "/audioldm/pong"
    finally:
        client.close()
        srv.close()


class SlowEngine:
    def __init__(self) -> None:
        self.started = threading.Event()

    def render(self, request, out, progress=None, cancel=None):
        self.started.set()
        for i in range(request.steps):
            if cancel and cancel():
                raise Cancelled("cancelled")
            threading.Event().wait(0.01)
            progress(i + 1, request.steps)
        raise Cancelled("never writes")


def test_the_queue_is_bounded_per_client_and_in_all(tmp_path):
    sent = []
    engine = SlowEngine()
    q = JobQueue(engine, tmp_path, lambda c, a, args: sent.append((c, a, args)), max_waiting=4, max_per_client=3)
    try:
        a, b = ("127.0.0.1", 1), ("127.0.0.2", 2)  # the cap counts per host: b is another one
        q.submit(GenerateRequest("x", steps=500), "a0", a)
        assert engine.started.wait(10)  # a0 runs: 0 waiting
        for i in range(1, 3):
            q.submit(GenerateRequest("x", steps=500), f"a{i}", a)
        with pytest.raises(Exception, match="too many jobs from this client: 3 are waiting or running"):
            q.submit(GenerateRequest("x", steps=500), "a3", a)
        with pytest.raises(Exception, match="at most 3 per computer"):  # another port of a's host: the same cap
            q.submit(GenerateRequest("x", steps=500), "a3", ("127.0.0.1", 9))
        for i in range(2):  # 2 of a and 2 of b wait
            q.submit(GenerateRequest("x", steps=500), f"b{i}", b)
        with pytest.raises(Exception, match=r"the queue is full: 4 jobs are waiting \(at most 4\)"):
            q.submit(GenerateRequest("x", steps=500), "b2", b)
        q.cancel("a1", a)  # room again for a
        q.submit(GenerateRequest("x", steps=2), "a4", a)
    finally:
        q.close()


# -- the journal ---------------------------------------------------------------------------------------------
def test_journal_reports_lost_jobs_with_their_step_and_stays_bounded(tmp_path):
    j = Journal(tmp_path / "j.jsonl", max_lines=50, keep_lost=5)
    assert j.open() == []
    j.queued("done-1", "/audioldm/generate", ("127.0.0.1", 5))
    j.running("done-1")
    j.ended("done-1", "done")
    j.queued("run", "/audioldm/generate", ("127.0.0.1", 5))
    j.running("run")
    for k in range(1, 8):
        j.step("run", k, 50)
    j.queued("wait", "/audioldm/transfer", ("127.0.0.1", 6))
    with open(tmp_path / "j.jsonl", "a") as f:
        f.write('{"e":"step","id":"run","st')  # torn by a power cut
    j.close()
    lost = {x.id: x for x in Journal(tmp_path / "j.jsonl").open()}
    assert set(lost) == {"run", "wait"}
    assert lost["run"].message().startswith("lost: the engine stopped while it ran (at step 7 of 50)")
    assert lost["wait"].message().startswith("lost: the engine stopped before the job started")
    assert lost["wait"].client == ("127.0.0.1", 6) and lost["wait"].address == "/audioldm/transfer"
    j = Journal(tmp_path / "j.jsonl", max_lines=50, keep_lost=5)
    j.open()
    for i in range(2000):
        j.queued(f"n{i}", "/audioldm/generate", ("127.0.0.1", 5))
        j.ended(f"n{i}", "done")
    lines, size = j.size()
    assert lines <= 51 and size < 10_000, (lines, size)
    j.close()
