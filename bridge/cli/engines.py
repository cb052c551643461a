"""``audioldm-daw engines``: the engines that announce themselves on the local network (``serve --http`` beyond
loopback announces with zeroconf), with what each serves and how busy it is.

The announcement says who an engine is (name, address, model, GPU); the queue comes from each engine's info
endpoint, which takes the engine's key where it has one (``--token-file``, or $AUDIOLDM_DAW_TOKEN_FILE): without
it the queue shows as unknown, with the engine's reason.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from audioldm_daw.engine.errors import InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.clients.discovery import Engine

HELP = "list the engines announced on the local network (zeroconf): name, address, model, GPU, queue"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to listen for announcements (default 3)")
    p.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="the engines' key, to ask each one how busy it is (default: $AUDIOLDM_DAW_TOKEN_FILE)",
    )
    p.add_argument(
        "--interface",
        action="append",
        default=None,
        metavar="ADDRESS",
        help="listen on this interface address only (repeatable; default: every interface)",
    )
    p.add_argument(
        "--tls-ca",
        default=None,
        metavar="PEM",
        help="trust engines whose TLS certificate this file signs (or is): a self-signed engine's certificate",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per engine instead of a table")


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.bridge.clients.client import TOKEN_FILE_ENV, EngineUnavailable, read_key
    from audioldm_daw.bridge.clients.discovery import ask_queues, browse
    from audioldm_daw.bridge.clients.remote import RemoteEngine

    if not 0 < args.timeout <= 60:
        raise InvalidRequest(f"--timeout: expected seconds in 0..60, got {args.timeout:g}")
    token_file = args.token_file or os.environ.get(TOKEN_FILE_ENV)
    try:
        token = (
            read_key(token_file, "--token-file" if args.token_file else f"${TOKEN_FILE_ENV}") if token_file else None
        )
    except EngineUnavailable as exc:
        raise InvalidRequest(str(exc)) from None
    try:
        found = browse(args.timeout, args.interface)
    except OSError as exc:
        raise InvalidRequest(
            f"cannot listen for engines on the local network ({(exc.strerror or str(exc)).lower()}); check the "
            "network connection, or give --interface ADDRESS"
        ) from None

    def ask(engine: Engine) -> dict:
        # The key goes only to an engine whose certificate checks out (or over plain HTTP, as its owner chose).
        with RemoteEngine(engine.url, token, verify=args.tls_ca or True, timeout=args.timeout) as remote:
            return remote.info()

    ask_queues(found, ask)
    if args.json:
        for e in found:
            print(json.dumps({"name": e.name, "url": e.url, "model": e.model, "gpu": e.gpu, "version": e.version,
                              "queue": e.queue, "note": e.note}))  # fmt: skip
        return 0
    if not found:
        print(f"no engine announced itself within {args.timeout:g} s (serve --http beyond loopback announces)")
        return 0
    rows = [("NAME", "ADDRESS", "MODEL", "GPU", "QUEUE")]
    for e in found:
        queue = str(e.queue) if e.queue is not None else f"? ({e.note})"
        rows.append((e.name, e.url, e.model, e.gpu or "cpu", queue))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    return 0
