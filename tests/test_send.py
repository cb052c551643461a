"""``audioldm-daw send``: the light client, against no engine and against a real ``serve`` on the tiny model.

What a DAW script relies on: it fails at once (and says how to start an engine) when none runs, it takes
exactly the arguments of the full commands and refuses bad ones with the same words before sending, and
with a running engine it prints the clip's path, or one JSON object per clip with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.osc_helpers import free_udp_port, shared_server

EXE = [sys.executable, "-m", "audioldm_daw.bridge.cli"]
HEAVY = {"torch", "numpy", "scipy", "diffusers", "transformers", "onnxruntime"}
NO_ENGINE_LIMIT_S = 1.0  # generous for a shared CI machine (the time is printed with -s / -rP)


def send(args: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([*EXE, "send", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path, request: pytest.FixtureRequest) -> tuple[str, int, Path]:
    server = shared_server(tiny_model_dir, request)
    return server.address[0], server.address[1], server.clips


def test_no_engine_is_a_fast_clear_error_without_heavy_imports(tmp_path: Path) -> None:
    port = free_udp_port()
    cmd = [sys.executable, "-X", "importtime", *EXE[1:], "send", "generate", "warm pad", "--port", str(port)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    wall = time.perf_counter() - t0
    print(f"send with no engine: {wall:.3f} s to the error (with -X importtime)")
    assert proc.returncode == 2
    assert f"no audioldm-daw engine answers at udp://127.0.0.1:{port}" in proc.stderr
    assert "audioldm-daw serve" in proc.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not (imported & HEAVY), sorted(imported & HEAVY)
    assert wall < NO_ENGINE_LIMIT_S
    j = send(["generate", "x", "--port", str(port), "--json"])
    assert j.returncode == 2 and "audioldm-daw serve" in json.loads(j.stdout)["error"]


def test_takes_the_arguments_of_the_full_command() -> None:
    from audioldm_daw.bridge.cli import send as cmd_send
    from audioldm_daw.bridge.cli.generate import GENERATE
    from audioldm_daw.bridge.cli.manipulate import COMMANDS
    from audioldm_daw.bridge.cli.options import add_model_options

    for mode, full in {"generate": GENERATE, **COMMANDS}.items():
        p_full, p_send = argparse.ArgumentParser(), argparse.ArgumentParser()
        full.configure(p_full)
        cmd_send.configure(p_send)
        sub = next(a for a in p_send._actions if a.dest == "send_mode").choices[mode]
        mine = {s for a in sub._actions for s in a.option_strings} | {a.dest for a in sub._actions if a.required}
        theirs = {s for a in p_full._actions for s in a.option_strings} | {
            a.dest for a in p_full._actions if a.required
        }
        p_model = argparse.ArgumentParser()
        add_model_options(p_model)
        model_only = {s for a in p_model._actions for s in a.option_strings} - {"-h", "--help"}
        assert {"--model", "--device", "--graphs"} <= model_only
        assert theirs - model_only <= mine, (mode, sorted(theirs - model_only - mine))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bpm", "120"], "--bpm: give both --bpm and --bars"),
        (["--bpm", "120", "--bars", "2", "--duration", "3"], "--duration: give either --duration or --bpm and --bars"),
        (["--strength", "0.5"], "--strength: applies to transfer, not to generate"),
        (["--steps", "0"], "argument --steps: expected an integer in 1..1000, got int 0"),
        (["--name", "a/b"], "--name: expected a file-name stem"),
    ],
)
def test_bad_arguments_are_refused_locally_in_the_full_commands_words(extra: list[str], message: str) -> None:
    port = free_udp_port()  # nobody listens: a refusal must come before any network
    r = send(["generate", "x", "--port", str(port), *extra])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "no audioldm-daw engine" not in r.stderr


@pytest.mark.parametrize("mode", ["generate", "variation", "transfer", "inpaint", "upsample", "continue"])
def test_osc_arguments_parse_back_to_the_same_request(mode: str) -> None:
    """What the client puts on the wire is what the engine's parser reads: the same values, every mode."""
    from audioldm_daw.bridge import protocol
    from audioldm_daw.bridge.clients.client import request_args

    values: dict = {"steps": 3, "seed": 2**40, "guidance": 3.3, "normalize_db": None, "sample_rate": 44100}
    values |= {
        "generate": {"prompt": "funk drum loop", "bpm": 96.5, "bars": 2, "loop": True},
        "variation": {"input_path": "/x/in put.wav", "duration": 1.7},
        "transfer": {"input_path": "/x/a.wav", "prompt": "steps", "strength": 0.35},
        "inpaint": {"input_path": "/x/a.wav", "start": 0.25, "end": 0.75},
        "upsample": {"input_path": "/x/a.wav", "cutoff_hz": 4000.0},
        "continue": {"input_path": "/x/a.wav", "seconds": 2.5, "prompt": "the groove goes on"},
    }[mode]
    args = request_args(mode, values, "job1", name="stem")
    req = protocol.parse_request(protocol.MODE_ADDRESSES[mode][0], args)
    assert req.job_id == "job1" and req.options["name"] == "stem"
    got = req.request_values()
    assert got == {k: (int(v) if isinstance(v, bool) else v) for k, v in values.items()}


def test_round_trip_prints_the_path_or_json(engine: tuple[str, int, Path], tmp_path: Path) -> None:
    host, port, clips = engine
    common = ["--host", host, "--port", str(port), "--steps", "2"]
    t0 = time.perf_counter()
    r = send(["generate", "warm pad / with a slash", "--duration", "0.5", "--seed", "5", *common])
    wall = time.perf_counter() - t0
    print(f"send generate round trip (2 steps, 0.5 s, tiny model): {wall:.2f} s")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.is_file() and path.parent == clips and path.stem.startswith("warm pad - with a slash")
    assert "seed 5" in r.stderr and "done in" in r.stderr

    r = send(
        ["generate", "warm pad", "--bpm", "120", "--bars", "0.5", "--count", "2", "--seed", "7", "--json", *common]
    )
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["seed"] for o in objs] == [7, 8]
    for o in objs:
        assert {"path", "sidecar", "seconds", "sample_rate", "seed", "warnings", "mode", "prompt"} <= set(o)
        assert o["seconds"] == pytest.approx(1.0) and o["sample_rate"] == 48000 and o["mode"] == "generate"
        side = json.loads(Path(o["sidecar"]).read_text())
        assert side["request"]["seed"] == o["seed"] and side["request"]["bpm"] == 120
        assert sf.info(o["path"]).frames == 48000


def test_input_modes_take_relative_paths_and_report_engine_errors(
    engine: tuple[str, int, Path], tmp_path: Path
) -> None:
    host, port, _clips = engine
    common = ["--host", host, "--port", str(port), "--steps", "2", "--json"]
    sr = 16000
    t = np.arange(sr) / sr
    sf.write(tmp_path / "take.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    out = tmp_path / "copies" / "inpainted.wav"
    r = send(["inpaint", "take.wav", "0.25", "0.5", "a cymbal", "--out", str(out), *common], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["path"] == str(out) and out.is_file() and out.with_suffix(".json").is_file()
    assert json.loads(out.with_suffix(".json").read_text())["request"]["source"]["input_path"] == str(
        tmp_path / "take.wav"
    )
    r = send(["inpaint", "take.wav", "5", "6", *common], cwd=tmp_path)  # past the input's end: the engine says so
    assert r.returncode == 2
    assert "start_s: 5 is past the input's end" in json.loads(r.stdout)["error"]
    assert "audioldm-daw send: error: start_s: 5 is past" in r.stderr


def test_a_prompt_too_long_for_one_message_is_a_sentence_not_errno_text(engine: tuple[str, int, Path]) -> None:
    """A 70 kB prompt once gave "[Errno 90] Message too long"; the largest that fits is still sent and rendered."""
    from audioldm_daw.bridge.clients.client import (
        MAX_DATAGRAM,
        EngineClient,
        RequestTooLarge,
        Result,
        Take,
        encode,
        request_args,
    )

    host, port, _clips = engine
    common = ["--host", host, "--port", str(port), "--steps", "2", "--duration", "0.5"]
    r = send(["generate", "warm pad " * 7800, *common])
    assert r.returncode == 2, r.stderr
    assert f"more than one OSC message to the engine can carry ({MAX_DATAGRAM} bytes" in r.stderr, r.stderr
    assert "shorten the prompt" in r.stderr and "Errno" not in r.stderr and "Message too long" not in r.stderr
    j = send(["generate", "warm pad " * 7800, "--json", *common])
    assert j.returncode == 2 and "shorten the prompt" in json.loads(j.stdout)["error"]

    def take(n: int) -> Take:
        args = request_args("generate", {"prompt": "a" * n, "steps": 2, "duration": 0.5, "seed": 1}, "edge-job", "e")
        return Take("generate", "edge-job", args, "a" * n)

    def size(n: int) -> int:
        return len(encode(take(n).address, take(n).args))

    longest = max(n for n in range(MAX_DATAGRAM - 200, MAX_DATAGRAM) if size(n) <= MAX_DATAGRAM)
    assert MAX_DATAGRAM - 4 < size(longest) <= MAX_DATAGRAM  # the limit is the datagram's, to the padding
    with EngineClient(host, port) as client:  # the largest message that fits is sent, and the engine takes it
        client.connect()
        with pytest.raises(RequestTooLarge):
            client.submit(take(longest + 4))
        client.submit(take(longest))
        res = client.wait(["edge-job"], timeout=120)["edge-job"]
    assert isinstance(res, Result) and res.warning, res  # rendered; the engine says it read only the start


def test_the_client_checks_the_size_before_the_socket_does(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import socket

    from audioldm_daw.bridge.clients.client import MAX_DATAGRAM, EngineClient, RequestTooLarge

    with EngineClient("127.0.0.1", free_udp_port()) as client:
        with pytest.raises(
            RequestTooLarge, match=f"more than one OSC message to the engine can carry \\({MAX_DATAGRAM}"
        ):
            client.send("/audioldm/generate", "job", "x" * MAX_DATAGRAM)

        def small_limit(self: socket.socket, data: bytes) -> int:  # a system whose own datagram limit is lower
            raise OSError(errno.EMSGSIZE, "Message too long")

        monkeypatch.setattr(socket.socket, "send", small_limit)
        with pytest.raises(RequestTooLarge, match="more than this system lets one UDP datagram carry") as caught:
            client.send("/audioldm/generate", "job", "x" * 20000)
        assert "Errno" not in str(caught.value) and "shorten the prompt" in str(caught.value)
