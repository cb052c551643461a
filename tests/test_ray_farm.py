"""The farm (bridge/server/ray_farm.py): the HTTP API as a Ray Serve application on a local Ray cluster with two
CPU engine replicas, driven by the same Python client a laptop uses (bridge/clients/remote.py).

Proves: two jobs render at once on two replicas (their running spans overlap, which one engine never does);
the clip and sidecar arrive and regenerate exactly on a local engine; an uploaded take reaches a replica as
bytes (a variation of it); a cancelled job ends cancelled with no clip; another client sees none of it; a key
is required when the farm has one. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

ray = pytest.importorskip("ray", reason="the farm needs the cluster extra: pip install 'audioldm-daw[cluster]'")

from audioldm_daw.bridge.clients.remote import RemoteEngine, RemoteError  # noqa: E402
from audioldm_daw.bridge.server.ray_farm import build_farm  # noqa: E402

KEY = "farm-test-key-0123456789"
STEPS = 12  # long enough that two jobs' running spans can overlap


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def farm(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from ray import serve

    root = tmp_path_factory.mktemp("farm")
    port = _free_port()
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _temp_dir=str(Path("/tmp") / f"ray-test-{port}"),
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config={"log_level": "WARNING"})
        app = build_farm(
            replicas=2,
            state_dir=root / "state",
            clips_dir=root / "clips",
            model=str(tiny_model_dir),
            device="cpu",
            key=KEY,
            gpus_per_replica=0,
            cpus_per_replica=1,
            threads=1,
        )
        serve.run(app, name="audioldm", route_prefix="/")
        yield f"http://127.0.0.1:{port}", root
    finally:
        serve.shutdown()
        ray.shutdown()


def _client(url: str, name: str) -> RemoteEngine:
    return RemoteEngine(url, token=KEY, client_id=f"{name}-client-id-0123456789")


def _running_span(engine: RemoteEngine, job: str, timeout: float = 240.0) -> tuple[float, float, str]:
    """When the job's first progress and its final event arrived (monotonic), and how it ended."""
    first = end = 0.0
    final = ""
    for event in engine.events(job, timeout=timeout):
        now = time.monotonic()
        if event.name == "progress" and not first:
            first = now
        if event.final:
            end, final = now, event.name
            break
    return first, end, final


def test_two_replicas_render_at_once_and_clips_arrive(farm: tuple[str, Path], tmp_path: Path, tiny_engine: Any) -> None:
    url, _ = farm
    engine = _client(url, "alice")
    info = engine.info()
    assert info["model"], info
    jobs = [
        engine.submit("generate", {"prompt": "a drum loop", "duration": 1.0, "steps": STEPS, "seed": s}) for s in (1, 2)
    ]
    spans: dict[str, tuple[float, float, str]] = {}
    threads = [threading.Thread(target=lambda j=j: spans.__setitem__(j, _running_span(engine, j))) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert [spans[j][2] for j in jobs] == ["done", "done"], spans
    (a0, a1, _), (b0, b1, _) = spans[jobs[0]], spans[jobs[1]]
    assert a0 < b1 and b0 < a1, f"the two jobs ran one after the other: {spans}"  # overlap: two replicas
    wav, sidecar = engine.download(jobs[0], tmp_path)
    audio, sr = sf.read(wav, dtype="float32")
    assert len(audio) == round(1.0 * sr) and np.isfinite(audio).all() and np.abs(audio).max() > 0
    # The farm's clip is the local engine's clip: the same request on the same weights, bit for bit (on one
    # thread, as the replicas run: a CPU's sums depend on how many threads share them).
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = tiny_engine.render(tiny_engine.request_from_sidecar(sidecar), tmp_path / "local.wav")
    finally:
        torch.set_num_threads(before)
    again, _ = sf.read(local.path, dtype="float32")
    np.testing.assert_array_equal(audio, again)


def test_uploaded_take_reaches_a_replica(farm: tuple[str, Path], tmp_path: Path) -> None:
    url, root = farm
    engine = _client(url, "bob")
    take = tmp_path / "take.wav"
    t = np.arange(int(1.5 * 16000)) / 16000
    sf.write(take, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    job = engine.submit("variation", {"steps": 2, "seed": 3}, input_path=take)
    assert engine.wait(job, timeout=240).name == "done"
    wav, _ = engine.download(job, tmp_path / "got")
    assert sf.info(str(wav)).frames > 0
    assert not any((root / "state" / "uploads").iterdir()), "the take stayed in the ingress's upload folder"


def test_cancel_and_ownership(farm: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = farm
    owner, other = _client(url, "carol"), _client(url, "mallory")
    job = owner.submit("generate", {"prompt": "rain", "duration": 2.0, "steps": 200, "seed": 4})
    for event in owner.events(job, timeout=240):
        if event.name == "progress":
            break
    with pytest.raises(RemoteError) as seen:
        other.cancel(job)
    assert seen.value.status == 404
    owner.cancel(job)
    assert owner.wait(job, timeout=120).name == "cancelled"
    with pytest.raises(RemoteError) as refused:
        owner.download(job, tmp_path)
    assert refused.value.status == 409


def test_a_key_is_required(farm: tuple[str, Path]) -> None:
    url, _ = farm
    stranger = RemoteEngine(url, token="wrong-key-wrong-key-wrong", client_id="stranger-client-id-0123456789")
    with pytest.raises(RemoteError) as refused:
        stranger.submit("generate", {"prompt": "a bell", "duration": 1.0, "steps": 1})
    assert refused.value.status == 401


def test_farm_command_refuses_a_keyless_network_address() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "audioldm_daw.bridge.cli", "farm", "--http", "0.0.0.0:8750", "--cpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done
    assert "needs a key: add --token-file FILE" in done.stderr, done.stderr
