"""Real outside clients against the real server: headless Pure Data running the test patch, and liblo's
``oscsend`` / ``oscdump``. They send numbers as OSC floats (Pd) or ints (oscsend) and must both work."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
from osc_helpers import free_udp_port, shared_server

PATCHES = Path(__file__).resolve().parents[1] / "max_patch"


@pytest.fixture(scope="module")
def server(tiny_model_dir, request):
    return shared_server(tiny_model_dir, request)


def test_pd_test_patch_generates_a_clip(server):
    assert shutil.which("pd"), "Pure Data is needed: apt-get install puredata-core"
    patch = PATCHES / "test_generate.pd"
    assert patch.is_file(), f"{patch} is missing"
    reply_port = free_udp_port()
    cmd = ["pd", "-nogui", "-nosound", "-stderr", "-open", str(patch)]
    cmd += ["-send", f"params {server.address[1]} {reply_port} 120"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    lines = (proc.stdout + proc.stderr).splitlines()
    results = [ln for ln in lines if ln.startswith("RESULT:")]
    assert len(results) == 1, "\n".join(lines[-30:])
    words = results[0].split()
    assert words[:3] == ["RESULT:", "done", "pd-test-1"], results[0]
    path = Path(words[3].replace("\\ ", " "))
    seconds, rate, seed = float(words[4]), int(words[5]), int(words[6])
    assert (seconds, rate, seed) == (1.0, 48000, 7)
    assert path.parent == server.clips.resolve() and sf.info(str(path)).frames == 48000
    side = json.loads(path.with_suffix(".json").read_text())["request"]
    assert (side["source"]["prompt"], side["steps"], side["seed"], side["duration"]) == ("a short test tone", 2, 7, 1.0)
    replies = [ln.split()[1:] for ln in lines if ln.startswith("REPLY:")]
    assert replies[0] == ["audioldm", "notified", str(reply_port)]
    assert ["audioldm", "queued", "pd-test-1", "0"] in replies
    assert [r[3:] for r in replies if r[1] == "progress"][-2:] == [["1", "2"], ["2", "2"]]


class OscDump:
    """liblo's ``oscdump`` on a free port, its lines parsed as (address, typetags, values)."""

    def __init__(self) -> None:
        assert shutil.which("oscdump"), "liblo-tools is needed: apt-get install liblo-tools"
        self.port = free_udp_port()
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.messages: list[tuple[str, str, list[str]]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            words = shlex.split(line)
            if len(words) >= 2:
                types = words[2] if len(words) > 2 else ""
                self.messages.append((words[1], types, words[3:]))

    def wait(self, address: str, first: str | None = None, timeout: float = 120) -> tuple[str, str, list[str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if m[0] == address and (first is None or m[2][:1] == [first]):
                    return m
            time.sleep(0.05)
        raise AssertionError(f"no {address} {first or ''} within {timeout} s; got {self.messages}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def oscsend(port: int, address: str, types: str = "", *values: object) -> None:
    args = ["oscsend", "localhost", str(port), address]
    if types:
        args += [types, *map(str, values)]
    subprocess.run(args, check=True, timeout=10)


def test_oscsend_with_ints_and_oscdump(tiny_engine, tmp_path):
    from audioldm_daw.bridge.server.osc_server import OscServer

    assert shutil.which("oscsend"), "liblo-tools is needed: apt-get install liblo-tools"
    dump = OscDump()
    # oscsend sends from a new socket each time, and a registration covers only the socket that made it (never
    # the host's other sockets: docs/OSC.md, "Transport"), so its replies come on the reply port: oscdump's here
    server = OscServer(tiny_engine, host="127.0.0.1", port=0, reply_port=dump.port, clips_dir=tmp_path / "clips")
    server.start()
    try:
        time.sleep(0.3)  # oscdump binds its port after it starts
        port = server.address[1]
        oscsend(port, "/audioldm/notify", "i", dump.port)
        assert dump.wait("/audioldm/notified", timeout=20)[1:] == ("i", [str(dump.port)])
        oscsend(port, "/audioldm/ping")
        assert dump.wait("/audioldm/pong", timeout=20)[2][1] == "tiny"
        # every number an OSC int, duration included
        oscsend(port, "/audioldm/generate", "sssisisi", "liblo-1", "a bell", "steps", 2, "duration", 1, "seed", 3)
        assert dump.wait("/audioldm/queued", "liblo-1")[1:] == ("si", ["liblo-1", "0"])
        done = dump.wait("/audioldm/done", "liblo-1")
        assert done[1] == "ssfiis"  # the sixth argument: a warning, "" here
        _, path, seconds, rate, seed, _warning = done[2]
        assert (float(seconds), int(rate), int(seed)) == (1.0, 48000, 3)
        assert sf.info(path).frames == 48000 and Path(path).parent == server.clips_dir
        progress = [m[2] for m in dump.messages if m[0] == "/audioldm/progress" and m[2][0] == "liblo-1"]
        assert progress == [["liblo-1", "1", "2"], ["liblo-1", "2", "2"]]
        # floats where ints are expected are fine; a number where a string belongs is a /fail
        oscsend(port, "/audioldm/generate", "sssfsf", "liblo-2", "a gong", "steps", 2.0, "duration", 0.5)
        done2 = dump.wait("/audioldm/done", "liblo-2")[2]
        assert done2[2:4] == ["0.500000", "48000"] and sf.info(done2[1]).frames == 24000
        oscsend(port, "/audioldm/generate", "ssfsf", "liblo-4", "a gong", 1.0, "steps", 2.0)
        assert "argument 3: expected an option key" in dump.wait("/audioldm/fail", "liblo-4")[2][1]
        oscsend(port, "/audioldm/generate", "sis", "liblo-3", 5, "x")
        assert "prompt: expected a string, got int 5" in dump.wait("/audioldm/fail", "liblo-3")[2][1]
        # a job belongs to the socket that sent it: another oscsend (another socket) may not cancel it
        oscsend(port, "/audioldm/cancel", "s", "liblo-1")
        assert "sent by another client" in dump.wait("/audioldm/fail", "liblo-1")[2][1]
    finally:
        dump.close()
        server.close()


@pytest.mark.parametrize(("pd_rate", "clip_rate"), [(44100, 44100), (96000, 96000), (24000, 32000)])
def test_pd_patch_sends_every_request_the_table_accepts(tmp_path, pd_rate, clip_rate):
    """audioldm.pd itself, headless: each request button (driven through [r audioldm-cmd]) sends a message
    that the server's own parser accepts, with the prompt, input file and numbers the patch holds, and
    asks for clips at Pd's own rate (the next rate the engine offers where it has not that one), since
    [tabplay~] plays a table at Pd's rate whatever the file's: a 48 kHz clip in a 96 kHz Pd would play an
    octave up."""
    import socket

    from audioldm_daw.bridge.protocol import parse_request
    from audioldm_daw.bridge.server.osc_server import parse_packet

    assert shutil.which("pd"), "Pure Data is needed: apt-get install puredata-core"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 9000))  # the patch's fixed engine address
    except OSError as exc:
        pytest.fail(f"UDP port 9000 (the patch's engine port) is busy on this machine: {exc}")
    sock.settimeout(0.2)
    wav = tmp_path / "input.wav"
    sf.write(wav, [0.0] * 16000, 16000)
    commands = ["generate", "variation", "transfer", "inpaint", "upsample", "continue"]
    cmd = ["pd", "-nogui", "-nosound", "-r", str(pd_rate), "-stderr", "-open", str(PATCHES / "audioldm.pd")]
    cmd += ["-send", f"audioldm-input symbol {wav}", "-send", "audioldm-prompt list soft rain"]
    cmd += ["-send", "audioldm-span-end 2.5", "-send", "audioldm-extend 3"]
    cmd += [a for c in commands for a in ("-send", f"audioldm-cmd {c}")]
    cmd += ["-send", "pd quit"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        got: dict[str, list] = {}
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            for address, args in parse_packet(data):
                got.setdefault(address, args)
    finally:
        sock.close()
    assert set(got) >= {f"/audioldm/{c}" for c in commands}, (sorted(got), proc.stderr[-2000:])
    for c in commands:
        req = parse_request(f"/audioldm/{c}", got[f"/audioldm/{c}"])  # raises with the reason if it does not fit
        request = req.to_request()  # the engine's request: every option fits the address
        assert request.mode == c
        if c != "variation":
            assert request.prompt == "soft rain", (c, got[f"/audioldm/{c}"])
        if c != "generate":
            assert request.input_path == str(wav)
        assert req.options["steps"] == 50 and req.options["guidance"] == 2.5
        assert request.sample_rate == clip_rate, (c, pd_rate, got[f"/audioldm/{c}"])
    assert (got["/audioldm/inpaint"][2], got["/audioldm/inpaint"][3]) == (1.0, 2.5)
    assert got["/audioldm/continue"][2] == 3.0
