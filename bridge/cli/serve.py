"""``audioldm-daw serve``: load the model once and answer the OSC protocol (docs/OSC.md) until stopped.

Listening beyond loopback exposes the engine to the network, so it takes an explicit ``--host``, at
least one ``--allow`` network (packets from anywhere else are dropped and counted) and a key
(``--token-file``: created with a random key when missing) that other computers' clients prove with
``/audioldm/notify PORT KEY`` before anything else is answered. An ``--allow`` wider than the private
ranges (``0.0.0.0/0``, a public network) also takes ``--allow-public``, and a warning. SIGINT and SIGTERM
shut down cleanly: the running job is cancelled within one denoising step and no partial clip is left.

Everything a person can get wrong on the command line is refused before the (slow) model load, in words:
a busy port (the socket is bound then, and held, so a second server started during the load cannot take
it), a ``--clips`` that is a file, a clips folder another server already serves. After a crash, the
start repairs the clips folder (half-written files removed, interrupted clips completed) and reads the
job journal (jobs it interrupted answer "lost"), and says what it did.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from audioldm_daw.bridge.cli.options import add_model_options, compile_choice, load_engine
from audioldm_daw.bridge.server.journal import StateLock
from audioldm_daw.engine.errors import InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.cli.progress import Stopwatch
    from audioldm_daw.bridge.server.announce import Announcement
    from audioldm_daw.bridge.server.http_api import HttpServer
    from audioldm_daw.bridge.server.osc_server import OscServer
    from audioldm_daw.engine.engine import Engine

ACCESS_LOG = "audioldm_daw.access"  # the request/job lines; server/osc_server.py and server/jobs.py write them
HELP = "serve the OSC protocol for Max, Pd and DAW scripts (UDP; see docs/OSC.md)"
DEFAULT_HOST = "127.0.0.1"

log = logging.getLogger(__name__)


def configure(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument(
        "--inbox",
        default=None,
        metavar="DIR",
        help="also render request files dropped into DIR (as `audioldm-daw inbox DIR` does)",
    )
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
    p.add_argument(
        "--allow-public",
        action="store_true",
        help="accept an --allow network wider than the private ranges (e.g. 0.0.0.0/0); anyone there who has "
        "the key can then use the engine",
    )
    p.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="the engine's key: clients on other computers send it with /audioldm/notify PORT KEY; created with a "
        "random key (readable by you only) when missing. Needed with a --host beyond loopback",
    )
    p.add_argument(
        "--input-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="read the input files requests name (input_path) from DIR (repeatable); "
        "default: your home folder and the system temp folder. The clips folder is always read; paths "
        "elsewhere, and /etc, /proc, /sys and /dev always, are refused without touching them",
    )
    p.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="also serve the HTTP API (docs/HTTP.md) for remote clients, e.g. 0.0.0.0:8750; anything but "
        "loopback needs --token-file (every request then carries the key)",
    )
    p.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="URL",
        help="render on the remote engine at URL (its `serve --http`), loading no model here: this OSC server "
        "uploads the takes requests name and downloads each clip into the local clips folder. Repeatable: each "
        "job goes to the least busy engine and is sent again to another if its engine stops. --token-file (or "
        "$AUDIOLDM_DAW_TOKEN_FILE) is then a copy of the engines' key file",
    )
    p.add_argument(
        "--engine-ca",
        default=None,
        metavar="PEM",
        help="with --engine over https: the engine's self-signed certificate (or its CA) to trust",
    )
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="serve --http over TLS with this certificate")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="the private key of --tls-cert")
    p.add_argument(
        "--announce",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="announce the HTTP API on the local network with zeroconf, for `audioldm-daw engines` (default: on "
        "when --http listens beyond loopback)",
    )
    p.add_argument("--output-device", default=None, help="audition device: index or (part of a) name")
    p.add_argument("--no-audition", action="store_true", help="do not open audio devices (/audioldm/play fails)")
    p.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generate two short clips before saying ready, so the first request does not pay for kernel "
        "selection, compilation or graph capture (default: on with a CUDA GPU)",
    )
    p.add_argument(
        "--compile-wait",
        action="store_true",
        help="--compile, and say ready only once the warm-up lengths are compiled (longer on a first start, "
        "shorter on a restart that finds them in the cache); without it serve is ready at once and each "
        "length switches to the compiled code when that is built",
    )


def check_network(
    host: str | None,
    port: int,
    reply_port: int,
    allow: list[str],
    *,
    token_file: str | None = None,
    allow_public: bool = False,
) -> tuple[str, list]:
    """Refuse, before the (slow) model load: a non-loopback bind without an allow-list or without a key, an
    allow-list wider than the private ranges without ``--allow-public`` (with it: a warning), bad ports."""
    from audioldm_daw.bridge.server.osc_server import is_loopback, is_private, parse_networks

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
    public = [str(n) for n in networks if not is_private(n)]
    if public and not allow_public:
        raise InvalidRequest(
            f"--allow {', '.join(public)} reaches beyond the private network ranges (10/8, 172.16/12, 192.168/16, "
            "169.254/16, fc00::/7, fe80::/10): give your clients' own network instead, or add --allow-public to "
            "accept requests from anywhere there"
        )
    if public:
        print(
            f"warning: --allow {', '.join(public)} accepts packets from beyond the private ranges (--allow-public); "
            "anyone there who has the key can use this engine",
            file=sys.stderr,
            flush=True,
        )
    if not is_loopback(host) and not token_file:
        raise InvalidRequest(
            f"--host {host} listens beyond this computer, so the engine needs a key: add --token-file FILE (a new "
            "random key is written there if the file is missing) and give the key to your clients "
            "(/audioldm/notify PORT KEY; audioldm-daw send reads $AUDIOLDM_DAW_TOKEN_FILE)"
        )
    # A quick bind test so a busy port is reported before minutes of model loading.
    bind(host, port).close()
    return host, networks


def load_key(path: str | Path) -> str:
    """The key in ``path``; a missing file is created with a new random key, readable by its owner only, and
    its path printed. A key that starts with a letter: Max and Pd would read a key of digits as a number."""
    file = Path(path).expanduser()
    if not file.exists():
        key = "k" + secrets.token_urlsafe(32)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
        except OSError as exc:
            raise InvalidRequest(
                f"--token-file {file}: the key file cannot be created ({(exc.strerror or str(exc)).lower()}); "
                "give a path in a folder you can write to"
            ) from None
        print(f"key: a new random key was written to {file.resolve()} (give it to your clients)", flush=True)
        return key
    try:
        key = file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else "it is not text"
        raise InvalidRequest(
            f"--token-file {file}: the key file cannot be read ({why}); give a text file that holds the key, "
            "or a path where none exists to have one made"
        ) from None
    if not key or any(c.isspace() for c in key):
        raise InvalidRequest(
            f"--token-file {file}: expected one key (a word without spaces) in the file; delete the file to "
            "have a new random key made"
        )
    if file.stat().st_mode & 0o077:
        print(f"warning: the key file {file} is readable by other users; chmod 600 it", file=sys.stderr, flush=True)
    return key


def bind(host: str, port: int) -> socket.socket:
    """The server's UDP socket, bound now and kept: a busy port is a sentence, not a traceback."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:
        raise InvalidRequest(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidRequest(
                f"--port {port}: another program (perhaps another audioldm-daw serve) already listens on "
                f"{host}:{port}; stop it, or choose another --port"
            ) from None
        raise InvalidRequest(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def check_clips(clips: Path) -> Path:
    """The clips folder, created if missing; refuse a file in its place or a folder that cannot be made."""
    clips = clips.expanduser()
    if clips.exists() and not clips.is_dir():
        raise InvalidRequest(f"--clips {clips} is a file, not a folder; give a folder (it is created if missing)")
    try:
        clips.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequest(
            f"--clips {clips}: the folder cannot be created ({(exc.strerror or str(exc)).lower()}); "
            "give a folder you can write to"
        ) from None
    return clips.resolve()


def lock_state(clips: Path) -> tuple[Path, StateLock]:
    """One server per clips folder: a second one is refused, naming the first one's pid."""
    from audioldm_daw.bridge.server.journal import state_dir

    folder = state_dir(clips)
    lock = StateLock(folder)
    try:
        holder = lock.acquire()
    except OSError as exc:
        raise InvalidRequest(
            f"cannot use the state folder {folder} ({(exc.strerror or str(exc)).lower()}); set $AUDIOLDM_DAW_STATE "
            "to a folder you can write to"
        ) from None
    if holder is not None:
        who = f" (pid {holder})" if holder > 0 else ""
        raise InvalidRequest(
            f"another audioldm-daw serve{who} already serves the clips folder {clips}; stop it first, or give "
            "this one another --clips"
        )
    return folder, lock


def run(args: argparse.Namespace) -> int:
    if args.engine:  # a relay to remote engines: no model here (bridge/cli/serve_remote.py)
        from audioldm_daw.bridge.cli.serve_remote import run_relay

        return run_relay(args)
    from audioldm_daw.engine.output import default_clips_dir  # imports torch

    if args.compile_wait:
        if args.compile is False:
            raise InvalidRequest(
                "--compile-wait waits for --compile's compilation: drop --no-compile or --compile-wait"
            )
        args.compile = True
    args.compile, compile_said = compile_choice(args, server=True)
    host, networks = check_network(
        args.host, args.port, args.reply_port, args.allow, token_file=args.token_file, allow_public=args.allow_public
    )
    args.key = load_key(args.token_file) if args.token_file else None
    clips = check_clips(Path(args.clips) if args.clips else default_clips_dir())
    from audioldm_daw.bridge.server.input_files import input_folders

    try:
        input_folders(args.input_dir, clips)  # a system folder is refused before the model load
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    http = check_http(args)
    state, lock = lock_state(clips)
    sock = bind(host, args.port)
    http_sock = None
    if http is not None:
        from audioldm_daw.bridge.server.http_api import bind_tcp

        try:
            http_sock = bind_tcp(*http)
        except ValueError as exc:
            sock.close()
            lock.release()
            raise InvalidRequest(str(exc)) from None
    if compile_said:
        print(compile_said, flush=True)
    try:
        return _serve(args, host, networks, clips, state, sock, http_sock)
    finally:
        lock.release()


def check_http(args: argparse.Namespace) -> tuple[str, int] | None:
    """``--http``'s (host, port), refused before the model load when it cannot serve safely: beyond loopback
    without a key, a TLS pair half given or unreadable, TLS options without --http."""
    if not args.http:
        if args.tls_cert or args.tls_key:
            raise InvalidRequest("--tls-cert and --tls-key secure the HTTP API: add --http HOST:PORT")
        return None
    from audioldm_daw.bridge.server.http_api import check_tls, parse_address
    from audioldm_daw.bridge.server.osc_server import is_loopback

    try:
        host, port = parse_address(args.http)
        check_tls(args.tls_cert, args.tls_key)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if not is_loopback(host) and not args.token_file:
        raise InvalidRequest(
            f"--http {args.http} listens beyond this computer, so the engine needs a key: add --token-file FILE (a "
            "new random key is written there if the file is missing) and give the key to your clients (they send "
            "it as 'Authorization: Bearer KEY')"
        )
    if not is_loopback(host) and not args.tls_cert:
        print(
            f"warning: --http {args.http} without --tls-cert: the key and the audio cross the network unencrypted; "
            "add --tls-cert/--tls-key, or put a TLS reverse proxy in front (docs/usage.md, Remote engine)",
            file=sys.stderr,
            flush=True,
        )
    return host, port


def _serve(
    args: argparse.Namespace,
    host: str,
    networks: list,
    clips: Path,
    state: Path,
    sock: socket.socket,
    http_sock: socket.socket | None = None,
) -> int:
    """Repair the clips folder, load the model, serve until a signal; the checks above have all passed."""
    from audioldm_daw.bridge.server.osc_server import OscServer
    from audioldm_daw.engine.output import mark_recovered, recover_clips

    repaired = recover_clips(clips, at_start=True)
    mark_recovered(clips)
    if repaired:
        print(f"crash leftovers: {repaired.summary()}", flush=True)
        for p in repaired.completed:
            print(f"  completed {p.name}", flush=True)
        for p in repaired.removed:
            print(f"  removed {p.name}", flush=True)
    from audioldm_daw.bridge.cli.progress import Stopwatch, announce_loading

    clock = Stopwatch()
    announce_loading(args.model, args.device)
    engine = load_engine(args, compile_in_background=True)
    clock.done("model loaded", engine.model.load_summary())  # with the lines below, where a slow start's time went
    for compiler in engine.compilers:
        compiler.on_event = lambda line: print(f"compile: {line}", flush=True)
    if args.warmup or (args.warmup is None and engine.model.device.type == "cuda"):
        took = engine.warm_up(start_compiling=False)  # compiling starts once serve listens (below)
        print(f"warmed up in {took:.1f} s ({engine.loop} loop)", flush=True)
    if engine.compilers and args.compile_wait:
        watch_compilation(engine, clock, wait=True)
    audition = None
    if not args.no_audition:
        from audioldm_daw.bridge.server.audition import Audition

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
        state_dir=state,
        sock=sock,
        key=args.key,
        # The inbox's own folder holds the takes its requests name beside them: read there too.
        input_dirs=[*args.input_dir, *([args.inbox] if args.inbox else [])] if args.input_dir else None,
    )
    http = _http_door(args, engine, server, state, http_sock) if http_sock is not None else None
    for job in server.jobs.lost:
        print(f"lost job {job.id!r} ({job.address}): {job.message()}", flush=True)
    if server.restored_clients:
        print(f"reply ports of {server.restored_clients} client(s) restored from {state}", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    m = engine.model
    bound_host, bound_port = server.address
    dtype = str(m.dtype).replace("torch.", "")
    print(f"model {m.model_id} on {m.device} ({dtype}, decoder {engine.decoder.name}, vocoder {m.vocoder_name})")
    print(f"clips folder {server.clips_dir}")
    print(f"input files are read from {', '.join(str(p) for p in server.input_dirs)} (--input-dir names them)")
    allowed = ", ".join(str(n) for n in networks) or "loopback only"
    print(f"replies go to the sender's /audioldm/notify port, else {args.reply_port}; accepting {allowed}")
    if args.key:
        where = "from other computers: required" if server.beyond_loopback else "optional on this computer"
        print(f"key from {Path(args.token_file).expanduser().resolve()} ({where}: /audioldm/notify PORT KEY)")
    print(f"receive buffer {server.receive_buffer // 1024} KiB", flush=True)
    _log_requests()
    server.start()
    print(f"listening on udp://{bound_host}:{bound_port} (Ctrl-C to stop)", flush=True)
    announcement = _start_http(args, http, engine) if http is not None else None
    clock.done("ready")
    if engine.compilers and not args.compile_wait:
        watch_compilation(engine, clock, wait=False)
    if args.inbox:
        from audioldm_daw.bridge.clients.inbox import Inbox, start_watcher

        local = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
        inbox = Inbox(
            Path(args.inbox), local, bound_port, say=lambda line: print(f"inbox: {line}", flush=True), key=args.key
        )
        start_watcher(inbox, stop.is_set)  # says "inbox: STOPPED ..." should the watcher's thread ever end
        print(f"inbox {Path(args.inbox).resolve()}: request files dropped there are rendered", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if announcement is not None:
            announcement.close()
        if http is not None:
            http.close()
        server.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    st = server.stats
    print(
        f"stopped: {st.packets} packets, {st.replies} replies ({st.failed} /fail), {st.malformed} malformed, "
        f"{st.echoes} echoed replies ignored, {st.dropped} dropped from outside the allow-list, {st.keyless} "
        "refused for want of the key",
        flush=True,
    )
    return 0


def _http_door(
    args: argparse.Namespace, engine: Engine, server: OscServer, state: Path, sock: socket.socket
) -> HttpServer:
    """The HTTP API over the OSC server's job queue (one queue, one journal), its uploads in the state folder."""
    from audioldm_daw.bridge.server.http_api import HttpDoor, HttpServer

    door = HttpDoor(engine, server.jobs, state / "uploads", key=args.key)
    return HttpServer(door, sock, tls_cert=args.tls_cert, tls_key=args.tls_key)


def _start_http(args: argparse.Namespace, http: HttpServer, engine: Engine) -> Announcement | None:
    """Serve the HTTP API and, where asked (by default beyond loopback), announce it on the local network."""
    from audioldm_daw.bridge.server.osc_server import is_loopback

    try:
        http.start()
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    host, port = http.address
    print(f"listening on {http.url} (HTTP API, docs/HTTP.md)", flush=True)
    if args.key:
        print(f"HTTP key from {Path(args.token_file).expanduser().resolve()} (required: Authorization: Bearer KEY)")
    wanted = args.announce if args.announce is not None else not is_loopback(host)
    if not wanted:
        return None
    from audioldm_daw.bridge.server.announce import announce

    try:
        found = announce(http.door.name, host, port, model=str(engine.model.model_id), gpu=http.door.gpu, tls=http.tls)
    except ValueError as exc:
        print(f"warning: {exc}", file=sys.stderr, flush=True)
        return None
    print(f"announced as {found.name} (zeroconf; `audioldm-daw engines` lists it)", flush=True)
    return found


def watch_compilation(engine: Engine, clock: Stopwatch, wait: bool) -> None:
    """``--compile``: wait for the shapes queued so far (``--compile-wait``), or say they compile in the
    background and, from a thread of its own, when they are all done, with the time since start."""
    queued = sum(c.pending for c in engine.compilers)
    if not queued:  # no warm-up (the default off CUDA): nothing met yet
        print("compile: each new clip length compiles in the background after its first clip", flush=True)
        return
    if wait:
        engine.wait_compiled()
        print(f"compiled {queued} shape(s) before serving, {clock.seconds:.1f} s after start", flush=True)
        return
    print(
        f"compile: {queued} shape(s) compiling in the background; clips of those lengths run uncompiled until "
        "each is done",
        flush=True,
    )

    def report() -> None:
        engine.wait_compiled()
        print(f"compile: the warm-up shapes are compiled, {clock.seconds:.1f} s after start", flush=True)

    threading.Thread(target=report, daemon=True, name="compile-watch").start()


def _log_requests() -> None:
    """One line on stdout per request and per finished job (who asked for what, how it ended), so the
    person running the engine sees who is using it."""
    access = logging.getLogger(ACCESS_LOG)
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    access.addHandler(handler)
    access.propagate = False
