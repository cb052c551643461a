"""``audioldm-daw inbox DIR``: request files in, clips and result files out, against a real ``serve``.

What a file-writing host relies on: requests wait while no engine runs and are done when one starts; each
result lands in done/ (clip, sidecar, result file, the request); a request that cannot work goes to failed/
with the reason beside it; a watcher killed mid-job loses nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.osc_helpers import Serve, free_udp_port, serve_env, shared_server

EXE = [sys.executable, "-m", "audioldm_daw.bridge.cli"]
FAST = {"steps": 2, "duration": 0.5}


def write(path: Path, content: str | dict) -> Path:
    """A request file, written whole (the watcher takes it once it has looked the same twice, ``--settle`` apart)."""
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def wait_for(pred, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def test_request_files_are_read_with_the_osc_names(tmp_path: Path) -> None:
    from audioldm_daw.bridge.clients.inbox import BadRequest, read_request

    p = tmp_path / "a.json"
    assert read_request(tmp_path / "x.txt", "  warm\n pad \n") == ("generate", {"prompt": "warm pad"}, None)
    mode, values, name = read_request(
        p, json.dumps({"mode": "inpaint", "input_path": "take.wav", "start_s": 1, "end_s": "2", "sr": 44100})
    )
    assert (mode, name) == ("inpaint", None)
    assert values == {"input_path": str(tmp_path / "take.wav"), "start": 1, "end": 2.0, "sample_rate": 44100}
    assert read_request(p, '{"prompt": "x", "normalize": "off", "loop": 1, "name": "n"}')[1:] == (
        {"prompt": "x", "normalize_db": None, "loop": True},
        "n",
    )
    for text, message in [
        ("{", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"prompt": "x", "steps": 0}', "steps: expected an integer in 1..1000"),
        ('{"prompt": "x", "stepz": 3}', "stepz: not a request key"),
        ('{"prompt": "x", "strength": 0.5}', "strength: applies to transfer, not to generate"),
        ('{"mode": "remix"}', "mode: expected one of generate"),
        ('{"prompt": "x", "name": "../up"}', "name: expected a file-name stem"),
    ]:
        with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace("[", r"\[")):
            read_request(p, text)
    with pytest.raises(BadRequest, match="empty"):
        read_request(tmp_path / "x.txt", " \n")


def _watch(folder: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*EXE, "inbox", str(folder), "--port", str(port), "--poll", "0.2", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(),
    )


def test_requests_wait_for_the_engine_then_land_in_done_or_failed(tiny_model_dir: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    port = free_udp_port()
    watcher = _watch(inbox, port)
    server = None
    try:
        write(inbox / "pad.json", {"prompt": "warm pad", "seed": 11, **FAST})
        write(inbox / "my.take.json", {"prompt": "two takes", "seed": 20, "count": 2, "bpm": 120, "bars": 0.25})
        write(inbox / "bad.json", {"prompt": "x", "steps": 0})
        time.sleep(2.0)  # no engine: nothing is claimed, moved or lost
        assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["bad.json", "my.take.json", "pad.json"]

        clips = Path(tempfile.mkdtemp(prefix="audioldm-clips-", dir=tmp_path))
        server = Serve(tiny_model_dir, clips, reply_port=9, extra=["--port", str(port), "--no-audition"])
        done = inbox / "done"
        wait_for(lambda: (done / "pad.result.json").is_file() and (done / "my.take.result.json").is_file(), 180)
        wait_for(lambda: (inbox / "failed" / "bad.json.error.txt").is_file(), 30)

        res = json.loads((done / "pad.result.json").read_text())
        assert res["path"] == str(done / "pad.wav") and res["seed"] == 11 and res["seconds"] == 0.5
        assert res["sidecar"] == str(done / "pad.json") and res["request"] == "pad.json"
        assert json.loads((done / "pad.json").read_text())["request"]["seed"] == 11
        assert (done / "pad.request.json").is_file() and not (inbox / "pad.json").exists()
        two = json.loads((done / "my.take.result.json").read_text())
        assert [t["seed"] for t in two["takes"]] == [20, 21]
        assert (done / "my.take.wav").is_file() and (done / "my.take-2.wav").is_file()
        assert "steps: expected an integer in 1..1000" in (inbox / "failed" / "bad.json.error.txt").read_text()
        assert (inbox / "failed" / "bad.json").is_file()

        # a request the engine refuses (its input is missing): its words in the error file
        write(inbox / "gone.json", {"mode": "variation", "input_path": "nothing.wav", **FAST})
        wait_for(lambda: (inbox / "failed" / "gone.json.error.txt").is_file(), 60)
        assert "does not exist" in (inbox / "failed" / "gone.json.error.txt").read_text()
    finally:
        watcher.send_signal(signal.SIGTERM)
        out = watcher.communicate(timeout=30)[0]
        if server is not None:
            server.stop()
    assert "waiting: no audioldm-daw engine answers" in out and "pad.json: done" in out, out


def test_a_request_claimed_by_a_killed_watcher_is_done_at_the_next_start(
    tiny_model_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = shared_server(tiny_model_dir, request)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / ".crashed.json.working", {"prompt": "rain on a tin roof", **FAST})  # claimed by a watcher that died
    write(inbox / "later.json", {"prompt": "a kick drum", **FAST})
    r = subprocess.run(
        [*EXE, "inbox", str(inbox), "--port", str(server.address[1]), "--once"],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (inbox / "done" / "crashed.result.json").is_file() and (inbox / "done" / "later.result.json").is_file()
    assert not list(inbox.glob(".*")), list(inbox.glob(".*"))


def test_stopping_the_watcher_mid_job_puts_the_request_back(
    tiny_model_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = shared_server(tiny_model_dir, request)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "long.json", {"prompt": "a long one", "steps": 1000, "duration": 10})
    watcher = _watch(inbox, server.address[1])
    try:
        wait_for(lambda: (inbox / ".long.json.working").exists(), 30, "the request is claimed")
        time.sleep(0.5)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out = watcher.communicate(timeout=30)[0]
    assert (inbox / "long.json").is_file() and not (inbox / ".long.json.working").exists(), out
    assert not (inbox / "done" / "long.result.json").exists()
