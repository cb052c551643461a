"""``audioldm-daw farm``: the engine's HTTP API over every GPU of a Ray cluster (bridge/server/ray_farm.py).

A studio with more than one GPU machine joins them into one Ray cluster (``ray start --head`` on one,
``ray start --address HEAD:6379`` on the others) and runs this on the head: one engine per GPU, one address, the
same API, key and client as ``serve --http`` (docs/HTTP.md), so a laptop's ``serve --engine URL`` or ``send
--engine URL`` uses a farm as it uses one engine. Without ``--address`` a Ray cluster of this one machine is
started (with ``--cpu``: CPU replicas, to try it without a GPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from audioldm_daw.engine.errors import InvalidRequest

HELP = "serve the HTTP API over every GPU of a Ray cluster: one engine per GPU, one address (needs Ray Serve)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http", default="127.0.0.1:8750", metavar="HOST:PORT", help="where the API listens")
    p.add_argument(
        "--address",
        default=None,
        help="a running Ray cluster to join (e.g. auto, or HEAD:6379; default: start one on this machine)",
    )
    p.add_argument("--replicas", type=int, default=None, help="engines to run (default: one per GPU the cluster has)")
    p.add_argument("--cpu", action="store_true", help="run the engines on CPUs instead of GPUs")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per engine (with --cpu)")
    p.add_argument("--model", default=None, help="a model folder or hub id every machine can load (default: bundled)")
    p.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="the API's key (created when missing); required when --http listens beyond this computer",
    )
    p.add_argument("--clips", default=None, help="where finished clips are kept for download (default: clips folder)")


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.bridge.cli.serve import load_key
    from audioldm_daw.bridge.server.http_api import parse_address
    from audioldm_daw.bridge.server.journal import state_dir
    from audioldm_daw.bridge.server.osc_server import is_loopback
    from audioldm_daw.bridge.server.ray_farm import APP_NAME, build_farm, require_ray
    from audioldm_daw.engine.output import default_clips_dir

    host, port = parse_address(args.http)
    if not is_loopback(host) and not args.token_file:
        raise InvalidRequest(
            f"--http {args.http} listens beyond this computer, so the farm needs a key: add --token-file FILE "
            "(a new random key is written there when the file is missing)"
        )
    if args.replicas is not None and args.replicas < 1:
        raise InvalidRequest(f"--replicas: expected at least 1, got {args.replicas}")
    require_ray()
    import ray
    from ray import serve

    key = load_key(args.token_file) if args.token_file else None
    clips = Path(args.clips).expanduser() if args.clips else default_clips_dir()
    ray.init(address=args.address, include_dashboard=False, configure_logging=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    replicas = args.replicas or (gpus if gpus and not args.cpu else 1)
    if not args.cpu and gpus < replicas:
        raise InvalidRequest(
            f"the Ray cluster has {gpus} GPU(s), {replicas} engine(s) asked: add machines with `ray start "
            "--address HEAD:6379`, give fewer --replicas, or run on CPUs with --cpu"
        )
    serve.start(http_options={"host": host, "port": port})
    app = build_farm(
        replicas=replicas,
        state_dir=state_dir(clips) / "farm",
        clips_dir=clips,
        model=args.model,
        device="cpu" if args.cpu else "cuda",
        key=key,
        gpus_per_replica=0 if args.cpu else 1,
        threads=args.threads,
    )
    serve.run(app, name=APP_NAME, route_prefix="/")
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{port} (HTTP API, docs/HTTP.md): {replicas} engine(s)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
