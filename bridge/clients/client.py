"""A light OSC client of a running ``audioldm-daw serve``: hand it a request, follow the job, get the clip.

This is what ``audioldm-daw send`` and the inbox watcher use, and what any Python script can use to drive
the engine without loading a model. It imports no torch and no numpy (a DAW script calls it for every
clip, and a missing engine must be reported at once): the requests are checked with the same declaration
as every other door (engine/params.py, engine/request.py) and put on the wire by the OSC table
(bridge/protocol.py), so a request the client accepts is one the engine accepts.

Replies come back to this client's own UDP socket: it registers the socket's port with
``/audioldm/notify`` (docs/OSC.md, "Transport"), and that answer doubles as the "is anybody there" check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audioldm_daw.engine.errors import EngineError, InvalidRequest
from audioldm_daw.engine.names import not_reserved

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
CONNECT_TIMEOUT_S = 0.2  # no answer to /audioldm/notify in this long: no engine (a running one answers in ~1 ms)
RESEND_S = 0.05  # the notify is repeated this often while connecting (a lost datagram costs 50 ms, not 200)
SILENCE_S = 10.0  # no word about a job for this long: ask the engine for its last reply (/audioldm/job)
GONE_S = 30.0  # ... and no answer to that for this long either: the engine is gone
START_HINT = "start one with: audioldm-daw serve --model MODEL (in another terminal)"
TOKEN_FILE_ENV = "AUDIOLDM_DAW_TOKEN_FILE"  # the engine's --token-file, for send and the inbox
# The largest UDP payload over IPv4 (IPv6 allows a little more; the smaller bound holds for both): a request
# must fit one OSC message in one datagram, and only the prompt can make one this long.
MAX_DATAGRAM = 65507


class EngineUnavailable(EngineError):
    """No engine answered at the address (not started, another port, or a firewall / --allow drop)."""


class JobFailed(EngineError):
    """The engine refused the request or the job failed; the message is the engine's own."""

    def __init__(self, message: str, job_id: str = "", address: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id
        self.address = address


class RequestTooLarge(InvalidRequest):
    """A request too long for one OSC message (a prompt far longer than the model reads); the message says
    the limit and what to do, for ``send``, the inbox and any script alike."""


def too_large(size: int, what: str = "the request") -> RequestTooLarge:
    """The one sentence for a request (or a prompt file) of ``size`` bytes that cannot be sent."""
    return RequestTooLarge(
        f"{what} is {size} bytes, more than one OSC message to the engine can carry ({MAX_DATAGRAM} bytes, "
        f"the most one UDP datagram holds); {SHORTEN}"
    )


SHORTEN = (
    "shorten the prompt: the model reads only the start of a long prompt anyway (the engine warns when it cuts one)"
)


def check_size(data: bytes) -> bytes:
    """``data`` if it fits one datagram, else :class:`RequestTooLarge` (never the system's "Message too long")."""
    if len(data) > MAX_DATAGRAM:
        raise too_large(len(data))
    return data


# -- the wire format (OSC 1.0, the subset the protocol uses) --------------------------------------------
def _pad(b: bytes) -> bytes:
    return b + b"\0" * (4 - len(b) % 4)


def encode(address: str, args: Sequence[Any]) -> bytes:
    """One OSC message: strings ``s``, ints ``i`` (``h`` beyond 32 bits), floats ``d`` (exact), bools as 0/1."""
    import struct

    tags, data = ",", b""
    for a in args:
        if isinstance(a, bool):
            a = int(a)
        if isinstance(a, int):
            if -(2**31) <= a < 2**31:
                tags, data = tags + "i", data + struct.pack(">i", a)
            else:
                tags, data = tags + "h", data + struct.pack(">q", a)
        elif isinstance(a, float):
            tags, data = tags + "d", data + struct.pack(">d", a)
        else:
            tags, data = tags + "s", data + _pad(str(a).encode("utf-8"))
    return _pad(address.encode("utf-8")) + _pad(tags.encode("ascii")) + data


def decode(dgram: bytes) -> tuple[str, list[Any]]:
    """An OSC message as (address, args); bundles are not expected from the engine. ValueError if malformed."""
    from pythonosc.osc_message import OscMessage

    try:
        m = OscMessage(dgram)
    except Exception as exc:  # python-osc raises its own ParseError
        raise ValueError(f"malformed OSC reply: {exc}") from None
    return m.address, list(m.params)


# -- requests -------------------------------------------------------------------------------------------
def mode_address(mode: str) -> str:
    from audioldm_daw.bridge import protocol

    return protocol.MODE_ADDRESSES[mode][0]


def wire_value(kind: str, value: Any) -> Any:
    """A checked request value as OSC carries it: flags 0/1, ``off`` for a level turned off."""
    from audioldm_daw.engine.params import FLAG, LEVEL, OFF

    if kind == FLAG:
        return int(bool(value))
    if kind == LEVEL and value is None:
        return OFF
    return value


def request_args(mode: str, values: Mapping[str, Any], job_id: str, name: str | None = None) -> list[Any]:
    """The OSC arguments of ``mode``'s address for ``values`` (by request field, only what was given):
    the job id, the fixed arguments in the table's order, then ``key value`` options by their OSC names."""
    from audioldm_daw.bridge import protocol
    from audioldm_daw.engine.params import PARAMS

    spec = protocol.ADDRESSES[mode_address(mode)]
    args: list[Any] = [job_id]
    for arg in spec.args[1:]:
        field = arg.field
        if field is not None and values.get(field) is not None:
            args.append(wire_value(PARAMS[field].kind, values[field]))
        elif not arg.optional:
            raise ValueError(f"{arg.name}: missing")  # checked earlier by build_takes; a bug if it shows
    for fname, value in values.items():
        param = PARAMS[fname]
        if param.positional or (value is None and param.kind != "level"):
            continue
        args += [param.name, wire_value(param.kind, value)]
    if name:
        args += ["name", name]
    return args


def clip_stem(text: str, fallback: str = "clip") -> str:
    """A file-name stem for the engine's ``name`` option: the first 40 characters, no folder separators, no
    trailing dot or space and no Windows device name (the engine refuses those at the door)."""
    stem = re.sub(r"[/\\:]+", "-", text[:40]).strip().strip(".").rstrip(" .")
    return not_reserved(stem) or fallback


def new_job_id(prefix: str = "send") -> str:
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Take:
    """One clip to make: the OSC address and arguments, and the job id they carry."""

    mode: str
    job_id: str
    args: list[Any]
    prompt: str = ""

    @property
    def address(self) -> str:
        return mode_address(self.mode)


def takes_for(
    mode: str, values: Mapping[str, Any], name: str | None = None, prefix: str = "send", namer: Callable | None = None
) -> list[Take]:
    """Check the request as every door does (``count`` takes with consecutive seeds; errors name the
    parameters by ``namer``) and make one OSC request per take. Relative input paths become absolute here:
    the engine would take them from its clips folder."""
    from audioldm_daw.engine.errors import InvalidRequest
    from audioldm_daw.engine.request import build_takes

    values = dict(values)
    if isinstance(values.get("input_path"), str) and values["input_path"]:
        values["input_path"] = str(Path(values["input_path"]).expanduser().resolve())
    try:
        takes = build_takes(mode, values)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message(namer)) if namer else exc from None
    values.pop("count", None)
    first = takes[0]
    if name is None:
        name = clip_stem(first.prompt) if first.input_path is None else f"{Path(first.input_path).stem}-{mode}"
    out = []
    for i, take in enumerate(takes):
        job_id = new_job_id(prefix)
        stem = name if i == 0 else f"{name}-{i + 1}"
        out.append(Take(mode, job_id, request_args(mode, {**values, "seed": take.seed}, job_id, stem), take.prompt))
        check_size(encode(out[-1].address, out[-1].args))  # said here, before any engine is asked
    return out


# -- results --------------------------------------------------------------------------------------------
@dataclass
class Result:
    """A finished clip, as ``/audioldm/done`` reports it."""

    job_id: str
    path: str
    seconds: float
    sample_rate: int
    seed: int
    warning: str = ""
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sidecar(self) -> str:
        return str(Path(self.path).with_suffix(".json"))

    def to_json(self) -> dict[str, Any]:
        """The object ``send --json`` prints, one per clip (the REAPER script reads these keys)."""
        return {
            "path": self.path,
            "sidecar": self.sidecar,
            "seconds": self.seconds,
            "sample_rate": self.sample_rate,
            "seed": self.seed,
            "job_id": self.job_id,
            "warnings": [self.warning] if self.warning else [],
            "elapsed": round(self.elapsed, 3),
            **self.extra,
        }


# -- the client -----------------------------------------------------------------------------------------
def read_key(path: str, named_by: str = "--token-file") -> str | None:
    """The engine's key from a copy of its ``serve --token-file`` (None for an empty file); EngineUnavailable
    in words, naming where the path came from (``named_by``), when it cannot be read."""
    try:
        key = Path(path).expanduser().read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else "it is not text"
        raise EngineUnavailable(
            f"{named_by} names {path}, which cannot be read ({why}); give a copy of the engine's --token-file"
        ) from None
    return key or None


def key_from_env() -> str | None:
    """The engine's key from the file ``$AUDIOLDM_DAW_TOKEN_FILE`` names (``serve --token-file``), or None.
    Why a variable as well as ``--token-file``: a script or a DAW that starts ``send`` sets it once."""
    path = os.environ.get(TOKEN_FILE_ENV)
    return read_key(path, f"${TOKEN_FILE_ENV}") if path else None


class EngineClient:
    """A UDP socket that talks to one engine. ``connect()`` registers its port (with the engine's ``key``
    where one is given: an engine on another computer answers nothing else until it has it) and proves the
    engine is there; ``submit()`` sends a take; ``wait()`` follows jobs to their end. Without ``key``, the
    key is read from the file ``$AUDIOLDM_DAW_TOKEN_FILE`` names, if set."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, key: str | None = None) -> None:
        self.host = host
        self.port = port
        self.key = key if key is not None else key_from_env()
        try:  # "localhost" is the engine's default 127.0.0.1, not ::1 (which some systems resolve first)
            info = socket.getaddrinfo("127.0.0.1" if host == "localhost" else host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            raise EngineUnavailable(f"--host {host}: cannot resolve it ({exc.strerror or exc})") from None
        self.family, self.target = info[0], info[4][:2]
        self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.loopback = str(self.target[0]) == "::1" or str(self.target[0]).startswith("127.")
        self.sock.bind((self.target[0] if self.loopback else "", 0))
        if self.loopback:
            # Connected: the engine's replies come from exactly this address, and a port nobody listens on is
            # reported by the system at once (ICMP port unreachable) instead of after the connect timeout.
            self.sock.connect(self.target)
        self.reply_port = self.sock.getsockname()[1]
        self.refused = False
        self.backlog: list[tuple[str, list[Any]]] = []
        self.fail_fast = False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, address: str, *args: Any) -> None:
        """Send one message; RequestTooLarge (a sentence) for one that no datagram can carry."""
        data = check_size(encode(address, args))
        try:
            if self.loopback:
                self.sock.send(data)
            else:
                self.sock.sendto(data, self.target)
        except (ConnectionRefusedError, ConnectionResetError):
            self.refused = True  # an earlier datagram found no listener (reported on this send by some systems)
        except OSError as exc:
            if exc.errno != errno.EMSGSIZE:
                raise
            raise RequestTooLarge(
                f"the request is {len(data)} bytes, more than this system lets one UDP datagram carry (its limit is "
                f"below the {MAX_DATAGRAM} bytes the engine takes); {SHORTEN}"
            ) from None

    def receive(self, timeout: float) -> tuple[str, list[Any]] | None:
        """The next reply, or None after ``timeout`` seconds (a reply held back by :meth:`expect` first)."""
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _sender = self.sock.recvfrom(65535)
            except (TimeoutError, BlockingIOError):
                return None
            except (ConnectionRefusedError, ConnectionResetError):  # nobody listens at the engine's port
                self.refused = True
                if self.fail_fast:
                    return None
                continue
            try:
                return decode(data)
            except ValueError:
                continue

    def expect(self, reply: str, timeout: float, resend: tuple[str, tuple] | None = None) -> list[Any] | None:
        """Wait for ``reply`` (others are kept for later), re-sending ``resend`` every RESEND_S."""
        deadline = time.monotonic() + timeout
        held: list[tuple[str, list[Any]]] = []
        try:
            while (left := deadline - time.monotonic()) > 0:
                if resend is not None:
                    self.send(resend[0], *resend[1])
                msg = self.receive(min(left, RESEND_S) if resend else left)
                if msg is None:
                    if self.fail_fast and self.refused:
                        return None
                    continue
                if msg[0] == reply:
                    return msg[1]
                held.append(msg)
            return None
        finally:
            self.backlog[:0] = held

    def connect(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Register this socket's port with the engine; EngineUnavailable at once when nobody answers."""
        self.fail_fast = True
        try:
            answer = self._connect(timeout)
        finally:
            self.fail_fast = False
        if answer is None:
            where = f"udp://{self.host}:{self.port}"
            extra = ""
            if self.target[0] not in ("127.0.0.1", "::1"):
                extra = (
                    "; an engine on another computer must listen there (serve --host), allow this one (--allow) "
                    f"and be given its key (${TOKEN_FILE_ENV} naming a copy of its --token-file)"
                )
                if self.key:
                    extra += "; a wrong key is answered on the reply port only, never here"
            raise EngineUnavailable(f"no audioldm-daw engine answers at {where} ({START_HINT}){extra}")

    def _connect(self, timeout: float) -> list[Any] | None:
        deadline = time.monotonic() + timeout
        notify = (self.reply_port, self.key) if self.key else (self.reply_port,)
        while (left := deadline - time.monotonic()) > 0:
            self.send("/audioldm/notify", *notify)
            answer = self.expect("/audioldm/notified", min(left, RESEND_S))
            if answer is not None or self.refused:
                return answer
        return None

    def ping(self, timeout: float = 2.0) -> tuple[str, str] | None:
        args = self.expect("/audioldm/pong", timeout, ("/audioldm/ping", ()))
        return None if args is None else (str(args[0]), str(args[1]))

    def submit(self, take: Take) -> None:
        self.send(take.address, *take.args)

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(OSError):
            self.send("/audioldm/cancel", job_id)

    def wait(
        self,
        job_ids: Sequence[str],
        on_event: Callable[[str, list[Any]], None] | None = None,
        timeout: float | None = None,
        silence: float = SILENCE_S,
        gone: float = GONE_S,
    ) -> dict[str, Result | JobFailed]:
        """Follow ``job_ids`` until each is done or failed; ``on_event(address, args)`` sees every reply about
        them (queued, progress). A job the engine stops talking about is asked after (``/audioldm/job``,
        which re-sends its last reply: a lost datagram costs seconds, not the clip); an engine that answers
        nothing for ``gone`` seconds is reported gone. ``timeout`` bounds the whole wait (None: no bound)."""
        pending = set(job_ids)
        out: dict[str, Result | JobFailed] = {}
        start = time.monotonic()
        end = None if timeout is None else start + timeout
        heard = time.monotonic()
        asked = heard
        while pending:
            now = time.monotonic()
            if end is not None and now >= end:
                raise JobFailed(f"no result within {timeout:g} s (--timeout); the job goes on in the engine")
            if now - heard >= gone:
                raise EngineUnavailable(
                    f"the engine at udp://{self.host}:{self.port} stopped answering (stopped or crashed?) "
                    f"while {len(pending)} job(s) were waiting"
                )
            if now - max(heard, asked) >= silence:
                for job in sorted(pending):
                    self.send("/audioldm/job", job)
                asked = now
            wait_for = min(0.5, max(0.01, silence - (now - max(heard, asked))))
            if end is not None:
                wait_for = min(wait_for, max(0.01, end - now))
            msg = self.receive(wait_for)
            if msg is None:
                continue
            address, args = msg
            replied = args[0] if args and isinstance(args[0], str) else None
            if replied is None or replied not in pending:
                continue
            heard = time.monotonic()
            if address == "/audioldm/done":
                pending.discard(replied)
                res = Result(
                    replied,
                    str(args[1]),
                    float(args[2]),
                    int(args[3]),
                    int(args[4]),
                    str(args[5]) if len(args) > 5 else "",
                )
                res.elapsed = heard - start
                out[replied] = res
            elif address == "/audioldm/fail":
                pending.discard(replied)
                out[replied] = JobFailed(str(args[1]), replied, str(args[2]) if len(args) > 2 else "")
            elif address == "/audioldm/cancelled":
                pending.discard(replied)
                out[replied] = JobFailed("cancelled", replied)
            if on_event is not None:
                on_event(address, args)
        return out
