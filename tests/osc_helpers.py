"""Helpers for the OSC tests: a reply collector, a client, and the real ``audioldm-daw serve`` process.

Everything binds to loopback on ports the OS picks, so tests never collide with each other, with other
engineers' runs, or with a real engine on 9000/9001.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

Msg = tuple[str, list[Any]]
FINAL = ("/audioldm/done", "/audioldm/fail", "/audioldm/cancelled")


def dead_pid() -> int:
    """The pid of a process that has exited: what a crashed writer leaves in its part files' names."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_take(folder: Path) -> Path:
    """A 1 s stereo take at 16 kHz, ``my take.wav`` in ``folder`` (a space in the name, as users' files have):
    the laptop-side file the remote tests send, a path the engines never see. One copy here, so the send and
    relay tests upload the same take; each test module wraps it in its own module-scoped ``take`` fixture."""
    path = folder / "my take.wav"
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(path, np.stack([tone, tone], axis=1), 16000, subtype="PCM_16")
    return path


def leftovers(folder: Path) -> list[str]:
    """Half-written files a download could leave (hidden temporary names) anywhere under ``folder``; the remote
    tests assert there are none after every fetch, failed or not."""
    return sorted(p.name for p in folder.rglob(".*") if p.is_file())


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drain(sock: socket.socket) -> list[tuple[str, list[Any]]]:
    """Every OSC message that reaches ``sock`` until it stays quiet for its timeout: what a script under test
    sent, bundles unpacked, in arrival order."""
    from audioldm_daw.bridge.server.osc_server import parse_packet

    got: list[tuple[str, list[Any]]] = []
    while True:
        try:
            got += parse_packet(sock.recv(65536))
        except TimeoutError:
            return got


class Replies:
    """A UDP socket on a free loopback port that decodes every OSC message it receives, in order."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.inbox: queue.Queue[Msg] = queue.Queue()
        self.all: list[Msg] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            m = OscMessage(data)
            msg = (m.address, list(m.params))
            self.all.append(msg)
            self.inbox.put(msg)

    def next(self, timeout: float = 30.0) -> Msg:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply within {timeout} s (so far: {self.all[-10:]})") from None

    def until(self, pred: Callable[[Msg], bool], timeout: float = 120.0) -> list[Msg]:
        """Every message up to and including the first one for which ``pred`` is true."""
        out: list[Msg] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"condition not met within {timeout} s; got {out[-20:]}")
            msg = self.next(left)
            out.append(msg)
            if pred(msg):
                return out

    def jobs(self, job_ids: Iterable[str], timeout: float = 120.0) -> dict[str, list[Msg]]:
        """Replies per job until every one of ``job_ids`` has had its final reply (any order)."""
        want = set(job_ids)
        per: dict[str, list[Msg]] = {j: [] for j in want}
        finished: set[str] = set()

        def take(m: Msg) -> bool:
            job = m[1][0] if m[1] and isinstance(m[1][0], str) else None
            if job in per:
                per[job].append(m)
                if m[0] in FINAL:
                    finished.add(job)
            return finished == want

        self.until(take, timeout)
        return per

    def job(self, job_id: str, timeout: float = 120.0) -> list[Msg]:
        """Replies about ``job_id`` until its final one (done / fail / cancelled); others are kept too."""
        return self.until(lambda m: m[0] in FINAL and m[1][:1] == [job_id], timeout)

    def quiet(self, seconds: float = 0.3) -> list[Msg]:
        """Whatever arrives in the next ``seconds`` (used to check that nothing else came)."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Client:
    """An OSC client with its own socket (a stable source port) and its own reply collector."""

    def __init__(self, address: tuple[str, int], notify: bool = True) -> None:
        self.osc = SimpleUDPClient(*address)
        self.replies = Replies()
        if notify:
            self.send("/audioldm/notify", self.replies.port)
            assert self.replies.next(30) == ("/audioldm/notified", [self.replies.port])

    def send(self, address: str, *args: Any) -> None:
        self.osc.send_message(address, list(args))

    def ask(self, address: str, *args: Any, timeout: float = 30.0) -> Msg:
        """Send and return the next reply."""
        self.send(address, *args)
        return self.replies.next(timeout)

    def ask_for(self, reply: str, address: str, *args: Any, timeout: float = 30.0) -> Msg:
        """Send and return the first reply at ``reply`` (progress of running jobs may come in between)."""
        self.send(address, *args)
        return self.replies.until(lambda m: m[0] == reply, timeout)[-1]

    def raw(self, data: bytes, address: tuple[str, int]) -> None:
        self.osc._sock.sendto(data, address)

    def close(self) -> None:
        self.replies.close()


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without stopping it (e.g. a crash)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


_STATE = tempfile.mkdtemp(prefix="audioldm-state-")  # journals and reply ports of test servers, not the user's
atexit.register(shutil.rmtree, _STATE, True)


def serve_env(**extra: str) -> dict[str, str]:
    """Environment for a server process: offline, one BLAS thread (2 shared cores), no JACK autostart,
    and a state folder (journal, saved reply ports) of this test run's own."""
    env = dict(os.environ)
    env.update(
        AUDIOLDM_DAW_STATE=_STATE,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        JACK_NO_START_SERVER="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Serve:
    """``python -m audioldm_daw.bridge.cli serve`` on a free port; ready once it prints its listening line."""

    def __init__(
        self,
        model: Path,
        clips: Path,
        reply_port: int,
        extra: Iterable[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "audioldm_daw.bridge.cli",
            "serve",
            "--model",
            str(model),
            "--device",
            "cpu",
            "--port",
            "0",
            "--reply-port",
            str(reply_port),
            "--clips",
            str(clips),
            *extra,
        ]
        self.clips = Path(clips)
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or serve_env(),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # prctl is Linux's
        )
        self.lines: list[str] = []
        self._ready: queue.Queue[tuple[str, int]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.address = self._ready.get(timeout=startup_timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError("serve did not start:\n" + "\n".join(self.lines[-40:])) from None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("listening on udp://"):
                hostport = line.split("udp://", 1)[1].split()[0]
                host, port = hostport.rsplit(":", 1)
                self._ready.put((host, int(port)))

    def wait_for(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        """Block until ``done(self.lines)`` holds; fails, with serve's output, if serve exits first or ``timeout``
        seconds pass."""
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.output()
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        return "\n".join(self.lines)


# One JACK server name per test run, so parallel runs by other engineers never share a JACK server.
JACK_NAME = f"audioldm-test-{os.getpid()}"
_shared: Serve | None = None


def shared_server(model: Path, request: Any) -> Serve:
    """One ``serve`` process for every test module that needs no special start-up (loading it costs ~20 s),
    stopped when the test session ends (``request`` is any fixture request of the session).

    It gets ``JACK_DEFAULT_SERVER`` from the start: PortAudio is only initialised when a client first
    asks for devices, so the audition tests can start their JACK server later and still be found.
    """
    global _shared
    if _shared is None or _shared.proc.poll() is not None:
        clips = Path(tempfile.mkdtemp(prefix="audioldm-clips-"))
        _shared = Serve(model, clips, reply_port=9, env=serve_env(JACK_DEFAULT_SERVER=JACK_NAME))
        request.session.addfinalizer(lambda s=_shared: _cleanup(s))
        atexit.register(_cleanup, _shared)
    return _shared


def _cleanup(serve: Serve) -> None:
    serve.stop()
    shutil.rmtree(serve.clips, ignore_errors=True)
