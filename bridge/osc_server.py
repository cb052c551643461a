"""The OSC server: UDP packets in, checked requests dispatched, replies out (python-osc for the wire format).

Why not python-osc's Dispatcher: it drops packets it cannot parse without a word, matches address
patterns (``/audioldm/*`` would fire every handler), and sends back whatever a handler returns. The
contract asks for the opposite: every request, malformed or not, gets exactly one answer, and only the
exact addresses of the table in ``protocol.py`` do anything. So this module parses each datagram itself
(python-osc's parser and builder), checks it against the table, and calls one handler per address.
Handlers return None and never raise out of the server: a bug answers ``/audioldm/fail``, never a crash.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pythonosc import osc_message_builder, osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types

from audioldm_daw import __version__
from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.input_files import check_clip_path, check_input_audio
from audioldm_daw.bridge.jobs import DONE, Client, JobError, JobQueue
from audioldm_daw.bridge.protocol import ProtocolError, Request, osc_name
from audioldm_daw.engine.errors import EngineError, InvalidRequest

log = logging.getLogger(__name__)

SUPPORTED_TAGS = frozenset("ihfdsbrmtTFN[]")  # what python-osc decodes; anything else would be skipped
MAX_BUNDLE_DEPTH = 8
MAX_PACKET = 65535
MAX_CLIENTS = 1024  # notify registrations kept (oldest forgotten first)
DROP_LOG_INTERVAL_S = 10.0

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
    return bool(infos) and all(_ip(info[4][0]).is_loopback for info in infos)


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


def _check_tags(dgram: bytes, depth: int = 0) -> None:
    """Walk a datagram's messages and refuse type tags python-osc would silently skip."""
    if depth > MAX_BUNDLE_DEPTH:
        raise PacketError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if dgram.startswith(b"#bundle\x00"):
        i = 16
        while i < len(dgram):
            size, i = osc_types.get_int(dgram, i)
            if size <= 0 or i + size > len(dgram):
                raise PacketError(f"bundle element of {size} bytes does not fit the packet")
            _check_tags(dgram[i : i + size], depth + 1)
            i += size
        return
    _, i = osc_types.get_string(dgram, 0)
    if i < len(dgram):
        tags, _ = osc_types.get_string(dgram, i)
        bad = sorted(set(tags[1:]) - SUPPORTED_TAGS) if tags.startswith(",") else []
        if bad:
            raise PacketError(f"unsupported OSC type tag(s) {''.join(bad)!r} (use i, f, s)")


def parse_packet(dgram: bytes) -> list[tuple[str, list[Any]]]:
    """A datagram -> [(address, arguments)], bundles unpacked in time-tag order; PacketError if malformed."""
    try:
        if not (dgram.startswith(b"/") or dgram.startswith(b"#bundle\x00")):
            raise PacketError("does not start with an OSC address or #bundle")
        _check_tags(dgram)
        packet = osc_packet.OscPacket(dgram)
        messages = [(m.message.address, list(m.message.params)) for m in packet.messages]
        if not messages:
            raise PacketError("a bundle with no messages")
        return messages
    except PacketError as exc:
        reason = str(exc)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    raise PacketError(f"malformed OSC packet ({len(dgram)} bytes): {reason}; expected an OSC 1.0 message or bundle")


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
            b.add_arg(str(a), "s")
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


class _UDPServer(BlockingOSCUDPServer):
    """python-osc's UDP server with our own per-datagram entry point and the allow-list as its gate."""

    max_packet_size = MAX_PACKET

    def __init__(self, address: tuple[str, int], owner: OscServer) -> None:
        self.owner = owner
        super().__init__(address, Dispatcher())

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
        engine: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        reply_port: int = 9001,
        clips_dir: Path,
        allow: Iterable[Network] = (),
        audition: Any = None,
    ) -> None:
        self.engine = engine
        self.clips_dir = Path(clips_dir).expanduser().resolve()
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        self.reply_port = reply_port
        self.allow = list(allow)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._by_client: collections.OrderedDict[tuple[str, int], int] = collections.OrderedDict()
        self._by_host: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._drop_logged: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._udp = _UDPServer((host, port), self)
        self.jobs = JobQueue(engine, self.clips_dir, self.send)
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
        }
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
        """Serve on a background thread."""
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
        self.jobs.close(timeout)
        if self.audition is not None:
            self.audition.close()
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

    def reply_target(self, client: Client) -> tuple[str, int]:
        """Where replies for ``client`` go: its own notify port, else its host's, else --reply-port."""
        host, port = str(client[0]), int(client[1])
        with self._lock:
            target = self._by_client.get((host, port)) or self._by_host.get(host) or self.reply_port
        return host, target

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
        try:
            target = self.reply_target(client)
            if self._is_self(target):
                log.warning("not sending %s to the engine's own port %s (check /audioldm/notify)", address, target)
                return
            data = build_message(address, args)
            self._udp.socket.sendto(data, target)
        except Exception as exc:
            log.warning("could not send %s to %s: %s", address, client, exc)
            return
        with self._lock:
            self.stats.replies += 1
            if address == "/audioldm/fail":
                self.stats.failed += 1

    def fail(self, client: Client, job_id: str, message: str, address: str = "") -> None:
        """``/audioldm/fail job_id message address``: patches that read the first two keep working."""
        log.info("fail %r (%s) to %s: %s", job_id, address, client, message)
        self.send(client, "/audioldm/fail", [job_id, message, address])

    def handle_datagram(self, data: bytes, client: Client) -> None:
        """One UDP datagram: parse, answer malformed ones with /fail, dispatch every message in it."""
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
        job_id = ""
        try:
            request = protocol.parse_request(address, args)
            job_id = request.job_id
            self._handlers[request.spec.address](request, client)
        except ProtocolError as exc:
            self.fail(client, exc.job_id, exc.message, exc.address or address)
        except Exception as exc:
            log.exception("handler for %s failed", address)
            self.fail(client, job_id, f"internal error handling {address}: {type(exc).__name__}: {exc}", address)

    # -- handlers ---------------------------------------------------------------------------------
    def _ping(self, req: Request, client: Client) -> None:
        self.send(client, "/audioldm/pong", [__version__, str(self.engine.model.model_id)])

    def _notify(self, req: Request, client: Client) -> None:
        port = req.values["port"]
        host, source = str(client[0]), int(client[1])
        if self._is_self((host, port)):
            raise ProtocolError("", f"port: {port} is the engine's own port; give the port your client listens on")
        with self._lock:
            for table, key in ((self._by_client, (host, source)), (self._by_host, host)):
                table.pop(key, None)
                table[key] = port
                while len(table) > MAX_CLIENTS:
                    table.popitem(last=False)
        self.send(client, "/audioldm/notified", [port])

    def _status(self, req: Request, client: Client) -> None:
        queued, running = self.jobs.status()
        m = self.engine.model
        self.send(client, "/audioldm/status", [str(m.model_id), str(m.device), queued, running, str(self.clips_dir)])

    def _generate(self, req: Request, client: Client) -> None:
        """Check everything that can be checked before queueing: the request, the input file, and what
        the loaded model can serve; a job that is queued is one the engine will run."""
        address = req.spec.address
        request = req.to_request()
        if request.input_path is not None:
            try:
                request = request.with_source(input_path=str(check_input_audio(request.input_path, self.clips_dir)))
            except ValueError as exc:
                raise ProtocolError(req.job_id, str(exc), address) from None
        try:
            self.engine.check(request)
        except InvalidRequest as exc:
            raise ProtocolError(req.job_id, exc.message(osc_name), address) from None
        except EngineError as exc:
            raise ProtocolError(req.job_id, str(exc), address) from None
        try:
            self.jobs.submit(request, req.job_id, client, name=req.options.get("name"), address=address)
        except JobError as exc:
            raise ProtocolError(req.job_id, str(exc), address) from None

    def _cancel(self, req: Request, client: Client) -> None:
        try:
            self.jobs.cancel(req.values["job_id"], client)
        except JobError as exc:
            raise ProtocolError(req.values["job_id"], str(exc)) from None

    def _job(self, req: Request, client: Client) -> None:
        job_id = req.values["job_id"]
        job = self.jobs.get(job_id)
        if job is None or job.last_reply is None:
            raise ProtocolError(job_id, f"job_id: no job {job_id!r} (unknown, or finished long ago)")
        address, args = job.last_reply
        self.send(client, address, list(args))

    def _need_audition(self, what: str) -> Any:
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

        def ended(_playback: Any) -> None:
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
