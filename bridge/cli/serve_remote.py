"""``audioldm-daw serve --engine URL``: the usual OSC server on this computer, rendering on remote engines.

Why the same server: Max, Live, Pd, REAPER and Bitwig keep their doors (OSC on this computer, replies with
paths on this disk, the same checks and the same words); only the job queue's engine is a
:class:`~audioldm_daw.bridge.clients.relay.Relay`, which uploads the takes requests name, relays progress and
downloads each clip into the local clips folder. No model is loaded here. The same start-up checks as a
local ``serve`` (port, clips folder, one server per clips folder, --input-dir) run first; then each engine
is asked who it is, and a wrong key is refused before anything is served.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from audioldm_daw.engine.errors import InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.server.ports import AuditionPort

CLIENT_ID_FILE = "relay-client-id"  # in the state folder: the relay's id with its engines, kept across restarts


def engine_key(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(key, the file it came from): ``--token-file``, else ``$AUDIOLDM_DAW_TOKEN_FILE``, else none (an
    engine on loopback without a key). A file that cannot be read is refused: its key must come from the
    engine, so none is made up here."""
    from audioldm_daw.bridge.clients.client import TOKEN_FILE_ENV, EngineUnavailable, read_key

    path = args.token_file or os.environ.get(TOKEN_FILE_ENV)
    if not path:
        return None, None
    file = Path(path).expanduser()
    try:
        key = read_key(path, "--token-file" if args.token_file else f"${TOKEN_FILE_ENV}")
    except EngineUnavailable as exc:
        raise InvalidRequest(f"{exc} (its path is printed when its `serve --http` starts)") from None
    if not key or any(c.isspace() for c in key):
        raise InvalidRequest(f"--token-file {file}: expected the engine's key (one word) in the file")
    return key, str(file)


def run_relay(args: argparse.Namespace) -> int:
    """Check, connect, serve until a signal (see the module docstring)."""
    from audioldm_daw.bridge.cli.serve import bind, check_clips, check_network, lock_state
    from audioldm_daw.bridge.clients.relay import Relay
    from audioldm_daw.bridge.clients.remote import load_client_id
    from audioldm_daw.bridge.server.input_files import input_folders
    from audioldm_daw.engine.output import default_clips_dir

    if args.http:
        raise InvalidRequest(
            "--http serves this computer's engine to others; with --engine this computer has none: drop one of them"
        )
    key, key_file = engine_key(args)
    host, networks = check_network(
        args.host, args.port, args.reply_port, args.allow, token_file=key_file, allow_public=args.allow_public
    )
    clips = check_clips(Path(args.clips) if args.clips else default_clips_dir())
    try:
        input_folders(args.input_dir, clips)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    state, lock = lock_state(clips)
    try:
        client_id = load_client_id(state / CLIENT_ID_FILE)
        relay = Relay(args.engine, key, client_id, verify=args.engine_ca or True)
        answered = relay.connect()
        for url, info in answered.items():
            if isinstance(info, dict):
                print(
                    f"engine {url}: model {info.get('model')} on {info.get('gpu') or info.get('device')}, "
                    f"{info.get('queue', 0)} job(s) waiting",
                    flush=True,
                )
            else:
                print(
                    f"warning: engine {url}: {info} (its jobs go to the others until it answers)",
                    file=sys.stderr,
                    flush=True,
                )
        sock = bind(host, args.port)
        try:
            return _serve(args, relay, host, networks, clips, state, sock, key)
        finally:
            relay.close()
    finally:
        lock.release()


def _serve(
    args: argparse.Namespace,
    relay: object,
    host: str,
    networks: list,
    clips: Path,
    state: Path,
    sock: object,
    key: str | None,
) -> int:
    from audioldm_daw.bridge.cli.serve import _log_requests
    from audioldm_daw.bridge.server.osc_server import OscServer

    server = OscServer(
        relay,  # type: ignore[arg-type]  # satisfies EnginePort where the queue uses it (model, check, relay)
        host=host,
        port=args.port,
        reply_port=args.reply_port,
        clips_dir=clips,
        allow=networks,
        audition=_audition(args),
        state_dir=state,
        sock=sock,  # type: ignore[arg-type]
        key=key,
        jobs_options={"workers": relay.workers},  # type: ignore[attr-defined]
        input_dirs=[*args.input_dir, *([args.inbox] if args.inbox else [])] if args.input_dir else None,
    )
    for job in server.jobs.lost:
        print(f"lost job {job.id!r} ({job.address}): {job.message()}", flush=True)
    if server.jobs.resumed:
        print(f"{len(server.jobs.resumed)} job(s) an earlier run sent to an engine are followed again", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    bound_host, bound_port = server.address
    print(f"rendering on {', '.join(relay.engines)} (no model loaded here)", flush=True)  # type: ignore[attr-defined]
    print(f"clips folder {server.clips_dir}")
    print(f"input files are read from {', '.join(str(p) for p in server.input_dirs)} (--input-dir names them)")
    _log_requests()
    server.start()
    print(f"listening on udp://{bound_host}:{bound_port} (Ctrl-C to stop)", flush=True)
    if args.inbox:
        from audioldm_daw.bridge.clients.inbox import Inbox, start_watcher

        local = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
        inbox = Inbox(
            Path(args.inbox), local, bound_port, say=lambda line: print(f"inbox: {line}", flush=True), key=key
        )
        start_watcher(inbox, stop.is_set)
        print(f"inbox {Path(args.inbox).resolve()}: request files dropped there are rendered", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    st = server.stats
    print(f"stopped: {st.packets} packets, {st.replies} replies ({st.failed} /fail)", flush=True)
    return 0


def _audition(args: argparse.Namespace) -> AuditionPort | None:
    """Audition plays on this computer, as with a local engine."""
    if args.no_audition:
        return None
    from audioldm_daw.bridge.server.audition import Audition

    device = args.output_device
    return Audition(int(device) if device is not None and device.isdigit() else device)
