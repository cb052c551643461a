"""The OSC server end to end: the real ``audioldm-daw serve`` process on the tiny model, driven by python-osc.

Plus the parts that need no model process: the address table's agreement with the engine's own
validation, the job queue's progress throttle, and the network checks of ``serve``.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import math
import re
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
from osc_helpers import FINAL, Client, Replies, Serve, shared_server

from audioldm_daw import __version__
from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.server.jobs import JobQueue, ProgressThrottle
from audioldm_daw.engine.errors import Cancelled, InvalidRequest
from audioldm_daw.engine.request import GenerateRequest, Inpaint

SHORT = ("duration", 0.5, "steps", 2)


@pytest.fixture(scope="module")
def server(tiny_model_dir, request):
    return shared_server(tiny_model_dir, request)  # every client here registers with /audioldm/notify


@pytest.fixture
def client(server):
    c = Client(server.address)
    yield c
    c.close()


def no_partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith("."))


# -- end to end -----------------------------------------------------------------------------------
def test_ping_status_and_notify(server, client):
    assert client.ask("/audioldm/ping") == ("/audioldm/pong", [__version__, "tiny"])
    assert client.ask("/audioldm/status") == ("/audioldm/status", ["tiny", "cpu", 0, "", str(server.clips.resolve())])
    # notify with a float port (as Pd sends it) re-routes this client's replies
    other = Replies()
    try:
        client.send("/audioldm/notify", float(other.port))
        assert other.next(10) == ("/audioldm/notified", [other.port])
        client.send("/audioldm/ping")
        assert other.next(10)[0] == "/audioldm/pong"
        assert client.replies.quiet(0.3) == []
    finally:
        other.close()


def test_generate_end_to_end(server, client):
    # Pd-style floats for integer options, an int where a float is usual: both must be accepted.
    client.send("/audioldm/generate", "e2e", "soft rain on a tin roof", "duration", 0.5, "steps", 3.0, "seed", 11)
    client.send("/audioldm/generate", "e2e-b", "a short beep", "duration", 1, "steps", 2, "sr", 16000.0, "seed", 5)
    per = client.replies.jobs(["e2e", "e2e-b"])
    e2e = per["e2e"]
    assert e2e[0] == ("/audioldm/queued", ["e2e", 0])
    # Progress is throttled (at most MAX_PROGRESS_PER_S a second), so a middle step may be skipped on a fast
    # machine; the first step and the last one (step == total) always get out, in order.
    progress = e2e[1:-1]
    assert {m[0] for m in progress} == {"/audioldm/progress"}
    steps = [m[1][1] for m in progress]
    assert steps[0] == 1 and steps[-1] == 3 and steps == sorted(set(steps))
    assert {(m[1][0], m[1][2]) for m in progress} == {("e2e", 3)}
    address, (job, path, seconds, rate, seed, warning) = e2e[-1]
    assert (address, job, rate, seed, warning) == ("/audioldm/done", "e2e", 48000, 11, "")
    assert math.isclose(seconds, 0.5)
    wav = Path(path)
    assert wav.is_absolute() and wav.parent == server.clips.resolve() and wav.name == "e2e.wav"
    info = sf.info(str(wav))
    assert (info.samplerate, info.frames, info.channels) == (48000, 24000, 1)
    side = json.loads(wav.with_suffix(".json").read_text())
    assert side["request"]["seed"] == 11 and side["request"]["steps"] == 3
    assert side["request"]["source"]["prompt"] == "soft rain on a tin roof"
    assert side["model"]["id"] == "tiny" and side["engine_version"] == __version__

    b = per["e2e-b"]
    assert b[0][0] == "/audioldm/queued" and b[0][1][1] in (0, 1)  # 1 if it arrived before e2e started
    assert [m[1][1:] for m in b[1:-1]] == [[1, 2], [2, 2]]
    done = b[-1][1]
    assert b[-1][0] == "/audioldm/done" and done[2:] == [1.0, 16000, 5, ""]
    assert sf.info(done[1]).frames == 16000
    assert no_partials(server.clips) == []

    # /audioldm/job re-sends the last reply, to whoever asks
    assert client.ask("/audioldm/job", "e2e") == e2e[-1]
    # a prompt split into words (an unquoted Max/Pd list) is joined; the engine picks the job id
    client.send("/audioldm/generate", "", "low", "drone", "name", "my drone", *SHORT)
    queued = client.replies.next()
    assert queued[0] == "/audioldm/queued" and queued[1][0].startswith("job-")
    done = client.replies.job(queued[1][0])[-1]
    assert done[0] == "/audioldm/done" and Path(done[1][1]).name == "my drone.wav"
    side = json.loads(Path(done[1][1]).with_suffix(".json").read_text())
    assert side["request"]["source"]["prompt"] == "low drone"


def test_cancel_running_and_queued(server, client):
    client.send("/audioldm/generate", "long", "an endless organ chord", "duration", 0.5, "steps", 500)
    assert client.replies.next() == ("/audioldm/queued", ["long", 0])
    first = client.replies.next(60)
    assert first[0] == "/audioldm/progress" and first[1][0] == "long" and first[1][2] == 500
    client.send("/audioldm/generate", "behind", "x", *SHORT)
    assert client.replies.until(lambda m: m[0] == "/audioldm/queued")[-1] == ("/audioldm/queued", ["behind", 0])
    assert client.ask_for("/audioldm/status", "/audioldm/status")[1][2:4] == [1, "long"]
    client.send("/audioldm/cancel", "behind")
    assert client.replies.until(lambda m: m[0] != "/audioldm/progress")[-1] == ("/audioldm/cancelled", ["behind"])
    t0 = time.monotonic()
    client.send("/audioldm/cancel", "long")
    rest = client.replies.until(lambda m: m[0] != "/audioldm/progress", timeout=30)
    assert rest[-1] == ("/audioldm/cancelled", ["long"])
    assert time.monotonic() - t0 < 10
    steps = [m[1][1] for m in rest if m[0] == "/audioldm/progress"]
    assert max(steps, default=1) < 500
    assert client.replies.quiet(0.5) == []
    assert not (server.clips / "long.wav").exists() and not (server.clips / "behind.wav").exists()
    assert no_partials(server.clips) == []
    assert client.ask("/audioldm/job", "long") == ("/audioldm/cancelled", ["long"])
    assert client.ask("/audioldm/status")[1][2:4] == [0, ""]
    # cancelling again, or an unknown job, is a /fail naming the job
    fail = client.ask("/audioldm/cancel", "long")
    assert fail[0] == "/audioldm/fail" and fail[1][0] == "long" and "already finished" in fail[1][1]
    fail = client.ask("/audioldm/cancel", "nobody")
    assert fail == (
        "/audioldm/fail",
        ["nobody", "job_id: no job 'nobody' (unknown, or finished long ago)", "/audioldm/cancel"],
    )


def test_two_clients_get_only_their_own_replies(server):
    a, b = Client(server.address), Client(server.address)
    try:
        a.send("/audioldm/generate", "from-a", "bird song", *SHORT)
        b.send("/audioldm/generate", "from-b", "bird song", *SHORT)
        ra, rb = a.replies.job("from-a"), b.replies.job("from-b")
        assert {m[1][0] for m in ra} == {"from-a"} and ra[-1][0] == "/audioldm/done"
        assert {m[1][0] for m in rb} == {"from-b"} and rb[-1][0] == "/audioldm/done"
        assert a.replies.quiet(0.3) == [] and b.replies.quiet(0.1) == []
        assert a.ask("/audioldm/ping")[0] == "/audioldm/pong" and b.replies.quiet(0.2) == []
    finally:
        a.close()
        b.close()


def test_bad_requests_fail_with_a_message(server, client, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    outside = tmp_path / "outside.wav"
    sf.write(str(outside), [0.0] * 1600, 16000)
    one_s = tmp_path / "one.wav"
    sf.write(str(one_s), [0.1, -0.1] * 8000, 16000)
    cases = [
        (("/audioldm/generate", "n1", "x", "duration", -2.0), "n1", "duration: expected a number in 0.5..60"),
        (("/audioldm/generate", "n2", "x", "duration", float("nan")), "n2", "duration: expected a number"),
        (("/audioldm/generate", "n3", "x", "steps", "ten"), "n3", "steps: expected an integer in 1..1000, got string"),
        (("/audioldm/generate", "n4", "x", "steps", 2.5), "n4", "steps: expected an integer"),
        (("/audioldm/generate", 7, "x"), "", "job_id: expected a string, got int 7"),
        (("/audioldm/generate", "n5"), "n5", "prompt: missing"),
        (("/audioldm/generate",), "", "job_id: missing"),
        (("/audioldm/generate", "n6", "x", "name", "../../escape"), "n6", "name: expected a file-name stem"),
        (("/audioldm/generate", "n7", "x", "stpes", 20), "n7", "option 'stpes': unknown key"),
        (("/audioldm/generate", "n8", "x", "strength", 0.3), "n8", "not an option of /audioldm/generate"),
        (("/audioldm/generate", "n9", "x", "bpm", 120), "n9", "bpm: give both bpm and bars"),
        (("/audioldm/generate", "n9b", "x", "bpm", 120, "bars", 1, "duration", 3), "n9b", "duration: give either"),
        (("/audioldm/generate", "n9c", "   "), "n9c", "prompt: expected what the clip should sound like"),
        (("/audioldm/inpaint", "n9d", str(outside), 0.0, 0.05, "x", "loop", 1), "n9d", "not an option of"),
        (("/audioldm/inpaint", "n9e", str(one_s), 1.5, 1.6), "n9e", "start_s: 1.5 is past the input's end"),
        (("/audioldm/generate", "n9f", "x", "normalize", "loud"), "n9f", "normalize: expected a number in -60..0 or"),
        (
            ("/audioldm/generate", "n10", "x", "sr", 44000),
            "n10",
            "sr: expected one of 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000",
        ),
        (("/audioldm/generate", "n11", "x", "scheduler", "euler"), "n11", "scheduler: expected one of ddim, dpm"),
        (("/audioldm/transfer", "n12", str(not_audio), "x"), "n12", "not an audio file soundfile can read"),
        (("/audioldm/transfer", "n13", str(tmp_path / "missing.wav"), "x"), "n13", "does not exist"),
        (("/audioldm/transfer", "n14", str(tmp_path), "x"), "n14", "is not a regular file"),
        (("/audioldm/inpaint", "n15", str(outside), 2.0, 1.0, "x"), "n15", "end_s: expected a time after start_s"),
        (("/audioldm/continue", "n16", str(outside)), "n16", "seconds: missing"),
        (("/audioldm/play", str(outside)), str(outside), "outside the clips folder"),
        (("/audioldm/play", "/etc/passwd"), "/etc/passwd", "outside the clips folder"),
        (("/audioldm/notify", 70000), "", "port: expected an integer in 1..65535"),
        (("/audioldm/ping", "extra"), "", "takes 0 argument(s)"),
        (("/audioldm/job", "ghost"), "ghost", "no job 'ghost'"),
        (("/audioldm/generat", "n17", "x"), "", "unknown address '/audioldm/generat'"),
        (("/nothing/here",), "", "unknown address"),
    ]
    for (address, *args), job_id, text in cases:
        reply = client.ask(address, *args)
        assert reply[0] == "/audioldm/fail", (address, args, reply)
        assert reply[1][0] == job_id, (address, args, reply)
        assert text in reply[1][1], (address, args, reply)
        assert reply[1][2] == address, (address, args, reply)  # /fail names the address it answers
    assert client.replies.quiet(0.3) == []
    # a job id already in use: the second request fails, the first job goes on
    client.send("/audioldm/generate", "dup", "x", *SHORT)
    assert client.replies.next() == ("/audioldm/queued", ["dup", 0])
    client.send("/audioldm/generate", "dup", "x", *SHORT)
    msgs = client.replies.until(lambda m: m[0] == "/audioldm/done", timeout=120)
    fails = [m for m in msgs if m[0] == "/audioldm/fail"]
    assert len(fails) == 1 and fails[0][1][0] == "dup" and "'dup' is already in use" in fails[0][1][1]
    assert msgs[-1][1][0] == "dup"
    # malformed bytes: /fail with job_id "" to the sender
    client.raw(b"\x00\x01\x02 definitely not OSC", server.address)
    reply = client.replies.next()
    assert reply[0] == "/audioldm/fail" and reply[1][0] == "" and "malformed OSC packet" in reply[1][1]
    assert reply[1][2] == ""
    assert no_partials(server.clips) == []


def test_manipulation_addresses_are_accepted(server, client, tmp_path):
    """Each manipulation address maps its arguments onto the request the engine renders."""
    clip = tmp_path / "in.wav"
    sf.write(str(clip), [0.1, -0.1] * 8000, 16000)
    steps = ("steps", 2)  # the input modes take their length from the input: no duration
    requests = [
        ("/audioldm/variation", "m-var", str(clip), *SHORT),
        ("/audioldm/transfer", "m-tr", str(clip), "as a choir", "strength", 0.4, *steps),
        ("/audioldm/inpaint", "m-in", str(clip), 0.2, 0.6, "a cough", *steps),
        ("/audioldm/upsample", "m-up", str(clip), "cutoff", 4000, *steps),
        ("/audioldm/continue", "m-co", str(clip), 1.0, "more of it", *steps),
    ]
    for address, job, *args in requests:
        client.send(address, job, *args)
    per = client.replies.jobs([r[1] for r in requests], timeout=240)
    for job, msgs in per.items():
        assert msgs[0][0] == "/audioldm/queued" and msgs[0][1][0] == job, msgs
        assert [m[0] for m in msgs[1:-1]] == ["/audioldm/progress"] * (len(msgs) - 2), msgs
        address, args = msgs[-1]
        assert address == "/audioldm/done", (job, msgs)
        side = json.loads(Path(args[1]).with_suffix(".json").read_text())["request"]
        assert side["source"]["input_path"] == str(clip.resolve()) and side["steps"] == 2
        assert sf.info(args[1]).frames == round(args[2] * args[3])
    sides = {
        j: json.loads(Path(m[-1][1][1]).with_suffix(".json").read_text())["request"]["source"] for j, m in per.items()
    }
    assert {j: s["mode"] for j, s in sides.items()} == {
        "m-var": "variation",
        "m-tr": "transfer",
        "m-in": "inpaint",
        "m-up": "upsample",
        "m-co": "continue",
    }
    assert sides["m-tr"]["strength"] == 0.4 and sides["m-tr"]["prompt"] == "as a choir"
    assert (sides["m-in"]["start"], sides["m-in"]["end"]) == (0.2, 0.6)
    assert sides["m-up"]["cutoff_hz"] == 4000 and sides["m-co"]["seconds"] == 1.0


def test_sigterm_cancels_the_running_job_and_leaves_no_file(tiny_model_dir, tmp_path):
    clips = tmp_path / "clips"
    replies = Replies()
    s = Serve(tiny_model_dir, clips, replies.port)
    try:
        # before anyone on this host registered a port, replies go to --reply-port
        Client(s.address, notify=False).send("/audioldm/ping")
        assert replies.next(30) == ("/audioldm/pong", [__version__, "tiny"])
        c = Client(s.address)
        c.send("/audioldm/generate", "doomed", "x", "duration", 0.5, "steps", 500)
        c.send("/audioldm/generate", "waiting", "x", *SHORT)
        c.replies.until(lambda m: m[0] == "/audioldm/progress", timeout=60)
        assert s.stop(signal.SIGTERM, timeout=60) == 0
        rest = c.replies.quiet(1.0)
        seen = c.replies.all
        assert ("/audioldm/cancelled", ["doomed"]) in seen and ("/audioldm/cancelled", ["waiting"]) in seen, rest
        assert sorted(p.name for p in clips.iterdir()) == []
        assert "stopped:" in s.output()
        c.close()
    finally:
        s.stop(signal.SIGKILL)
        replies.close()


def test_kill_9_then_restart_repairs_reports_lost_jobs_and_keeps_registrations(tiny_model_dir, tmp_path):
    """SIGKILL mid-job, then a restart on the same clips folder and port: the crash's leftovers are removed
    or completed and reported, the killed jobs answer "lost" (with their step), and the client that
    registered before the kill hears its pong where it registered, without registering again."""
    clips = tmp_path / "clips"
    s = Serve(tiny_model_dir, clips, 9)
    c = Client(s.address)
    s2 = None
    try:
        c.send("/audioldm/generate", "killed", "x", "duration", 0.5, "steps", 500)
        c.send("/audioldm/generate", "behind", "x", *SHORT)
        # progress is throttled (at most MAX_PROGRESS_PER_S a second): a fast machine may skip step 3 itself
        c.replies.until(lambda m: m[0] == "/audioldm/progress" and m[1][0] == "killed" and m[1][1] >= 3, timeout=60)
        assert s.stop(signal.SIGKILL) == -signal.SIGKILL
        pid = s.proc.pid
        # what a kill during the write leaves: a sidecar whose complete WAV is still hidden, and half a part
        sf.write(str(clips / f".kill-sidecar.{pid}-0123abcd.wav.part"), [0.1, -0.1] * 800, 16000, format="WAV")
        (clips / "kill-sidecar.json").write_text(json.dumps({"request": {}}))
        (clips / f".half.{pid}-89abcdef.wav.part").write_bytes(b"RIFF")
        s2 = Serve(tiny_model_dir, clips, 9, extra=["--port", str(s.address[1])])
        out = s2.output()
        assert "completed 1 clip(s) a crash left between its two renames" in out, out
        assert "removed 1 half-written temporary file(s)" in out, out
        assert "lost job 'killed'" in out and "lost job 'behind'" in out, out
        assert sorted(p.name for p in clips.iterdir()) == ["kill-sidecar.json", "kill-sidecar.wav"]
        # the restarted server tells the registered client about its lost jobs, unasked
        told = {m[1][0]: m[1][1] for m in (c.replies.next(30), c.replies.next(30))}
        assert set(told) == {"killed", "behind"}, told
        reply = c.ask("/audioldm/job", "killed")
        assert reply[0] == "/audioldm/fail" and reply[1][0] == "killed", reply
        step = int(re.search(r"at step (\d+) of 500", reply[1][1]).group(1))
        assert step >= 3 and reply[1][1].startswith("lost: the engine stopped while it ran"), reply
        assert reply[1][2] == "/audioldm/generate"
        assert "stopped before the job started" in c.ask("/audioldm/job", "behind")[1][1]
        assert c.ask("/audioldm/ping") == ("/audioldm/pong", [__version__, "tiny"])  # no new /notify
        # a lost job may be sent again under its own id
        c.send("/audioldm/generate", "killed", "x", *SHORT)
        assert c.replies.job("killed")[-1][0] == "/audioldm/done"
    finally:
        c.close()
        s.stop(signal.SIGKILL)
        if s2 is not None:
            s2.stop()


def test_a_second_server_on_the_same_clips_folder_or_a_clips_file_is_refused(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    from osc_helpers import serve_env

    a_file = tmp_path / "clips-file"
    a_file.write_text("x")
    base = [sys.executable, "-m", "audioldm_daw.bridge.cli", "serve", "--model", str(tiny_model_dir), "--port", "0"]
    r = subprocess.run([*base, "--clips", str(a_file)], capture_output=True, text=True, env=serve_env(), timeout=120)
    assert r.returncode != 0 and "is a file, not a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    s = Serve(tiny_model_dir, tmp_path / "clips", 9)
    try:
        r = subprocess.run(
            [*base, "--clips", str(tmp_path / "clips")], capture_output=True, text=True, env=serve_env(), timeout=120
        )
        assert r.returncode != 0 and "already serves the clips folder" in r.stderr, r.stderr
        assert f"pid {s.proc.pid}" in r.stderr and "Traceback" not in r.stderr
        r = subprocess.run(
            [*base[:-1], str(s.address[1]), "--clips", str(tmp_path / "other")],
            capture_output=True,
            text=True,
            env=serve_env(),
            timeout=120,
        )
        assert r.returncode != 0 and "already listens on" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        s.stop()


# -- without a model process -----------------------------------------------------------------------
def test_every_request_has_a_handler_and_documented_replies():
    from audioldm_daw.bridge.server.docs import render

    doc = render()
    for spec in protocol.ADDRESSES.values():
        assert f"`{spec.address}`" in doc
        for r in spec.replies:
            assert r in protocol.REPLIES, (spec.address, r)
    for key in protocol.OPTIONS:
        assert f"`{key}`" in doc


def test_committed_docs_match_the_table():
    from audioldm_daw.bridge.server.docs import render

    committed = Path(__file__).resolve().parents[1] / "docs" / "OSC.md"
    assert committed.read_text() == render(), "regenerate: python -m audioldm_daw.bridge.server.docs > docs/OSC.md"


def test_osc_float32_values_are_taken_as_typed():
    f32 = struct.unpack("<f", struct.pack("<f", 0.4))[0]
    assert f32 != 0.4 and protocol.shortest_float32(f32) == 0.4
    assert protocol.shortest_float32(0.1 + 0.2) == 0.1 + 0.2  # a double stays as it is
    r = protocol.parse_request("/audioldm/transfer", ["j", "/a.wav", "x", "strength", f32, "guidance", 2.5])
    assert r.options == {"strength": 0.4, "guidance": 2.5}
    assert r.to_request().source.strength == 0.4


def test_prompt_words_and_options_split():
    p = protocol.parse_request
    assert p("/audioldm/generate", ["j", "drum", "loop", "duration", 4.0]).values["prompt"] == "drum loop"
    r = p("/audioldm/generate", ["j", "kick", "loop", 1.0])
    assert (r.values["prompt"], r.options) == ("kick", {"loop": 1})
    assert p("/audioldm/generate", ["j", "funky drum loop"]).values["prompt"] == "funky drum loop"
    assert "prompt" not in p("/audioldm/upsample", ["j", "/a.wav", "steps", 2]).values
    assert p("/audioldm/upsample", ["j", "/a.wav", "bright", "steps", 2]).values["prompt"] == "bright"
    r = p("/audioldm/inpaint", ["j", "/a.wav", 1, 2.5, "x", "seed", 3.0])
    assert r.request_values() == {"input_path": "/a.wav", "start": 1.0, "end": 2.5, "prompt": "x", "seed": 3}
    assert r.to_request().source == Inpaint("/a.wav", 1.0, 2.5, "x")
    with pytest.raises(protocol.ProtocolError, match="option 'seed': missing its value"):
        p("/audioldm/generate", ["j", "x", "steps", 3.0, "seed"])
    with pytest.raises(
        protocol.ProtocolError, match=re.escape("steps: expected an integer in 1..1000, got string 'ten'")
    ):
        p("/audioldm/generate", ["j", "x", "steps", "ten"])
    with pytest.raises(protocol.ProtocolError, match=re.escape("prompt: expected a string, got float 3.0")):
        p("/audioldm/generate", ["j", 3.0, "steps", 2])
    with pytest.raises(protocol.ProtocolError, match="argument 3: expected an option key"):
        p("/audioldm/generate", ["j", "x", 3.0, 2])


class FakeEngine:
    """Steps at a chosen pace and honours cancel, so the queue's timing rules can be measured exactly."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s

    def render(self, request, out, progress=None, cancel=None):
        for i in range(request.steps):
            if cancel and cancel():
                raise Cancelled("cancelled")
            time.sleep(self.step_s)
            progress(i + 1, request.steps)
        raise InvalidRequest("fake engine writes nothing")


def _collect_progress(step_s: float, steps: int, tmp_path: Path) -> list[tuple[float, list]]:
    got: list[tuple[float, list]] = []
    done = threading.Event()

    def send(client, address, args):
        got.append((time.monotonic(), [address, *args]))
        if address == "/audioldm/fail":
            done.set()

    q = JobQueue(FakeEngine(step_s), tmp_path, send)
    try:
        q.submit(GenerateRequest("x", steps=steps), "t", ("127.0.0.1", 1))
        assert done.wait(60)
    finally:
        q.close()
    return [(t, m) for t, m in got if m[0] == "/audioldm/progress"]


def test_progress_is_throttled_to_50_per_second_and_ends_on_the_last_step(tmp_path):
    fast = _collect_progress(0.001, 400, tmp_path)
    times = [t for t, _ in fast]
    assert fast[-1][1] == ["/audioldm/progress", "t", 400, 400]
    assert len(fast) < 400
    assert all(b - a >= 0.0199 for a, b in itertools.pairwise(times))
    slow = _collect_progress(0.03, 6, tmp_path)
    assert [m[2] for _, m in slow] == [1, 2, 3, 4, 5, 6]


def test_throttle_waits_out_the_interval_for_the_final_step():
    now = [0.0]
    sent = []
    th = ProgressThrottle(lambda d, t: sent.append((now[0], d)), rate=50, clock=lambda: now[0])
    th(1, 3)
    now[0] = 0.005
    th(2, 3)
    th(3, 3)
    assert [d for _, d in sent] == [1, 3]


def test_serve_refuses_to_listen_beyond_loopback_without_allow():
    from audioldm_daw.bridge.cli.serve import check_network

    with pytest.raises(InvalidRequest, match="--allow"):
        check_network("0.0.0.0", 0, 9001, [])
    with pytest.raises(InvalidRequest, match="--allow: expected an address or network"):
        check_network("0.0.0.0", 0, 9001, ["not-a-net"])
    assert check_network("0.0.0.0", 0, 9001, ["10.0.0.0/8"], token_file="engine.key")[0] == "0.0.0.0"
    assert check_network(None, 0, 9001, [])[0] == "127.0.0.1"
    # the command itself refuses before it loads any model
    from audioldm_daw.bridge.cli import build_parser

    args = build_parser().parse_args(["serve", "--model", "/nonexistent", "--host", "0.0.0.0", "--port", "0"])
    with pytest.raises(InvalidRequest, match="listens beyond this computer: add --allow"):
        args._run(args)


def _outward_ip() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 9))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_allow_list_drops_and_counts(tiny_engine, tmp_path):
    from audioldm_daw.bridge.server.osc_server import OscServer

    ip = _outward_ip()
    nets = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24")]
    allowed_net = next(n for n in nets if ip is None or ipaddress.ip_address(ip) not in n)
    inside, outside = str(allowed_net[7]), "198.18.0.1"
    srv = OscServer(tiny_engine, host="0.0.0.0", port=0, reply_port=9, clips_dir=tmp_path, allow=[allowed_net])
    srv.start()
    try:
        assert srv.allowed((inside, 5000)) and srv.allowed(("127.0.0.1", 5000))
        assert not srv.allowed((outside, 5000))
        assert srv.stats.dropped == 1
        ip = _outward_ip()
        if ip is not None:  # a real packet from this host's own non-loopback address: dropped, not answered
            replies = srv.stats.replies
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((ip, 0))
                s.sendto(b"/audioldm/ping\x00\x00", (ip, srv.address[1]))
            deadline = time.monotonic() + 5
            while srv.stats.dropped < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert srv.stats.dropped == 2 and srv.stats.packets == 0 and srv.stats.replies == replies
        c = Client(("127.0.0.1", srv.address[1]))
        assert c.ask("/audioldm/ping")[0] == "/audioldm/pong"
        c.close()
    finally:
        srv.close()


def test_takes_go_to_a_subfolder_and_tempo_clips_carry_their_tempo(server, client):
    """``count`` makes one job per take with consecutive seeds; ``folder`` puts them in a subfolder of the
    clips folder; a clip made at a tempo carries ACID/smpl chunks a DAW warps it by."""
    from audioldm_daw.engine.wav_chunks import read_tempo_chunks

    client.send(
        "/audioldm/generate", "take", "a drum groove", "bpm", 240, "bars", 1, "loop", 1, "fit", 0, "steps", 2,
        "seed", 40, "count", 2, "folder", "my-set", "name", "groove",
    )  # fmt: skip
    per = client.replies.jobs(["take-1", "take-2"], timeout=120)
    done = {job: msgs[-1][1] for job, msgs in per.items()}
    assert all(msgs[-1][0] == "/audioldm/done" for msgs in per.values()), per
    paths = {job: Path(args[1]) for job, args in done.items()}
    assert {p.name for p in paths.values()} == {"groove-1.wav", "groove-2.wav"}
    assert {p.parent for p in paths.values()} == {server.clips.resolve() / "my-set"}
    assert [done["take-1"][4], done["take-2"][4]] == [40, 41]  # consecutive seeds
    info = read_tempo_chunks(paths["take-1"])
    assert (info.bpm, info.beats, info.loop) == (240.0, 4, True)
    assert sf.info(str(paths["take-1"])).frames == 48000  # one 4/4 bar at 240 bpm, to the sample
    for bad in ("../escape", ".hidden", "a/b"):
        reply = client.ask("/audioldm/generate", "bad-folder", "x", "folder", bad)
        assert reply[0] == "/audioldm/fail" and "folder: expected one folder name" in reply[1][1], reply


def test_serve_says_when_it_is_ready_logs_each_request_and_renders_its_inbox(tiny_model_dir, tmp_path):
    """The person running the engine sees the ready time and one line per request and per finished job;
    ``--inbox`` renders request files dropped into a folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    replies = Replies()
    s = Serve(tiny_model_dir, tmp_path / "clips", replies.port, extra=["--no-audition", "--inbox", str(inbox)])
    try:
        c = Client(s.address)
        c.send("/audioldm/generate", "logged", "a bell", *SHORT)
        assert c.replies.until(lambda m: m[0] in FINAL, timeout=120)[-1][0] == "/audioldm/done"
        (inbox / "pad.json").write_text(json.dumps({"prompt": "a warm pad", "steps": 2, "duration": 0.5}))
        deadline = time.monotonic() + 120
        while not (inbox / "done" / "pad.wav").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (inbox / "done" / "pad.wav").is_file(), s.output()
        c.close()
    finally:
        s.stop(signal.SIGTERM, timeout=60)
        replies.close()
    out = s.output()
    assert re.search(r"ready in \d", out), out
    assert re.search(r"/audioldm/generate job 'logged' from 127\.0\.0\.1", out), out
    assert re.search(r"done job 'logged' from 127\.0\.0\.1: \S+logged\.wav in \d", out), out


def test_engines_lists_the_announced_engines_without_holding_up_the_server(tmp_path):
    """/audioldm/engines browses off the packet thread (a ping meanwhile is answered at once) and answers, within
    its bound, with the engine announced on loopback (bridge/server/announce.py) and the count."""
    from types import SimpleNamespace

    from audioldm_daw.bridge.server.announce import announce
    from audioldm_daw.bridge.server.osc_server import OscServer

    engine = SimpleNamespace(model=SimpleNamespace(model_id="tiny", path=tmp_path, device="cpu"))
    srv = OscServer(engine, host="127.0.0.1", port=0, clips_dir=tmp_path / "clips")  # type: ignore[arg-type]
    srv.browse_interfaces, srv.browse_seconds = ["127.0.0.1"], 1.5
    srv.start()
    shown = announce("studio gpu", "127.0.0.1", 8750, model="tiny", gpu="", tls=False)
    c = Client(srv.address)
    try:
        started = time.monotonic()
        c.send("/audioldm/engines")
        assert c.ask("/audioldm/ping")[0] == "/audioldm/pong" and time.monotonic() - started < 1.0
        got = c.replies.until(lambda m: m[0] == "/audioldm/engines_end", timeout=20)
        assert time.monotonic() - started < 20
    finally:
        c.close()
        shown.close()
        srv.close()
    engines = [args for address, args in got if address == "/audioldm/engine"]
    assert ["studio gpu", "http://127.0.0.1:8750", "tiny", ""] in engines
    assert got[-1] == ("/audioldm/engines_end", [len(engines)])
