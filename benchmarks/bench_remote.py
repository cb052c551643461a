"""The laptop relay's own overhead on loopback: how soon a finished clip lands in the laptop's clips folder after
the engine finished it, and how long a long take's upload takes. Results: docs/benchmarks.md.

    python benchmarks/bench_remote.py [--runs 5]

An engine (the tiny random model: its render time is not what is measured) serves its HTTP API on 127.0.0.1;
a :class:`~audioldm_daw.bridge.clients.relay.Relay` renders a 10 s 48 kHz clip there into a local folder. The
latency is from the moment the engine's queue answers the job done (engine side) to the moment both the clip and
its sidecar are renamed into place on the laptop's side, both taken in this one process with one clock. The
upload is a 3-minute stereo 48 kHz 24-bit WAV sent with an inpaint request, timed until the engine answers queued.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audioldm_daw.bridge.clients.relay import Relay
from audioldm_daw.bridge.clients.remote import RemoteEngine
from audioldm_daw.bridge.server.http_api import HttpDoor, HttpServer, bind_tcp
from audioldm_daw.bridge.server.osc_server import OscServer
from audioldm_daw.engine import Engine
from audioldm_daw.engine.architecture import build_random_folder
from audioldm_daw.engine.request import build_request


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    engine = Engine.load(build_random_folder(root / "tiny", "tiny", seed=0), device="cpu")
    osc = OscServer(engine, host="127.0.0.1", port=0, clips_dir=root / "engine-clips", state_dir=root / "state")
    door = HttpDoor(engine, osc.jobs, root / "state" / "uploads")
    done_at: dict[str, float] = {}
    send = osc.jobs.send  # every door's replies pass here (the HTTP door's included)

    def timed(client: object, address: str, reply: list) -> None:
        if address == "/audioldm/done":
            done_at[str(reply[0])] = time.perf_counter()
        send(client, address, reply)  # type: ignore[arg-type]

    osc.jobs.send = timed
    osc.start()
    http = HttpServer(door, bind_tcp("127.0.0.1", 0))
    http.start()
    relay = Relay([http.url])
    relay.connect()
    landed: dict[str, float] = {}
    fetch = RemoteEngine.download_to

    def timed_fetch(self: RemoteEngine, job_id: str, wav: str | Path, sidecar: str | Path) -> tuple[Path, Path]:
        out = fetch(self, job_id, wav, sidecar)
        landed[job_id] = time.perf_counter()
        return out

    RemoteEngine.download_to = timed_fetch  # type: ignore[method-assign]
    request = build_request(
        "generate", {"prompt": "rain", "duration": 10.0, "steps": 1, "sample_rate": 48000, "full_band": False}
    )
    latencies = []
    try:
        for run in range(args.runs + 1):  # the first run warms the engine up
            out = root / "laptop" / f"clip-{run}.wav"
            out.parent.mkdir(exist_ok=True)
            refs: list[dict] = []
            relay.relay(request.resolved(), out, note=refs.append)
            remote = refs[-1]["remote"]
            if run:
                latencies.append((landed[remote] - done_at[remote]) * 1000)
        take = root / "take.wav"
        sf.write(
            take,
            np.random.default_rng(0).uniform(-0.5, 0.5, (180 * 48000, 2)).astype(np.float32),
            48000,
            subtype="PCM_24",
        )
        client = relay.engines[http.url]
        uploads = []
        for _ in range(3):
            start = time.perf_counter()
            job = client.submit("inpaint", {"start_s": 1.0, "end_s": 2.0, "steps": 1}, input_path=take)
            uploads.append(time.perf_counter() - start)
            client.cancel(job)
    finally:
        RemoteEngine.download_to = fetch  # type: ignore[method-assign]
        relay.close()
        http.close()
        osc.close()
    size_mb = take.stat().st_size / 1e6
    print(
        f"clip (10 s, 48 kHz, float32) engine done -> renamed on the laptop, {args.runs} runs: "
        f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(
        f"upload of a 3-minute stereo 48 kHz 24-bit take ({size_mb:.0f} MB) until queued, 3 runs: "
        f"median {statistics.median(uploads):.2f} s, max {max(uploads):.2f} s"
    )
    ok = max(latencies) < 100 and max(uploads) < 1.0
    print("targets (100 ms, 1 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
