"""The laptop's relay (``serve --engine URL``) against real engines on 127.0.0.1: OSC in on this computer, the
work done by remote engines over HTTP (bridge/clients/relay.py), clips landing in the local clips folder.

Reliability as the relay meets it: an engine process killed mid-job (resent to a second engine and finished
once, or reported lost in words without one), the relay itself killed and started again (it fetches what
finished meanwhile), many clients with cancels (nothing lost, no partial file, no job answered twice), a wrong
key, event streams cut by the network, and a full disk on either side (tiny tmpfs mounts where this process
may mount them, else a write made to fail). Every engine here is the tiny random model of tests/conftest.py.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from audioldm_daw.bridge.clients.relay import Relay, request_params
from audioldm_daw.bridge.server.http_api import HttpDoor, HttpServer, bind_tcp
from audioldm_daw.bridge.server.osc_server import OscServer
from audioldm_daw.engine.errors import InvalidRequest
from tests.osc_helpers import FINAL, Client, Serve, leftovers, write_take

KEY = "k-relay-test-key"
FAST = ("duration", 0.5, "sr", 16000, "fullband", 0, "steps", 2)
ONE_STEP = (*FAST[:-1], 1)


class Engine:
    """An engine's OSC server and HTTP door in this process, on loopback (the GPU machine of the tests)."""

    def __init__(self, engine: object, root: Path, clips: Path | None = None) -> None:
        self.clips = clips or root / "clips"
        self.osc = OscServer(engine, host="127.0.0.1", port=0, clips_dir=self.clips, state_dir=root / "state")  # type: ignore[arg-type]
        self.door = HttpDoor(engine, self.osc.jobs, root / "state" / "uploads", key=KEY)  # type: ignore[arg-type]
        self.osc.start()
        self.http = HttpServer(self.door, bind_tcp("127.0.0.1", 0))
        self.http.start()
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()
        self.osc.close()


class Laptop:
    """The relay's OSC server in this process, with its own clips and state folders."""

    def __init__(self, urls: list[str], root: Path, key: str = KEY, clips: Path | None = None) -> None:
        self.relay = Relay(urls, key, None)
        self.relay.connect()
        self.clips = clips or root / "laptop-clips"
        self.osc = OscServer(
            self.relay,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=0,
            clips_dir=self.clips,
            state_dir=root / "laptop-state",
            jobs_options={"workers": self.relay.workers},
        )
        self.osc.start()

    def client(self) -> Client:
        return Client(self.osc.address)

    def close(self) -> None:
        self.osc.close()
        self.relay.close()


@pytest.fixture(scope="module")
def second_engine(tiny_model_dir):
    """Another engine on the same tiny folder (an Engine runs one job at a time, so each server has its own)."""
    from audioldm_daw.engine import Engine as Loaded

    return Loaded.load(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def engines(tiny_engine, second_engine, tmp_path_factory):
    a = Engine(tiny_engine, tmp_path_factory.mktemp("engine-a"))
    b = Engine(second_engine, tmp_path_factory.mktemp("engine-b"))
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def laptop(engines, tmp_path):
    lap = Laptop([engines[0].url], tmp_path)
    yield lap
    lap.close()


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """The laptop's take (osc_helpers.write_take), written once per module."""
    return write_take(tmp_path_factory.mktemp("takes"))


def finals(messages: list) -> collections.Counter:
    return collections.Counter((m[1][0], m[0]) for m in messages if m[0] in FINAL)


# -- the relay's doors -------------------------------------------------------------------------------------
def test_request_params_round_trip_through_the_http_table():
    from audioldm_daw.bridge import remote_api as api
    from audioldm_daw.engine.request import build_request

    req = build_request("inpaint", {"input_path": "/x.wav", "start": 0.5, "end": 1.0, "prompt": "a bell", "seed": 4})
    mode, params = request_params(req)
    assert mode == "inpaint" and "input_path" not in params and params["start_s"] == 0.5 and params["seed"] == 4
    again = api.parse_params(mode, params)
    assert again.values["start_s"] == 0.5 and again.options["normalize"] is None  # "off" kept the take's level


def test_generate_and_an_uploaded_take_land_in_the_local_clips_folder(laptop, engines, take):
    client = laptop.client()
    try:
        client.send("/audioldm/generate", "g1", "soft rain", *FAST, "seed", 3, "name", "rain")
        client.send("/audioldm/variation", "v1", str(take), *FAST, "seed", 4)
        per = client.replies.jobs(["g1", "v1"], timeout=120)
    finally:
        client.close()
    for job in ("g1", "v1"):
        names = [m[0] for m in per[job]]
        assert names[0] == "/audioldm/queued" and names[-1] == "/audioldm/done", per[job]
        assert "/audioldm/progress" in names
    done = per["g1"][-1][1]
    path = Path(done[1])
    assert path.parent == laptop.clips.resolve() and path.name == "rain.wav"  # a local path, the asked name
    assert (done[2], done[3], done[4]) == (0.5, 16000, 3)
    assert sf.info(str(path)).frames == 8000 and path.with_suffix(".json").is_file()
    assert Path(per["v1"][-1][1][1]).is_file()
    assert leftovers(laptop.clips) == []
    assert not list((engines[0].clips / "remote").glob("*.wav"))  # fetched, then freed on the engine


def test_local_checks_answer_as_a_local_engine_does(laptop, tmp_path):
    client = laptop.client()
    try:
        missing = tmp_path / "nowhere.wav"
        fail = client.ask_for("/audioldm/fail", "/audioldm/variation", "bad", str(missing), *FAST)
        assert fail[1][0] == "bad" and "nowhere.wav" in fail[1][1]
        fail = client.ask_for("/audioldm/fail", "/audioldm/generate", "bad2", "x", "steps", 0)
        assert "steps" in fail[1][1]
    finally:
        client.close()


def test_cancel_reaches_the_remote_engine_and_leaves_no_clip(laptop, engines):
    client = laptop.client()
    try:
        client.send("/audioldm/generate", "long", "an organ", "duration", 0.5, "steps", 400, "sr", 16000)
        client.replies.until(lambda m: m[0] == "/audioldm/progress", timeout=60)
        client.send("/audioldm/cancel", "long")
        msgs = client.replies.job("long", timeout=60)
    finally:
        client.close()
    assert msgs[-1] == ("/audioldm/cancelled", ["long"])
    assert not list(laptop.clips.glob("long*")) and leftovers(laptop.clips) == []
    deadline = time.monotonic() + 10
    while engines[0].osc.jobs.status()[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engines[0].osc.jobs.status() == (0, "")  # the engine stopped it too


def test_a_wrong_key_is_refused_in_words(engines, tmp_path, capsys):
    with pytest.raises(InvalidRequest, match="not the engine's key"):
        Relay([engines[0].url], "k-wrong").connect()
    from audioldm_daw.bridge.cli import main

    keyfile = tmp_path / "key"
    keyfile.write_text("k-wrong\n")
    argv = ["serve", "--engine", engines[0].url, "--token-file", str(keyfile), "--port", "0"]
    assert main([*argv, "--clips", str(tmp_path / "c")]) == 2
    assert "not the engine's key" in capsys.readouterr().err


def test_many_clients_with_cancels_lose_nothing_and_answer_each_job_once(engines, tmp_path):
    """8 clients x 25 jobs over two engines, 1 in 5 cancelled: every job ends once, as asked, with whole files."""
    lap = Laptop([e.url for e in engines], tmp_path)
    rng = random.Random(5)
    clients = [lap.client() for _ in range(8)]
    plan = {i: [(f"c{i}-j{j}", rng.random() < 0.2) for j in range(25)] for i in range(8)}
    ends: dict[str, list] = collections.defaultdict(list)
    errors: list[BaseException] = []

    def drive(i: int) -> None:
        """Five jobs at a time per client (the laptop caps the jobs of one computer, and these share one)."""
        client, jobs = clients[i], plan[i]
        try:
            for start in range(0, len(jobs), 5):
                batch = jobs[start : start + 5]
                for job, cancel in batch:
                    client.send("/audioldm/generate", job, "a drum", *ONE_STEP)
                    if cancel:
                        client.send("/audioldm/cancel", job)
                for job, msgs in client.replies.jobs([j for j, _ in batch], timeout=120).items():
                    ends[job] += [m for m in msgs if m[0] in FINAL]
            for m in client.replies.quiet(0.5):  # anything answered twice arrives now
                if m[0] in FINAL:
                    ends[m[1][0]].append(m)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=drive, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
    finally:
        for c in clients:
            c.close()
        lap.close()
    assert not errors, errors
    done = cancelled = 0
    for i in plan:
        for job, cancel in plan[i]:
            assert len(ends[job]) == 1, (job, ends[job])  # answered once
            end = ends[job][0]
            if end[0] == "/audioldm/done":
                done += 1
                path = Path(end[1][1])
                assert sf.info(str(path)).frames == 8000 and path.with_suffix(".json").is_file()
            else:
                assert end[0] == "/audioldm/cancelled" and cancel, (job, end)  # only the asked-for cancels
                cancelled += 1
    wanted_cancels = sum(c for jobs in plan.values() for _, c in jobs)
    assert done + cancelled == 200 and done >= 200 - wanted_cancels
    assert len(list(lap.clips.glob("*.wav"))) == done and leftovers(lap.clips) == []


# -- processes killed --------------------------------------------------------------------------------------
def engine_process(model: Path, root: Path) -> tuple[Serve, str]:
    """A real ``serve --http`` process on loopback (killed by the tests) and its URL."""
    root.mkdir(parents=True, exist_ok=True)
    keyfile = root / "key"
    keyfile.write_text(KEY + "\n")
    keyfile.chmod(0o600)
    extra = ["--http", "127.0.0.1:0", "--token-file", str(keyfile), "--no-audition"]
    proc = Serve(model, root / "clips", reply_port=9, extra=extra)
    proc.wait_for(lambda lines: any(line.startswith("listening on http") for line in lines), 60)
    line = next(line for line in proc.lines if line.startswith("listening on http"))
    return proc, line.split()[2]


def test_an_engine_killed_mid_job_is_resent_or_reported_lost(engines, tiny_model_dir, tmp_path):
    """Two laptops share an engine process that dies mid-job: the one with a second engine resends and gets
    its clip once; the one without says in words that the job is lost."""
    proc, url = engine_process(tiny_model_dir, tmp_path / "dying")
    alone = Laptop([url], tmp_path / "alone")
    backed = Laptop([url, engines[1].url], tmp_path / "backed")  # the dying engine comes first: it gets the job
    a, b = alone.client(), backed.client()
    try:
        a.send("/audioldm/generate", "lonely", "a gong", *FAST[:-1], 300)
        b.send("/audioldm/generate", "backed", "a gong", *FAST[:-1], 300)
        a.replies.until(lambda m: m[0] == "/audioldm/progress", timeout=120)  # the engine is rendering
        proc.proc.kill()
        proc.proc.wait(10)
        lonely = a.replies.job("lonely", timeout=120)
        kept = b.replies.job("backed", timeout=240)
        late = b.replies.quiet(0.5) + a.replies.quiet(0.1)
    finally:
        a.close()
        b.close()
        alone.close()
        backed.close()
        proc.stop()
    assert lonely[-1][0] == "/audioldm/fail" and lonely[-1][1][1].startswith("lost: "), lonely[-1]
    assert "no other engine" in lonely[-1][1][1] and "send the request again" in lonely[-1][1][1]
    assert kept[-1][0] == "/audioldm/done", kept[-1]
    assert Path(kept[-1][1][1]).is_file() and not [m for m in late if m[0] in FINAL]
    assert leftovers(backed.clips) == [] and leftovers(alone.clips) == []


def test_a_relay_killed_and_started_again_fetches_what_finished_meanwhile(engines, tiny_model_dir, tmp_path):
    keyfile = tmp_path / "engine.key"
    keyfile.write_text(KEY + "\n")
    clips = tmp_path / "laptop-clips"
    extra = ["--engine", engines[0].url, "--token-file", str(keyfile), "--no-audition"]
    first = Serve(tiny_model_dir, clips, reply_port=9, extra=extra)
    client = Client(first.address)
    try:
        client.send("/audioldm/generate", "meanwhile", "a harp", *FAST[:-1], 40, "name", "harp")
        client.replies.until(lambda m: m[0] == "/audioldm/progress", timeout=120)
        first.proc.kill()  # the relay dies; the engine goes on
        first.proc.wait(10)
        deadline = time.monotonic() + 120
        while engines[0].osc.jobs.status() != (0, "") and time.monotonic() < deadline:
            time.sleep(0.1)
        running = engines[0].osc.jobs.status()[1]
        assert not running, (
            running,
            engines[0].osc.jobs.get(running).last_reply,
            first.output()[-3000:],
        )  # finished with nobody listening
        again = Serve(tiny_model_dir, clips, reply_port=9, extra=extra)
        try:
            msgs = client.replies.job("meanwhile", timeout=60)
            late = client.replies.quiet(0.5)
        finally:
            again.stop()
    finally:
        client.close()
        first.stop()
    assert msgs[-1][0] == "/audioldm/done", msgs[-1]
    path = Path(msgs[-1][1][1])
    assert path.name == "harp.wav" and sf.info(str(path)).frames == 8000 and path.with_suffix(".json").is_file()
    assert not [m for m in late if m[0] in FINAL] and leftovers(clips) == []
    assert "followed again" in again.output()


# -- the network and the disks -------------------------------------------------------------------------------
class Proxy:
    """A TCP relay on loopback in front of an engine whose connections the test can cut (a network drop)."""

    def __init__(self, target: str) -> None:
        host, port = target.split("//", 1)[1].rsplit(":", 1)
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                down, _ = self.server.accept()
                up = socket.create_connection(self.target)
                self.conns += [down, up]
                threading.Thread(target=self._pump, args=(down, up), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)

    def cut(self) -> None:
        """Reset every open connection, as a dropped Wi-Fi or an expired NAT entry does."""
        for s in self.conns:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
        self.conns.clear()
        self.cuts += 1

    def close(self) -> None:
        self.server.close()
        self.cut()


def test_a_dropped_connection_picks_the_stream_up_again(engines, tmp_path):
    proxy = Proxy(engines[0].url)
    lap = Laptop([proxy.url], tmp_path)
    client = lap.client()
    try:
        client.send("/audioldm/generate", "dropped", "a flute", *FAST[:-1], 40)
        client.replies.until(lambda m: m[0] == "/audioldm/progress", timeout=120)
        proxy.cut()
        msgs = client.replies.job("dropped", timeout=120)
        late = client.replies.quiet(0.5)
    finally:
        client.close()
        lap.close()
        proxy.close()
    assert msgs[-1][0] == "/audioldm/done", msgs[-1]
    assert Path(msgs[-1][1][1]).is_file() and not [m for m in late if m[0] in FINAL]
    steps = [m[1][1] for m in msgs if m[0] == "/audioldm/progress"]
    assert steps == sorted(steps) and steps[-1] == 40  # resumed after the last event seen: no repeats


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str = "16k"):
    """``folder`` on a tmpfs of ``size`` (mounted here: the tests run as root); yields whether it is mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_on_the_laptop_fails_the_job_in_words_and_leaves_nothing(engines, tmp_path, monkeypatch):
    with tiny_disk(tmp_path / "full") as mounted:
        if not mounted:  # no tmpfs to be had: the download's writes fail as a full disk's do
            import errno

            import audioldm_daw.bridge.clients.remote as remote

            def full(*_a: object, **_k: object) -> None:
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(remote, "open", full, raising=False)
        lap = Laptop([engines[0].url], tmp_path, clips=tmp_path / "full")
        client = lap.client()
        try:
            client.send("/audioldm/generate", "big", "rain", *FAST)
            msgs = client.replies.job("big", timeout=120)
        finally:
            client.close()
            lap.close()
        assert msgs[-1][0] == "/audioldm/fail", msgs[-1]
        assert "free some space" in msgs[-1][1][1] and "no space left" in msgs[-1][1][1]
        assert not list((tmp_path / "full").glob("big*")) and leftovers(tmp_path / "full") == []


def test_a_full_disk_on_the_engine_fails_the_job_in_the_engines_words(tiny_engine, engines, tmp_path):
    with tiny_disk(tmp_path / "engine-full") as mounted:
        assert mounted, "this test needs a tmpfs mount (run as root)"
        # the idle engine A's model, served from a full clips folder (A runs nothing meanwhile)
        full = Engine(tiny_engine, tmp_path / "engine", clips=tmp_path / "engine-full")
        lap = Laptop([full.url], tmp_path)
        client = lap.client()
        try:
            client.send("/audioldm/generate", "nospace", "rain", *FAST)
            msgs = client.replies.job("nospace", timeout=120)
        finally:
            client.close()
            lap.close()
            full.close()
    assert msgs[-1][0] == "/audioldm/fail", msgs[-1]
    assert "disk full" in msgs[-1][1][1] or "space" in msgs[-1][1][1]
    assert not list(lap.clips.glob("nospace*"))
