"""The remote engine's HTTP API end to end: a real uvicorn server on 127.0.0.1 over the OSC server's job queue and
the tiny random model, driven by the real client (RemoteEngine, httpx): every mode (the input modes with an
uploaded take), server-sent progress, cancel, download with the sidecar, ownership, the key, upload bounds,
paths refused, TLS with a certificate made here, and the zeroconf announcement on the loopback interface.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from audioldm_daw import __version__
from audioldm_daw.bridge import remote_api as api
from audioldm_daw.bridge.clients.client import EngineUnavailable
from audioldm_daw.bridge.clients.remote import RemoteEngine, RemoteError, load_client_id
from audioldm_daw.bridge.server.http_api import HttpDoor, HttpServer, bind_tcp
from audioldm_daw.bridge.server.osc_server import OscServer
from audioldm_daw.engine.errors import InvalidRequest

KEY = "k-test-key-for-the-http-door"
SHORT = {"steps": 2, "seed": 3}
MAX_UPLOAD = 1 << 20
MAX_SECONDS = 30.0


class Served:
    """An OSC server and its HTTP door on loopback, sharing one queue."""

    def __init__(self, engine: object, root: Path) -> None:
        self.clips = root / "clips"
        self.osc = OscServer(engine, host="127.0.0.1", port=0, clips_dir=self.clips, state_dir=root / "state")  # type: ignore[arg-type]
        self.uploads = root / "state" / "uploads"
        self.door = HttpDoor(
            engine,  # type: ignore[arg-type]
            self.osc.jobs,
            self.uploads,
            key=KEY,
            max_upload_bytes=MAX_UPLOAD,
            max_upload_seconds=MAX_SECONDS,
        )
        self.osc.start()
        self.http = HttpServer(self.door, bind_tcp("127.0.0.1", 0))
        self.http.start()
        self.url = self.http.url

    def client(self, token: str | None = KEY, client_id: str | None = None) -> RemoteEngine:
        return RemoteEngine(self.url, token, client_id)

    def close(self) -> None:
        self.http.close()
        self.osc.close()


@pytest.fixture(scope="module")
def served(tiny_engine, tmp_path_factory):
    s = Served(tiny_engine, tmp_path_factory.mktemp("http"))
    yield s
    s.close()


@pytest.fixture
def engine(served):
    with served.client() as remote:
        yield remote


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    """A 2 s stereo take at 16 kHz (audible noise with a tone), as a laptop would upload it."""
    path = tmp_path_factory.mktemp("takes") / "my take.wav"
    t = np.arange(32000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    sf.write(path, np.stack([tone, tone], axis=1).astype(np.float32), 16000, subtype="PCM_16")
    return path


def events_of(remote: RemoteEngine, job: str) -> list:
    return list(remote.events(job, timeout=60))


# -- the engine and its jobs -----------------------------------------------------------------------------
def test_info_says_what_discovery_and_scheduling_need(engine):
    info = engine.info()
    assert info["model"] == "tiny" and info["device"] == "cpu" and info["gpu"] == ""
    assert info["api"] == 1 and info["queue"] == 0 and info["running"] is False
    assert info["modes"] == ["generate", "variation", "transfer", "inpaint", "upsample", "continue"]
    assert info["max_upload_bytes"] == MAX_UPLOAD


def test_generate_streams_progress_and_downloads_clip_and_sidecar(engine, tmp_path):
    job = engine.submit("generate", {"prompt": "soft rain", "duration": 0.5, "sr": 16000, **SHORT})
    assert job.startswith("http-")
    events = events_of(engine, job)
    names = [e.name for e in events]
    assert names[0] == "queued" and names[-1] == "done" and set(names[1:-1]) == {"progress"}
    steps = [e.data["step"] for e in events[1:-1]]
    assert steps[-1] == 2 and steps == sorted(steps) and events[1].data["total"] == 2
    done = events[-1].data
    assert (done["seed"], done["sample_rate"], done["seconds"]) == (3, 16000, 0.5)
    assert [e.id for e in events] == [str(i) for i in range(len(events))]
    # a stream resumed after an event id replays only what followed it
    assert [e.name for e in engine.events(job, after=events[-2].id)] == ["done"]
    state = engine.job(job)
    assert state["state"] == "done" and "path" not in json.dumps(state).replace('"clip"', "")
    wav, side = engine.download(job, tmp_path / "clips", name="rain")
    assert (wav.name, side.name) == ("rain.wav", "rain.json")
    info = sf.info(str(wav))
    assert (info.samplerate, info.frames) == (16000, 8000)
    assert json.loads(side.read_text())["request"]["seed"] == 3
    again, _ = engine.download(job, tmp_path / "clips", name="rain")
    assert again.name == "rain-2.wav"  # never over a clip already there
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == [
        "rain-2.json",
        "rain-2.wav",
        "rain.json",
        "rain.wav",
    ]
    assert job in [j["id"] for j in engine.jobs(state="done")]
    engine.forget(job)
    with pytest.raises(RemoteError) as gone:
        engine.job(job)
    assert gone.value.status == 404


@pytest.mark.parametrize(
    ("mode", "params"),
    [
        ("variation", {"duration": 1.0}),
        ("transfer", {"prompt": "a cello", "strength": 0.6}),
        ("inpaint", {"start_s": 0.5, "end_s": 1.0, "prompt": "a bell"}),
        ("upsample", {"prompt": "bright"}),
        ("continue", {"seconds": 0.5, "prompt": "more"}),
    ],
)
def test_every_input_mode_takes_an_uploaded_take(served, engine, take, tmp_path, mode, params):
    job = engine.submit(mode, {**params, **SHORT}, input_path=take)
    final = engine.wait(job, timeout=120)
    assert final.name == "done", final
    wav, side = engine.download(job, tmp_path)
    assert sf.info(str(wav)).frames > 0 and json.loads(side.read_text())["request"]["source"]["mode"] == mode
    assert list(served.uploads.iterdir()) == []  # the take went when its job ended


def test_takes_share_one_upload_and_generate_refuses_one(served, engine, take):
    ids = engine.submit_takes("transfer", {"prompt": "x", "count": 2, **SHORT}, input_path=take)
    assert len(ids) == 2
    assert {engine.wait(i, timeout=120).name for i in ids} == {"done"}
    assert list(served.uploads.iterdir()) == []
    with pytest.raises(RemoteError) as refused:
        engine.submit("generate", {"prompt": "x", **SHORT}, input_path=take)
    assert refused.value.status == 422 and "takes no input audio" in str(refused.value)
    with pytest.raises(RemoteError) as missing:
        served.client()._call("POST", f"{api.PREFIX}/jobs", json={"mode": "variation", "params": {}})
    assert missing.value.status == 422 and "multipart/form-data" in str(missing.value)


def test_cancel_a_running_job_leaves_no_clip(served, engine):
    job = engine.submit("generate", {"prompt": "an endless chord", "duration": 0.5, "steps": 400})
    stream = engine.events(job, timeout=60)
    seen = [next(stream)]
    while seen[-1].name != "progress":
        seen.append(next(stream))
    assert engine.cancel(job)["id"] == job
    rest = list(stream)
    assert rest[-1].name == "cancelled"
    assert engine.job(job)["state"] == "cancelled"
    with pytest.raises(RemoteError) as no_clip:
        engine.download(job, served.clips.parent / "nothing")
    assert no_clip.value.status == 409 and "cancelled" in str(no_clip.value)
    assert not any(job in p.name for p in served.clips.rglob("*"))
    with pytest.raises(RemoteError) as again:
        engine.cancel(job)
    assert again.value.status == 409 and "already finished" in str(again.value)


# -- who may do what ---------------------------------------------------------------------------------------
def test_another_client_id_sees_none_of_the_jobs(served, engine, tmp_path):
    job = engine.submit("generate", {"prompt": "mine", "duration": 0.5, **SHORT})
    engine.wait(job, timeout=60)
    with served.client() as other:
        assert other.client_id != engine.client_id
        assert other.jobs() == []
        for call in (
            lambda: other.job(job),
            lambda: other.cancel(job),
            lambda: other.download(job, tmp_path),
            lambda: list(other.events(job)),
            lambda: other.forget(job),
        ):
            with pytest.raises(RemoteError) as refused:
                call()
            assert refused.value.status == 404 and "of yours" in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-downloaded either
    assert engine.job(job)["state"] == "done"  # still there for its owner


def test_the_key_is_checked_and_a_client_id_is_required(served):
    for token, words in ((None, "needs its key"), ("k-wrong", "not the engine's key")):
        with served.client(token) as remote, pytest.raises(RemoteError) as refused:
            remote.info()
        assert refused.value.status == 401 and words in str(refused.value)
    raw = httpx.get(f"{served.url}/v1/jobs", headers={"Authorization": f"Bearer {KEY}"})
    assert raw.status_code == 400 and api.CLIENT_HEADER in raw.json()["error"]
    unknown = httpx.get(f"{served.url}/v2/info", headers={"Authorization": f"Bearer {KEY}"})
    assert unknown.status_code == 404 and "/v1/" in unknown.json()["error"]


def test_client_id_is_kept_in_a_private_file(tmp_path):
    path = tmp_path / "id"
    first = load_client_id(path)
    assert load_client_id(path) == first and path.stat().st_mode & 0o777 == 0o600
    path.write_text("no good\n")
    with pytest.raises(InvalidRequest, match="delete the file"):
        load_client_id(path)


def test_missing_key_beyond_loopback_is_refused_at_start(tiny_model_dir, tmp_path, capsys):
    from audioldm_daw.bridge.cli import main

    argv = ["serve", "--model", str(tiny_model_dir), "--port", "0", "--clips", str(tmp_path / "c")]
    assert main([*argv, "--http", "0.0.0.0:0"]) == 2
    assert "needs a key: add --token-file" in capsys.readouterr().err
    assert main([*argv, "--http", "127.0.0.1:0", "--tls-cert", str(tmp_path / "none.pem")]) == 2
    assert "go together" in capsys.readouterr().err
    assert main([*argv, "--http", "nonsense"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


# -- uploads -----------------------------------------------------------------------------------------------
def test_uploads_too_large_or_too_long_are_refused_before_decoding(served, engine, tmp_path, monkeypatch):
    big = tmp_path / "big.wav"
    sf.write(big, np.zeros(MAX_UPLOAD // 2 + 1000, np.float32), 48000, subtype="FLOAT")  # > MAX_UPLOAD bytes
    with pytest.raises(RemoteError) as too_big:
        engine.submit("variation", SHORT, input_path=big)
    assert too_big.value.status == 413 and "more than this engine takes" in str(too_big.value)
    long = tmp_path / "long.wav"
    sf.write(long, np.full(int(8000 * (MAX_SECONDS + 5)), 0.1, np.float32), 8000, subtype="PCM_16")  # small file
    assert long.stat().st_size < MAX_UPLOAD

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("the door decoded samples of a take it should have refused from its header")

    monkeypatch.setattr(sf, "read", never)
    monkeypatch.setattr(sf.SoundFile, "read", never)
    with pytest.raises(RemoteError) as too_long:
        engine.submit("variation", SHORT, input_path=long)
    assert too_long.value.status == 413 and f"({MAX_SECONDS:g} s)" in str(too_long.value)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    with pytest.raises(RemoteError) as not_audio:
        engine.submit("variation", SHORT, input_path=junk)
    assert not_audio.value.status == 415 and "not audio" in str(not_audio.value)
    assert list(served.uploads.iterdir()) == []  # refused uploads are gone at once


def test_paths_job_ids_names_and_folders_are_refused(served, engine, take, tmp_path):
    raw = served.client()
    for params, words in (
        ({"input_path": "/etc/passwd", **SHORT}, "never opens a path"),
        ({"job_id": "mine", "prompt": "x"}, "engine names the jobs"),
        ({"name": "../../x", "prompt": "x"}, "where you download it"),
        ({"folder": "..", "prompt": "x"}, "where you download it"),
        ({"prompt": "x", "strength": 0.5}, "not a parameter of generate"),
        ({"prompt": "x", "steps": 0}, "steps: expected an integer in 1..1000"),
    ):
        mode = "variation" if "input_path" in params else "generate"
        with pytest.raises(RemoteError) as refused:
            raw._call("POST", f"{api.PREFIX}/jobs", json={"mode": mode, "params": params})
        assert refused.value.status == 422 and words in str(refused.value), refused.value
    # the sender's file name is never a path on the engine: only the engine's own upload folder is written
    body = {"mode": "variation", "params": SHORT}
    files = {"request": (None, json.dumps(body), "application/json"), "input": ("../../escape.wav", take.read_bytes())}
    answer = raw._call("POST", f"{api.PREFIX}/jobs", files=files)
    job = answer.json()["jobs"][0]["id"]
    assert raw.wait(job, timeout=120).name == "done"
    assert not list(served.uploads.parent.parent.rglob("escape.wav"))
    for kind, data in (("text/plain", b"hello"), ("application/json", b"[1, 2]")):
        bad = raw._http.post(f"{api.PREFIX}/jobs", content=data, headers={"Content-Type": kind})
        assert bad.status_code in (400, 415) and bad.json()["error"].endswith(
            ("}", "multipart/form-data; got text/plain")
        )


# -- TLS and discovery -------------------------------------------------------------------------------------
def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (openssl's command line; nothing is downloaded)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_with_a_self_signed_certificate(served, tmp_path):
    cert, key = self_signed(tmp_path)
    tls = HttpServer(served.door, bind_tcp("127.0.0.1", 0), tls_cert=str(cert), tls_key=str(key))
    tls.start()
    try:
        assert tls.url.startswith("https://127.0.0.1:")
        with RemoteEngine(tls.url, KEY, verify=cert) as remote:
            assert remote.info()["model"] == "tiny"
            job = remote.submit("generate", {"prompt": "x", "duration": 0.5, **SHORT})
            assert remote.wait(job, timeout=60).name == "done"
        with RemoteEngine(tls.url, KEY) as untrusting, pytest.raises(EngineUnavailable, match="does not trust"):
            untrusting.info()
        with pytest.raises(httpx.HTTPError):
            httpx.get(tls.url.replace("https", "http") + "/v1/info", timeout=5)
    finally:
        tls.close()


def test_engines_are_announced_and_listed_on_loopback(served, tmp_path, capsys):
    from audioldm_daw.bridge.cli import main
    from audioldm_daw.bridge.clients.discovery import engine_from_info
    from audioldm_daw.bridge.server.announce import announce

    host, port = served.http.address
    shown = announce("studio gpu", host, port, model="tiny", gpu="", tls=False)
    keyfile = tmp_path / "key"
    keyfile.write_text(KEY + "\n")
    try:
        started = time.monotonic()
        assert (
            main(["engines", "--interface", "127.0.0.1", "--timeout", "2", "--token-file", str(keyfile), "--json"]) == 0
        )
        assert time.monotonic() - started < 20
    finally:
        shown.close()
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = [r for r in rows if r["url"] == served.url]
    assert len(mine) == 1, rows
    assert mine[0] == {"name": "studio gpu", "url": served.url, "model": "tiny", "gpu": "", "version": __version__,
                       "queue": 0, "note": ""}  # fmt: skip
    assert engine_from_info(shown.info).url == served.url  # the announcement's own record reads back the same


def test_check_http_refuses_tls_without_http():
    from audioldm_daw.bridge.cli.serve import check_http

    args = argparse.Namespace(http=None, tls_cert="c.pem", tls_key="k.pem", token_file=None)
    with pytest.raises(InvalidRequest, match="add --http"):
        check_http(args)


def test_http_reference_is_generated_from_the_code():
    from audioldm_daw.bridge.server.http_docs import render

    committed = Path(__file__).resolve().parents[1] / "docs" / "HTTP.md"
    assert committed.read_text() == render(), (
        "regenerate: python -m audioldm_daw.bridge.server.http_docs > docs/HTTP.md"
    )
