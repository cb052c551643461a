"""The OSC server: UDP packets in, checked requests dispatched, replies out (python-osc for the wire format).

Why not python-osc's Dispatcher: it drops packets it cannot parse without a word, matches address
patterns (``/audioldm/*`` would fire every handler), and sends back whatever a handler returns. The
contract asks for the opposite: every request, malformed or not, gets exactly one answer, and only the
exact addresses of the table in ``protocol.py`` do anything. So this module parses each datagram itself
(python-osc's parser and builder), checks it against the table, and calls one handler per address.
Handlers return None and never raise out of the server: a bug answers ``/audioldm/fail``, never a crash.

The thread that reads packets never waits on a file: a request naming an input file is checked by a
pool of threads (:class:`~audioldm_daw.bridge.server.check_door.CheckDoor`) with a time limit, and answered in
each client's arrival order, so a stalled network or FUSE drive costs that one request a /fail, never the
pings, status, cancels and healthy files of every client. Packets are parsed without recursion, with
bounded bundle depth and element count, and every reply is cut to fit one datagram, so every packet that
carries a request gets its answer. The socket's receive buffer is sized for a full queue of maximum-size
packets (as far as the OS allows), so a burst from one client waits in the kernel instead of being dropped;
each request is then answered, queued or refused.

Who may do what (the threat: other programs on the computer, other computers on an allowed network):

- A job belongs to the client that sent it: only that client reads it (``/audioldm/job``), cancels it or
  sends its id again. "That client" is the same host and either the same socket (source host and port,
  registered or not) or, when the engine listens beyond loopback, any socket of that host that registered
  with the engine's key (a patch whose sockets each sent ``/audioldm/notify PORT KEY``).
- Replies go to the sender's own registered port, else to the documented reply port on the sender's host;
  never to a port another socket registered (an unregistered program's replies cannot be read by another
  program that registered on the same host).
- The key (``serve --token-file``) is needed from other computers: a non-loopback client's requests are
  refused, with one /fail saying how to give the key, until its socket registered with it. On this computer
  it is optional, so patches that send ``/audioldm/notify PORT`` keep working.
- The caps of the job queue count per host (see bridge/server/jobs.py).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pythonosc import osc_message, osc_message_builder
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types

from audioldm_daw import __version__
from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.discovery import BROWSE_S, browse
from audioldm_daw.bridge.protocol import MAX_JOB_ID_CHARS, ProtocolError, Request, osc_name
from audioldm_daw.bridge.server.check_door import CHECK_TIME_LIMIT_S, MAX_PENDING_CHECKS, CheckDoor
from audioldm_daw.bridge.server.input_files import (
    check_clip_path,
    check_input_audio,
    check_path_text,
    client_text_path,
    input_folders,
)
from audioldm_daw.bridge.server.jobs import DONE, MAX_WAITING, Client, JobError, JobQueue
from audioldm_daw.bridge.server.journal import Journal, Registrations
from audioldm_daw.engine.errors import EngineError, InvalidRequest

if TYPE_CHECKING:
    from audioldm_daw.bridge.server.audition import Playback
    from audioldm_daw.bridge.server.ports import AuditionPort, EnginePort

log = logging.getLogger(__name__)
access = logging.getLogger("audioldm_daw.access")  # one line per request; `serve` shows them

SUPPORTED_TAGS = frozenset("ihfdsbrmtTFN[]")  # what python-osc decodes; anything else would be skipped
MAX_BUNDLE_DEPTH = 8
MAX_BUNDLE_ELEMENTS = 64  # messages in one packet: at most this many answers to one datagram
MAX_PACKET = 65535
MAX_CLIENTS = 1024  # notify registrations kept (oldest forgotten first)
DROP_LOG_INTERVAL_S = 10.0
MAX_REPLY_STRING = 8000  # characters of one reply string (a path is at most 4095 bytes)
MAX_FAIL_JOB_ID = MAX_JOB_ID_CHARS + 3  # a longer job id is cut in /fail (it was refused anyway)
# What the receive buffer should hold: every request the queue and the check door can still take, at full size.
RECEIVE_BUFFER = (MAX_WAITING + MAX_PENDING_CHECKS) * MAX_PACKET
MIN_RECEIVE_BUFFER = 1 << 16
KEY_NEEDED = (
    "this engine takes requests from another computer only from a socket registered with its key: send "
    "/audioldm/notify PORT KEY first, KEY being the text in the file the engine's --token-file names "
    "(audioldm-daw send and inbox read that file from $AUDIOLDM_DAW_TOKEN_FILE)"
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8")
) + tuple(ipaddress.ip_network(n) for n in ("fc00::/7", "fe80::/10", "::1/128"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
REPLY_ONLY = frozenset(protocol.REPLIES) - frozenset(protocol.ADDRESSES)


class PacketError(ValueError):
    """A datagram that is not a well-formed OSC 1.0 message or bundle."""


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return False
    return bool(infos) and all(_ip(str(info[4][0])).is_loopback for info in infos)


def _is_loopback_address(host: str) -> bool:
    """Whether a bound address is loopback (``0.0.0.0`` and ``::`` listen on every interface: not)."""
    try:
        return _ip(host).is_loopback
    except ValueError:
        return is_loopback(host)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    """``--allow`` values -> networks; ValueError with the offending text."""
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c.strip(), strict=False))
        except ValueError:
            raise ValueError(f"--allow: expected an address or network such as 192.168.1.0/24, got {c!r}") from None
    return out


def is_private(net: Network) -> bool:
    """True when ``net`` lies inside a private, link-local or loopback range (RFC 1918, 3927, 4193, 4291);
    anything wider (``0.0.0.0/0``, a public range) reaches beyond the local network."""
    return any(net.version == p.version and net.subnet_of(p) for p in PRIVATE_NETWORKS)  # type: ignore[arg-type]


def key_mark(key: str | None) -> str:
    """A mark of the key for the saved registrations (a hash: the state folder never holds the key)."""
    if not key:
        return ""
    return hashlib.sha256(b"audioldm-daw registration\0" + key.encode()).hexdigest()[:32]


def size_receive_buffer(sock: socket.socket, want: int = RECEIVE_BUFFER) -> int:
    """Ask for a receive buffer of ``want`` bytes and return what the OS granted. Linux caps the request
    at ``net.core.rmem_max`` without a word; other systems refuse a size too large, so the request halves
    until one is taken."""
    size = want
    while size >= MIN_RECEIVE_BUFFER:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            break
        except OSError:
            size //= 2
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def _check_tags(message: bytes) -> None:
    """Refuse type tags python-osc would silently skip."""
    _, i = osc_types.get_string(message, 0)
    if i < len(message):
        tags, _ = osc_types.get_string(message, i)
        bad = sorted(set(tags[1:]) - SUPPORTED_TAGS) if tags.startswith(",") else []
        if bad:
            raise PacketError(f"unsupported OSC type tag(s) {''.join(bad)!r} (use i, f, s)")


def _walk(dgram: bytes) -> list[tuple[int, int, bytes]]:
    """A datagram's messages as (time tag, order, bytes), without recursion: an explicit stack of bundles,
    at most MAX_BUNDLE_DEPTH deep and MAX_BUNDLE_ELEMENTS messages in all."""
    out: list[tuple[int, int, bytes]] = []
    stack: list[tuple[bytes, int]] = [(dgram, 0)]  # (element, depth); time tag 1 is "immediately"
    tags: list[int] = [1]
    while stack:
        element, depth = stack.pop()
        tag = tags.pop()
        if element.startswith(b"/"):
            if len(out) >= MAX_BUNDLE_ELEMENTS:
                raise PacketError(f"more than {MAX_BUNDLE_ELEMENTS} messages in one packet; send fewer at a time")
            out.append((tag, len(out), element))
            continue
        if not element.startswith(b"#bundle\x00"):
            raise PacketError("a bundle element that is neither an OSC message (starting with /) nor a bundle")
        if depth >= MAX_BUNDLE_DEPTH:
            raise PacketError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
        if len(element) < 16:
            raise PacketError("a bundle too short for its time tag")
        (bundle_tag,) = struct.unpack(">Q", element[8:16])
        children = []
        i = 16
        while i < len(element):
            if i + 4 > len(element):
                raise PacketError("a bundle element size cut short")
            (size,) = struct.unpack(">i", element[i : i + 4])
            i += 4
            if size <= 0 or size % 4 or i + size > len(element):
                raise PacketError(f"bundle element of {size} bytes does not fit the packet")
            children.append(element[i : i + size])
            i += size
            if len(children) > MAX_BUNDLE_ELEMENTS:
                raise PacketError(f"more than {MAX_BUNDLE_ELEMENTS} elements in one bundle; send fewer at a time")
        for child in reversed(children):  # popped in order
            stack.append((child, depth + 1))
            tags.append(bundle_tag)
    return out


def parse_packet(dgram: bytes) -> list[tuple[str, list[Any]]]:
    """A datagram -> [(address, arguments)], bundles unpacked in time-tag order; PacketError if malformed."""
    try:
        if not (dgram.startswith(b"/") or dgram.startswith(b"#bundle\x00")):
            raise PacketError("does not start with an OSC address or #bundle")
        found = _walk(dgram)
        if not found:
            raise PacketError("a bundle with no messages")
        messages = []
        for _tag, _order, data in sorted(found, key=lambda t: (t[0], t[1])):
            _check_tags(data)
            m = osc_message.OscMessage(data)
            messages.append((m.address, list(m.params)))
        return messages
    except PacketError as exc:
        reason = str(exc)
    except Exception:  # python-osc's own words name its classes; these say what is wrong
        reason = "a message is cut short, or its arguments do not match its type tags"
    raise PacketError(f"malformed OSC packet ({len(dgram)} bytes): {reason}; expected an OSC 1.0 message or bundle")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_message(address: str, args: Iterable[Any]) -> bytes:
    """Encode a reply with explicit type tags (ints that do not fit 32 bits go as OSC int64)."""
    b = osc_message_builder.OscMessageBuilder(address)
    for a in args:
        if isinstance(a, bool):
            b.add_arg(int(a), "i")
        elif isinstance(a, int):
            b.add_arg(a, "i" if -(2**31) <= a < 2**31 else "h")
        elif isinstance(a, float):
            b.add_arg(a, "f")
        else:
            b.add_arg(_clip(str(a), MAX_REPLY_STRING), "s")
    return b.build().dgram


@dataclass
class Stats:
    """Counters a person (or a test) can read to see what the server has been doing."""

    packets: int = 0
    messages: int = 0
    replies: int = 0
    failed: int = 0
    malformed: int = 0
    dropped: int = 0  # from hosts outside the allow-list
    echoes: int = 0  # messages at reply addresses, ignored
    keyless: int = 0  # requests from other computers refused for want of a key
    slowest: float = 0.0  # seconds the slowest packet held the OSC thread (a burst waits behind it)


class _UDPServer(BlockingOSCUDPServer):
    """python-osc's UDP server with our own per-datagram entry point and the allow-list as its gate."""

    max_packet_size = MAX_PACKET

    def __init__(self, address: tuple[str, int], owner: OscServer, sock: socket.socket | None = None) -> None:
        self.owner = owner
        if sock is None:
            super().__init__(address, Dispatcher())
            return
        super().__init__(address, Dispatcher(), bind_and_activate=False)
        self.socket.close()
        self.socket = sock  # bound before the model loaded, so no second server took the port meanwhile
        self.server_address = sock.getsockname()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.owner.allowed(client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.owner.handle_datagram(request[0], client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error while handling a packet from %s", client_address)


class OscServer:
    """The OSC door to one engine: its job queue, its audition, its clips folder."""

    def __init__(
        self,
        engine: EnginePort,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        reply_port: int = 9001,
        clips_dir: Path,
        allow: Iterable[Network] = (),
        audition: AuditionPort | None = None,
        state_dir: Path | None = None,
        check_time_limit: float = CHECK_TIME_LIMIT_S,
        sock: socket.socket | None = None,
        key: str | None = None,
        jobs_options: dict[str, Any] | None = None,
        input_dirs: Iterable[str | Path] | None = None,
    ) -> None:
        """``state_dir`` (the journal and the saved reply ports) makes jobs and registrations survive a
        crash; without it nothing is kept. ``sock``: an already bound UDP socket to serve on. ``key``: the
        text clients prove with ``/audioldm/notify PORT KEY`` (see the module docstring); without one, no
        other computer can register. ``jobs_options``: keyword arguments for the :class:`JobQueue`.
        ``input_dirs``: the folders input files are read from besides the clips folder (``--input-dir``;
        default: the user's home and the system temp folder; see :func:`input_folders`)."""
        self.engine = engine
        self.clips_dir = Path(clips_dir).expanduser().resolve()
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        self.input_dirs = input_folders(input_dirs, self.clips_dir)
        self.reply_port = reply_port
        self.allow = list(allow)
        self.stats = Stats()
        self._lock = threading.Lock()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._key = key.encode() if key else None
        self.registrations = Registrations(
            self.state_dir / "clients.json" if self.state_dir else None, MAX_CLIENTS, key_mark(key)
        )
        self.restored_clients = self.registrations.load()
        self.journal = Journal(self.state_dir / "journal.jsonl") if self.state_dir else None
        lost = self.journal.open() if self.journal else []
        self._drop_logged: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._udp = _UDPServer((host, port), self, sock)
        self.beyond_loopback = not _is_loopback_address(self.address[0])
        self.receive_buffer = size_receive_buffer(self._udp.socket)
        log.info("receive buffer %d bytes (asked for %d)", self.receive_buffer, RECEIVE_BUFFER)
        self.door = CheckDoor(time_limit=check_time_limit)
        self.jobs = JobQueue(engine, self.clips_dir, self.send, journal=self.journal, lost=lost, **(jobs_options or {}))
        self.audition = audition
        self._handlers: dict[str, Callable[[Request, Client], None]] = {
            "/audioldm/ping": self._ping,
            "/audioldm/notify": self._notify,
            "/audioldm/status": self._status,
            "/audioldm/cancel": self._cancel,
            "/audioldm/job": self._job,
            "/audioldm/play": self._play,
            "/audioldm/stop": self._stop,
            "/audioldm/devices": self._devices,
            "/audioldm/output_device": self._output_device,
            "/audioldm/models": self._models,
            "/audioldm/engines": self._engines,
        }
        # the model list reads folders and the hub cache: one worker, one listing at a time (see _models)
        self._models_pool = ThreadPoolExecutor(1, thread_name_prefix="audioldm-models")
        self._models_listing: Future | None = None
        # the engines on the network: a browse listens for seconds, so it runs on its own worker (see _engines)
        self._engines_pool = ThreadPoolExecutor(1, thread_name_prefix="audioldm-engines")
        self._engines_listing: Future | None = None
        self.browse_seconds = BROWSE_S
        self.browse_interfaces: list[str] | None = None  # None: every interface (a test listens on loopback)
        for spec in protocol.ADDRESSES.values():
            if spec.generating:
                self._handlers[spec.address] = self._generate
        missing = set(protocol.ADDRESSES) - set(self._handlers)
        assert not missing, f"addresses without a handler: {missing}"

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound (port 0 asks the OS for a free one)."""
        host, port = self._udp.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve on a background thread (and tell the clients of jobs a crash lost that they are lost)."""
        self.jobs.announce_lost()
        self._serving.set()
        self._thread = threading.Thread(target=self.serve_forever, name="audioldm-osc", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Handle packets until :meth:`close` (one at a time, so requests are handled in arrival order)."""
        self._serving.set()
        try:
            self._udp.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking packets, cancel the jobs (no partial clip is left), stop audition, close the socket."""
        if self._serving.is_set():
            self._udp.shutdown()
        self.door.close()
        self.jobs.close(timeout)
        if self.journal is not None:
            self.journal.close()
        if self.audition is not None:
            self.audition.close()
        self._models_pool.shutdown(wait=False, cancel_futures=True)
        self._engines_pool.shutdown(wait=False, cancel_futures=True)
        self._udp.server_close()

    # -- transport --------------------------------------------------------------------------------
    def allowed(self, client: Client) -> bool:
        """Loopback always; other hosts only inside an ``--allow`` network. Drops are counted and logged."""
        try:
            ip = _ip(client[0])
        except ValueError:
            ok = False
        else:
            ok = ip.is_loopback or any(ip in net for net in self.allow if net.version == ip.version)
        if not ok:
            with self._lock:
                self.stats.dropped += 1
                now = time.monotonic()
                if len(self._drop_logged) > MAX_CLIENTS:
                    self._drop_logged.clear()
                if now - self._drop_logged.get(client[0], -1e9) > DROP_LOG_INTERVAL_S:
                    self._drop_logged[client[0]] = now
                    log.warning(
                        "dropped a packet from %s (not in --allow); %d dropped so far", client[0], self.stats.dropped
                    )
        return ok

    def reply_targets(self, client: Client) -> list[tuple[str, int]]:
        """Where replies for ``client`` go: its own notify port if its socket registered one, otherwise the
        documented reply port (--reply-port) on its host. Never to a port another socket registered, even on
        the same host and with the same key: that port belongs to another program, which must not read this
        one's replies (a patch whose requests leave from several sockets registers each of them)."""
        host, port = str(client[0]), int(client[1])
        with self._lock:
            own = self.registrations.get(host, port)
        return [(host, own[0] if own is not None else self.reply_port)]

    def keyed(self, client: Client) -> bool:
        """Whether ``client``'s socket registered with the engine's key."""
        with self._lock:
            own = self.registrations.get(str(client[0]), int(client[1]))
        return own is not None and own[1]

    def owns(self, owner: Client | None, client: Client) -> bool:
        """Whether ``client`` may read, cancel or reuse the id of a job sent by ``owner``: the same host, and
        the same socket or (listening beyond loopback) a socket of that host registered with the key."""
        if not owner or str(owner[0]) != str(client[0]):
            return False
        if int(owner[1]) == int(client[1]):
            return True
        return self.beyond_loopback and self.keyed(owner) and self.keyed(client)

    def _need_owner(self, job_id: str, owner: Client | None, client: Client, address: str) -> None:
        if not self.owns(owner, client):
            raise ProtocolError(
                job_id,
                f"job_id: job {job_id!r} was sent by another client; only the socket that sent a job can ask "
                "about it, cancel it or reuse its id (choose another id for a new job)",
                address,
            )

    def reply_target(self, client: Client) -> tuple[str, int]:
        """The first of :meth:`reply_targets` (kept for callers that want one)."""
        return self.reply_targets(client)[0]

    def _is_self(self, target: tuple[str, int]) -> bool:
        host, port = self.address
        if target[1] != port:
            return False
        try:
            ip = _ip(target[0])
        except ValueError:
            return False
        return ip.is_loopback or target[0] == host

    def send(self, client: Client, address: str, args: list[Any]) -> None:
        """Send one reply to ``client``'s reply address; a network error is logged, never raised."""
        sent = False
        try:
            data = build_message(address, args)
            for target in self.reply_targets(client):
                if self._is_self(target):
                    log.warning("not sending %s to the engine's own port %s (check /audioldm/notify)", address, target)
                    continue
                try:
                    self._udp.socket.sendto(data, target)
                    sent = True
                except OSError as exc:
                    log.warning("could not send %s to %s: %s", address, target, exc)
        except Exception as exc:
            log.warning("could not send %s to %s: %s", address, client, exc)
            return
        if not sent:
            return
        with self._lock:
            self.stats.replies += 1
            if address == "/audioldm/fail":
                self.stats.failed += 1

    def fail(self, client: Client, job_id: str, message: str, address: str = "") -> None:
        """``/audioldm/fail job_id message address``: patches that read the first two keep working."""
        job_id, address = _clip(job_id, MAX_FAIL_JOB_ID), _clip(address, 200)  # always fits one datagram
        message = _clip(message, 2000)
        log.info("fail %r (%s) to %s: %s", job_id, address, client, message)
        self.send(client, "/audioldm/fail", [job_id, message, address])

    def handle_datagram(self, data: bytes, client: Client) -> None:
        """One UDP datagram: parse, answer malformed ones with /fail, dispatch every message in it."""
        started = time.monotonic()
        try:
            self._handle_datagram(data, client)
        finally:
            took = time.monotonic() - started
            with self._lock:
                self.stats.slowest = max(self.stats.slowest, took)

    def _handle_datagram(self, data: bytes, client: Client) -> None:
        with self._lock:
            self.stats.packets += 1
        try:
            messages = parse_packet(data)
        except PacketError as exc:
            with self._lock:
                self.stats.malformed += 1
            self.fail(client, "", str(exc), "")
            return
        for address, args in messages:
            with self._lock:
                self.stats.messages += 1
            if address in REPLY_ONLY:
                # An echo of the engine's own reply (a client registered the engine's port, or two engines
                # point at each other): answering it with /fail would start a reply loop.
                with self._lock:
                    self.stats.echoes += 1
                log.info("ignored %s from %s: a reply address, not a request", address, client)
                continue
            self.dispatch(address, args, client)

    def dispatch(self, address: str, args: list[Any], client: Client) -> None:
        """Check one message against the table and run its handler; every outcome answers the client."""
        spec = protocol.ADDRESSES.get(address)
        takes_job = spec is not None and bool(spec.args) and spec.args[0].name == "job_id"
        job_id = args[0] if takes_job and args and isinstance(args[0], str) else ""
        if address != "/audioldm/notify" and not self._may_ask(client):
            with self._lock:
                self.stats.keyless += 1
            self.fail(client, job_id, KEY_NEEDED, address if spec is not None else "")
            return
        try:
            for i, value in enumerate(args):
                if isinstance(value, list):  # no argument of the protocol is an OSC array
                    raise ProtocolError(
                        job_id,
                        f"argument {i + 1}: an OSC array is not accepted here; send its values as separate arguments",
                        address if spec is not None else "",
                    )
            request = protocol.parse_request(address, args)
            job_id = request.job_id
            if request.spec.generating or address == "/audioldm/cancel":
                access.info("%s job %r from %s", address, job_id, client[0])
            self._handlers[request.spec.address](request, client)
        except ProtocolError as exc:
            self.fail(client, exc.job_id, exc.message, exc.address or address)
        except Exception as exc:
            log.exception("handler for %s failed", address)
            detail = str(exc) or "no details"
            self.fail(
                client,
                job_id,
                f"the engine hit an unexpected problem handling {address} ({detail}); its log has the details",
                address,
            )

    def _may_ask(self, client: Client) -> bool:
        """This computer's clients always; another computer's only from a socket registered with the key."""
        try:
            if _ip(str(client[0])).is_loopback:
                return True
        except ValueError:
            return False
        return self.keyed(client)

    # -- handlers ---------------------------------------------------------------------------------
    def _ping(self, req: Request, client: Client) -> None:
        self.send(client, "/audioldm/pong", [__version__, str(self.engine.model.model_id)])

    def _notify(self, req: Request, client: Client) -> None:
        port = req.values["port"]
        given = req.values.get("key")
        host, source = str(client[0]), int(client[1])
        if self._is_self((host, port)):
            raise ProtocolError("", f"port: {port} is the engine's own port; give the port your client listens on")
        keyed = False
        if given is not None and self._key is not None:
            if not hmac.compare_digest(given.encode(), self._key):
                raise ProtocolError(
                    "",
                    "key: this is not the engine's key; give the text of the file the engine's --token-file "
                    "names (its path is printed when serve starts)",
                )
            keyed = True
        elif not self._may_ask(client):
            if self._key is None:
                raise ProtocolError(
                    "",
                    "key: this engine has no key, so it takes no requests from another computer; start it "
                    "with serve --token-file FILE and register with /audioldm/notify PORT KEY",
                )
            raise ProtocolError("", KEY_NEEDED)
        with self._lock:
            self.registrations.register(host, source, port, keyed)  # saved: it survives a restart
        self.send(client, "/audioldm/notified", [port])

    def _status(self, req: Request, client: Client) -> None:
        queued, running = self.jobs.status()
        m = self.engine.model
        self.send(client, "/audioldm/status", [str(m.model_id), str(m.device), queued, running, str(self.clips_dir)])

    def _generate(self, req: Request, client: Client) -> None:
        """Check everything that can be checked before queueing: the request, the input file, and what
        the loaded model can serve; a job that is queued is one the engine will run."""
        address = req.spec.address
        job_id = req.job_id
        takes = req.to_takes()  # ``count`` takes with consecutive seeds; one job each
        request = takes[0]
        input_path = request.input_path
        reads_file = input_path is not None
        if input_path is not None:
            try:
                check_path_text(input_path, "input_path")  # an impossible path costs no file-system call
            except ValueError as exc:
                raise ProtocolError(job_id, str(exc), address) from None

        def check() -> Callable[[], None]:
            checked = request
            if input_path is not None:
                try:
                    resolved = check_input_audio(input_path, self.clips_dir, allowed=self.input_dirs)
                except ValueError as exc:
                    raise ProtocolError(job_id, str(exc), address) from None
                checked = request.with_source(input_path=str(resolved))
            try:
                self.engine.check(checked)
            except InvalidRequest as exc:
                raise ProtocolError(job_id, exc.message(osc_name), address) from None
            except EngineError as exc:
                raise ProtocolError(job_id, str(exc), address) from None
            final_path = checked.input_path
            checked_takes = [t.with_source(input_path=final_path) if final_path else t for t in takes]
            return lambda: self._queue(checked_takes, job_id, client, req.options, address)

        def timed_out() -> None:
            self.fail(
                client,
                job_id,
                f"input_path: reading {request.input_path} did not finish within {self.door.time_limit:g} s "
                "(a stalled network drive or cloud folder?); copy the file to a local disk and send the request again",
                address,
            )

        self.door.submit(
            check,
            lambda msg: self.fail(client, job_id, msg, address),
            timed_out,
            inline=not reads_file,
            key=client,
            label=str(client_text_path(input_path, self.clips_dir)) if input_path else "",  # text only: no file call
        )

    def _queue(self, takes: list[Any], job_id: str, client: Client, options: dict[str, Any], address: str) -> None:
        """Queue checked requests (called in arrival order by the door); a refusal is a /fail. Several takes
        are jobs ``job_id-1``, ``job_id-2`` ... (files ``name-1`` ...), each answered as its own job."""
        name, folder = options.get("name"), options.get("folder")
        for k, request in enumerate(takes, start=1):
            take_id = f"{job_id}-{k}" if len(takes) > 1 and job_id else job_id
            take_name = f"{name}-{k}" if len(takes) > 1 and name else name
            earlier = self.jobs.get(take_id) if take_id else None
            if earlier is not None and not self.owns(earlier.client, client):
                self.fail(
                    client,
                    take_id,
                    f'job_id: {take_id!r} is already in use by another client; choose another or send ""',
                    address,
                )
                return
            try:
                self.jobs.submit(request, take_id, client, name=take_name, address=address, folder=folder)
            except JobError as exc:
                self.fail(client, take_id, str(exc), address)
                return

    def _cancel(self, req: Request, client: Client) -> None:
        job = self.jobs.get(req.values["job_id"])
        if job is not None:
            self._need_owner(job.id, job.client, client, req.spec.address)
        try:
            self.jobs.cancel(req.values["job_id"], client)
        except JobError as exc:
            raise ProtocolError(req.values["job_id"], str(exc)) from None

    def _job(self, req: Request, client: Client) -> None:
        job_id = req.values["job_id"]
        job = self.jobs.get(job_id)
        if job is None or job.last_reply is None:
            raise ProtocolError(job_id, f"job_id: no job {job_id!r} (unknown, or finished long ago)")
        self._need_owner(job_id, job.client, client, req.spec.address)
        address, args = job.last_reply
        self.send(client, address, list(args))

    def _need_audition(self, what: str) -> AuditionPort:
        if self.audition is None:
            raise ProtocolError(what, "audition is disabled in this engine (started without an output device)")
        return self.audition

    def _play(self, req: Request, client: Client) -> None:
        what = req.values["job_id_or_path"]
        audition = self._need_audition(what)
        job = self.jobs.get(what)
        if job is not None:
            if job.state != DONE or job.path is None:
                raise ProtocolError(what, f"job {what!r} has no clip to play (it is {job.state})")
            path = job.path
        else:
            try:
                path = check_clip_path(what, self.clips_dir)
            except ValueError as exc:
                raise ProtocolError(what, f"{exc}; expected a finished job's id or a clip's path") from None

        def ended(_playback: Playback) -> None:
            self.send(client, "/audioldm/played", [what])

        self._when_done(
            audition.play(path, what, on_end=ended),
            lambda _pb: self.send(client, "/audioldm/playing", [what]),
            lambda msg: self.fail(client, what, msg, req.spec.address),
        )

    def _stop(self, req: Request, client: Client) -> None:
        audition = self._need_audition("")
        self._when_done(
            audition.stop(),
            lambda label: self.send(client, "/audioldm/stopped", [label]),
            lambda msg: self.fail(client, "", msg, req.spec.address),
        )

    def _devices(self, req: Request, client: Client) -> None:
        audition = self._need_audition("")

        def listed(devices: list[Any]) -> None:
            for d in devices:
                self.send(client, "/audioldm/device", [d.index, d.label, d.channels])
            self.send(client, "/audioldm/devices_end", [])

        self._when_done(audition.devices(), listed, lambda msg: self.fail(client, "", msg, req.spec.address))

    def _output_device(self, req: Request, client: Client) -> None:
        audition = self._need_audition("")
        self._when_done(
            audition.select(req.values["device"]),
            lambda d: self.send(client, "/audioldm/output_device", [d.index, d.label]),
            lambda msg: self.fail(client, "", msg, req.spec.address),
        )

    def _models(self, req: Request, client: Client) -> None:
        """The models on this machine, one ``/audioldm/model`` each, then ``/audioldm/models_end``.

        Listing reads folders and the hub cache, so it runs on a worker thread, never on the one that reads
        packets; requests that arrive while a listing runs share its answer, so a burst costs one listing."""
        with self._lock:
            listing = self._models_listing
            if listing is None or listing.done():
                listing = self._models_listing = self._models_pool.submit(model_rows, self.engine.model.path)

        def listed(rows: list[list[Any]]) -> None:
            for row in rows:
                self.send(client, "/audioldm/model", row)
            self.send(client, "/audioldm/models_end", [])

        def failed(msg: str) -> None:
            message = f"models: the engine could not list its models ({msg}); its log has the details"
            self.fail(client, "", message, req.spec.address)

        self._when_done(listing, listed, failed)

    def _engines(self, req: Request, client: Client) -> None:
        """The engines announced on the local network, one ``/audioldm/engine`` each, then
        ``/audioldm/engines_end COUNT``. A browse listens for ``browse_seconds``, so it runs on a worker thread,
        never on the one that reads packets; requests that arrive meanwhile share its answer."""
        with self._lock:
            listing = self._engines_listing
            if listing is None or listing.done():
                listing = self._engines_listing = self._engines_pool.submit(
                    browse, self.browse_seconds, self.browse_interfaces
                )

        def listed(found: list[Any]) -> None:
            for e in found:
                self.send(client, "/audioldm/engine", [e.name, e.url, e.model, e.gpu])
            self.send(client, "/audioldm/engines_end", [len(found)])

        def failed(msg: str) -> None:
            message = f"engines: could not listen for engines on the local network ({msg}); check the network"
            self.fail(client, "", message, req.spec.address)

        self._when_done(listing, listed, failed)

    @staticmethod
    def _when_done(future: Future, ok: Callable[[Any], None], err: Callable[[str], None]) -> None:
        """Answer from the audition thread when its work is done, so the OSC thread never waits on audio."""

        def done(f: Future) -> None:
            try:
                value = f.result()
            except Exception as exc:
                err(str(exc) or type(exc).__name__)
                return
            ok(value)

        future.add_done_callback(done)


def model_rows(served: Path) -> list[list[Any]]:
    """The ``/audioldm/model`` arguments of every model the catalog lists, the served one marked loaded; a served
    model the catalog does not list (a folder given to ``serve --model`` from elsewhere) is listed too."""
    from audioldm_daw.engine import models_catalog as catalog

    served = Path(served).resolve()
    rows: list[list[Any]] = []
    for e in catalog.list_models():
        loaded = Path(e.path).resolve() == served
        rows.append([e.name, e.licence, ", ".join(e.knows), int(e.default), int(loaded), e.model])
    if not any(row[4] for row in rows):
        licence, kinds = catalog.describe(served)
        rows.append([served.name, licence, ", ".join(kinds), 0, 1, str(served)])
    return rows
