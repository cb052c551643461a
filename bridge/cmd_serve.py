"""``audioldm-daw serve``: load the model once and answer the OSC protocol (docs/OSC.md) until stopped.

Listening beyond loopback exposes the engine to the network, so it takes an explicit ``--host`` and at
least one ``--allow`` network; packets from anywhere else are dropped and counted. SIGINT and SIGTERM
shut down cleanly: the running job is cancelled within one denoising step and no partial clip is left.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path

from audioldm_daw.bridge.options import add_model_options, load_engine
from audioldm_daw.engine.errors import InvalidRequest

HELP = "serve the OSC protocol for Max, Pd and DAW scripts (UDP; see docs/OSC.md)"
DEFAULT_HOST = "127.0.0.1"

log = logging.getLogger(__name__)


def configure(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument(
        "--host",
        default=None,
        help=f"address to listen on (default {DEFAULT_HOST}); anything but loopback also needs --allow",
    )
    p.add_argument("--port", type=int, default=9000, help="UDP port for requests (default 9000; 0 picks a free one)")
    p.add_argument(
        "--reply-port",
        type=int,
        default=9001,
        help="port replies go to on the sender's host until it sends /audioldm/notify (default 9001)",
    )
    p.add_argument("--clips", default=None, help="clips folder (default: $AUDIOLDM_DAW_CLIPS, else a per-user folder)")
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="also accept packets from this network, e.g. 192.168.1.0/24 (repeatable; loopback always allowed)",
    )
    p.add_argument("--output-device", default=None, help="audition device: index or (part of a) name")
    p.add_argument("--no-audition", action="store_true", help="do not open audio devices (/audioldm/play fails)")


def check_network(host: str | None, port: int, reply_port: int, allow: list[str]) -> tuple[str, list]:
    """Refuse a non-loopback bind without an allow-list, and bad ports, before the (slow) model load."""
    from audioldm_daw.bridge.osc_server import is_loopback, parse_networks

    try:
        networks = parse_networks(allow)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if not 0 <= port <= 65535:
        raise InvalidRequest(f"--port: expected 0..65535, got {port}")
    if not 1 <= reply_port <= 65535:
        raise InvalidRequest(f"--reply-port: expected 1..65535, got {reply_port}")
    host = host or DEFAULT_HOST
    if not is_loopback(host) and not networks:
        raise InvalidRequest(
            f"--host {host} listens beyond this computer: add --allow with the network of your clients "
            "(e.g. --allow 192.168.1.0/24); packets from elsewhere are then dropped"
        )
    # A quick bind test so a busy port is reported before minutes of model loading.
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((host, port))
    except OSError as exc:
        raise InvalidRequest(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return host, networks


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.bridge.osc_server import OscServer
    from audioldm_daw.engine.output import default_clips_dir  # imports torch

    host, networks = check_network(args.host, args.port, args.reply_port, args.allow)
    clips = Path(args.clips).expanduser() if args.clips else default_clips_dir()
    engine = load_engine(args)
    audition = None
    if not args.no_audition:
        from audioldm_daw.bridge.audition import Audition

        device = args.output_device
        audition = Audition(int(device) if device is not None and device.isdigit() else device)
    server = OscServer(
        engine,
        host=host,
        port=args.port,
        reply_port=args.reply_port,
        clips_dir=clips,
        allow=networks,
        audition=audition,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    m = engine.model
    bound_host, bound_port = server.address
    print(f"model {m.model_id} on {m.device} ({str(m.dtype).replace('torch.', '')}, decoder {engine.decoder.name})")
    print(f"clips folder {server.clips_dir}")
    allowed = ", ".join(str(n) for n in networks) or "loopback only"
    print(f"replies go to the sender's /audioldm/notify port, else {args.reply_port}; accepting {allowed}")
    server.start()
    print(f"listening on udp://{bound_host}:{bound_port} (Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    st = server.stats
    print(
        f"stopped: {st.packets} packets, {st.replies} replies ({st.failed} /fail), {st.malformed} malformed, "
        f"{st.echoes} echoed replies ignored, {st.dropped} dropped from outside the allow-list",
        flush=True,
    )
    return 0
