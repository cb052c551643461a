"""The HTTP API of a remote engine as data: paths, headers, event names, the zeroconf service, and a request's
parameters checked by the same table as every other door. Shared by the HTTP door (server/http_api.py) and
its client (clients/remote.py), which never import each other: they meet only over the wire, so what both
must agree on lives here.

Why the parameters go through the OSC table (``protocol.py``): the names a client sends are the names of
``engine/params.py`` (``sr``, ``start_s``, ``duration`` ...), each checked by :func:`protocol.coerce` with the
engine's own ranges, so the HTTP door accepts exactly what the OSC door and the command line accept. What the
HTTP door refuses on top: any path (the input audio travels in the request), the job id (the engine names
HTTP jobs, so one client cannot learn or take another's), and ``name``/``folder`` (a clip's name and folder
are chosen where it is downloaded).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.protocol import ADDRESSES, MODE_ADDRESSES, OPTIONS, ProtocolError, Request
from audioldm_daw.engine import params as P

API_VERSION = 1
PREFIX = f"/v{API_VERSION}"
#: The header that carries the caller's identity: a random id the client keeps (:func:`new_client_id`).
CLIENT_HEADER = "X-AudioLDM-Client"
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: The multipart parts of a job submitted with its input audio.
REQUEST_PART, INPUT_PART = "request", "input"
#: Server-sent event names, in the order a job can meet them (one of the last three ends its stream).
QUEUED, PROGRESS, DONE, FAILED, CANCELLED = "queued", "progress", "done", "failed", "cancelled"
FINAL_EVENTS = frozenset({DONE, FAILED, CANCELLED})
#: Job states as the API reports them (``lost``: the engine stopped while the job was queued or running).
STATES = ("queued", "running", "done", "failed", "cancelled", "lost")

#: The zeroconf (DNS-SD) service engines announce on the local network, and the TXT keys they set.
SERVICE_TYPE = "_audioldm._tcp.local."
TXT_KEYS = ("model", "gpu", "version", "path", "tls", "api")

_DOOR_OWNED = {"name", "folder"}


def new_client_id() -> str:
    """A fresh client identity: random, so no other client can guess it and see, cancel or fetch its jobs."""
    return "c" + secrets.token_urlsafe(24)


def check_client_id(text: str | None) -> str:
    """``text`` if it is a usable client id; ValueError in words otherwise."""
    if not text:
        raise ValueError(
            f"the {CLIENT_HEADER} header is missing: send a random id of 16 to 128 letters, digits, - or _ that "
            "your client keeps (its jobs are visible to it alone)"
        )
    if not CLIENT_ID_RE.fullmatch(text):
        raise ValueError(
            f"the {CLIENT_HEADER} header should be 16 to 128 letters, digits, - or _, got {len(text)} characters "
            "that are not; make a random id (RemoteEngine does) and keep it"
        )
    return text


def job_path(job_id: str, what: str = "") -> str:
    """The URL path of a job, or of one of its parts (``events``, ``cancel``, ``clip``, ``sidecar``)."""
    return f"{PREFIX}/jobs/{job_id}" + (f"/{what}" if what else "")


def mode_spec(mode: str) -> protocol.Address:
    """The table row of a mode; ValueError naming the modes when ``mode`` is none of them."""
    if mode not in MODE_ADDRESSES:
        raise ValueError(f"mode: expected one of {', '.join(P.MODES)}, got {str(mode)[:60]!r}")
    return ADDRESSES[MODE_ADDRESSES[mode][0]]


def takes_input(mode: str) -> bool:
    """Whether ``mode`` works on an input take (which then travels with the request)."""
    return mode in P.INPUT_MODES


def parse_params(mode: str, params: Mapping[str, Any]) -> Request:
    """A mode's parameters (by the names of engine/params.py, JSON values) -> a checked :class:`Request` of the
    OSC table, without its input path (the door adds the uploaded file's); :class:`ProtocolError` in words.

    Checked here: every name and value (types and ranges); that no path, job id, name or folder is sent; and
    that the mode's required positional parameters are present. The engine's own checks (a span inside the
    take, an audio tower for variation ...) follow at the door, where the model is."""
    try:
        spec = mode_spec(mode)
    except ValueError as exc:
        raise ProtocolError("", str(exc)) from None
    if not isinstance(params, Mapping):
        raise ProtocolError("", "params: expected a JSON object of parameter names and values")
    values: dict[str, Any] = {}
    options: dict[str, Any] = {}
    fixed = {a.name: a for a in spec.args if a.name != "job_id"}
    for key, value in params.items():
        if not isinstance(key, str):
            raise ProtocolError("", "params: expected parameter names as strings")
        param = P.by_name(key)
        if key == "job_id":
            raise ProtocolError(
                "", "job_id: the engine names the jobs of its HTTP API (the id comes back in the answer); leave it out"
            )
        if param is not None and param.kind == P.PATH:
            raise ProtocolError(
                "",
                f"{key}: the engine never opens a path a client sends; upload the audio itself as the "
                f"{INPUT_PART!r} part of the request",
            )
        if key in _DOOR_OWNED:
            raise ProtocolError(
                "",
                f"{key}: over HTTP the engine names its own copy of a clip; choose the clip's name and folder "
                "where you download it",
            )
        try:
            if key in fixed:
                values[key] = protocol.coerce(fixed[key], value, key)
            elif key in spec.options:
                options[key] = protocol.coerce(OPTIONS[key], value, key)
            elif key in OPTIONS or param is not None:
                users = [
                    m for m in P.MODES if key in mode_spec(m).options or key in {a.name for a in mode_spec(m).args}
                ]
                raise ValueError(f"{key}: not a parameter of {mode} (it applies to {', '.join(users)})")
            else:
                known = [a for a in fixed if a != "input_path"] + list(spec.options)
                known = [k for k in known if k not in _DOOR_OWNED]
                raise ValueError(f"{key[:60]!r}: unknown parameter for {mode} (known: {', '.join(known)})")
        except ValueError as exc:
            raise ProtocolError("", str(exc)) from None
    for arg in fixed.values():
        if arg.name != "input_path" and not arg.optional and arg.name not in values:
            raise ProtocolError("", f"{arg.name}: missing (expected {arg.expected()}) for {mode}")
    return Request(spec, values, options)
