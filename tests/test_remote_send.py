"""``send --engine URL`` and ``inbox --engine URL`` against real engines on 127.0.0.1: each engine's OSC server
and HTTP door (uvicorn) in this process over the tiny random model of tests/conftest.py, the commands driven
through their ``main`` as a shell would. What they must show: local paths printed (the clips folder or
``--out``), whole files with their sidecars and no half-written leftovers, the same ``--json`` keys as a local
``send``, a wrong key and an unreachable engine said in words with send's exit code, and the least busy of two
engines chosen.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import soundfile as sf

from audioldm_daw.bridge.cli import main
from audioldm_daw.bridge.clients.client import Result
from audioldm_daw.bridge.clients.remote import RemoteEngine
from audioldm_daw.bridge.server.http_api import HttpDoor, HttpServer, bind_tcp
from audioldm_daw.bridge.server.osc_server import OscServer
from tests.osc_helpers import leftovers, write_take

KEY = "k-remote-send-test-key"
FAST = ["--duration", "0.5", "--sr", "16000", "--steps", "2"]
SEND_KEYS = set(Result("j", "/x.wav", 1.0, 16000, 1).to_json()) | {"mode", "prompt"}  # what a local send prints


class Engine:
    """An engine's OSC server and HTTP door on loopback (the GPU machine of these tests)."""

    def __init__(self, engine: object, root: Path) -> None:
        self.clips = root / "clips"
        self.osc = OscServer(engine, host="127.0.0.1", port=0, clips_dir=self.clips, state_dir=root / "state")  # type: ignore[arg-type]
        door = HttpDoor(engine, self.osc.jobs, root / "state" / "uploads", key=KEY)  # type: ignore[arg-type]
        self.osc.start()
        self.http = HttpServer(door, bind_tcp("127.0.0.1", 0))
        self.http.start()
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()
        self.osc.close()


@pytest.fixture(scope="module")
def engines(tiny_engine, tiny_model_dir, tmp_path_factory):
    from audioldm_daw.engine import Engine as Loaded

    a = Engine(tiny_engine, tmp_path_factory.mktemp("engine-a"))
    b = Engine(Loaded.load(tiny_model_dir, device="cpu"), tmp_path_factory.mktemp("engine-b"))
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def keyfile(tmp_path) -> Path:
    path = tmp_path / "engine.key"
    path.write_text(KEY + "\n")
    return path


@pytest.fixture
def clips(tmp_path, monkeypatch) -> Path:
    """The laptop's clips folder (the one ``serve`` would use here)."""
    folder = tmp_path / "laptop-clips"
    monkeypatch.setenv("AUDIOLDM_DAW_CLIPS", str(folder))
    monkeypatch.delenv("AUDIOLDM_DAW_TOKEN_FILE", raising=False)
    return folder


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """The laptop's take (osc_helpers.write_take), written once per module."""
    return write_take(tmp_path_factory.mktemp("takes"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def whole(wav: Path, frames: int | None = None) -> dict:
    """The clip reads back whole (its frame count when given) and its sidecar is JSON; the sidecar."""
    info = sf.info(str(wav))
    assert info.samplerate == 16000 and (frames is None or info.frames == frames)
    return json.loads(wav.with_suffix(".json").read_text())


def test_send_generate_and_an_uploaded_take_print_local_paths(engines, clips, keyfile, take, tmp_path, capsys):
    url = engines[0].url
    argv = ["send", "generate", "soft rain", *FAST, "--seed", "3", "--name", "rain", "--json"]
    assert main([*argv, "--engine", url, "--token-file", str(keyfile)]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert set(out) == SEND_KEYS and out["warnings"] == []
    assert Path(out["path"]) == (clips / "rain.wav").resolve() and Path(out["sidecar"]).is_file()
    assert (out["seconds"], out["sample_rate"], out["seed"], out["mode"]) == (0.5, 16000, 3, "generate")
    assert whole(Path(out["path"]), 8000)["request"]["seed"] == 3

    dest = tmp_path / "out" / "varied.wav"
    argv = ["send", "variation", str(take), *FAST, "--seed", "4", "--out", str(dest)]
    assert main([*argv, "--engine", url, "--token-file", str(keyfile)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(dest.resolve())  # the --out path itself, on this computer
    assert whole(dest, 8000)["request"]["seed"] == 4
    assert "step 2/2" in captured.err  # progress as a local send shows it (stderr is no terminal here)
    assert leftovers(clips) == [] and leftovers(dest.parent) == []
    assert not list((engines[0].clips / "remote").glob("*.wav"))  # fetched, then freed on the engine


def test_inbox_renders_on_the_engine_into_done(engines, clips, keyfile, capsys):
    inbox = clips.parent / "inbox"
    inbox.mkdir()
    (inbox / "pad.json").write_text(json.dumps({"prompt": "warm pad", "duration": 0.5, "sr": 16000, "steps": 2}))
    argv = ["inbox", str(inbox), "--once", "--settle", "0", "--engine", engines[1].url]
    assert main([*argv, "--token-file", str(keyfile)]) == 0, capsys.readouterr()
    result = json.loads((inbox / "done" / "pad.result.json").read_text())
    assert Path(result["path"]) == inbox.resolve() / "done" / "pad.wav"
    assert Path(result["engine_path"]).parent == clips.resolve()  # downloaded here, not a path on the engine
    whole(Path(result["path"]), 8000)
    assert leftovers(inbox) == [] and leftovers(clips) == []


def test_a_wrong_key_is_said_in_words(engines, clips, tmp_path, capsys):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("k-not-the-key\n")
    argv = ["send", "generate", "x", *FAST, "--engine", engines[0].url, "--token-file", str(wrong)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "audioldm-daw send: error:" in err and "not the engine's key" in err and "Traceback" not in err
    inbox = ["inbox", str(tmp_path / "in"), "--once", "--engine", engines[0].url, "--token-file", str(wrong)]
    assert main(inbox) == 2
    assert "not the engine's key" in capsys.readouterr().err
    assert not clips.exists() or list(clips.iterdir()) == []


def test_an_unreachable_engine_is_said_in_words(clips, keyfile, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["send", "generate", "x", *FAST, "--json", "--engine", url, "--token-file", str(keyfile)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"].startswith(f"no engine answered at {url}")
    assert "audioldm-daw send: error: no engine answered at" in captured.err and "Traceback" not in captured.err


def test_the_least_busy_of_two_engines_takes_the_clip(engines, clips, keyfile, capsys):
    """The first engine is busy with a long job: the clip goes to the second, and is done while the long job
    still runs (had it queued behind the long job on the first, the long job would have ended first)."""
    busy, idle = engines
    with RemoteEngine(busy.url, KEY) as remote:
        long = remote.submit("generate", {"prompt": "an organ", "duration": 0.5, "sr": 16000, "steps": 1000})
        try:
            events = remote.events(long, timeout=60)
            assert next(e for e in events if e.name == "progress").data["step"] >= 1
            argv = ["send", "generate", "a bell", *FAST, "--engine", busy.url, "--engine", idle.url]
            assert main([*argv, "--token-file", str(keyfile)]) == 0
            assert remote.job(long)["state"] == "running"
        finally:
            remote.cancel(long)
    captured = capsys.readouterr()
    assert f"sent to {idle.url}" in captured.err
    whole(Path(captured.out.strip()), 8000)
