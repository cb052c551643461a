"""The OSC address space as data: the one table that the server, the user docs and the patch checks read.

This module is the contract; docs/OSC.md is rendered from it. The generating addresses and their options
are derived from the request parameters (engine/params.py), the same declaration the command line and the
Python API use, so the three doors cannot drift. Every request address lists its fixed arguments (name,
type, range), which ``key value`` options it takes and which replies it answers with; every reply address
lists its arguments. :func:`parse_request` turns an incoming OSC message into checked Python values (or a
:class:`ProtocolError` whose message names the argument and what was expected), :func:`check_shape`
checks what a patch sends, and ``server/docs.py`` renders the same tables for people. Change the contract only
by adding rows or trailing arguments, never by renaming or reordering.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from audioldm_daw.engine import params as P
from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.names import windows_reserved
from audioldm_daw.engine.params import PARAMS
from audioldm_daw.engine.request import SOURCES, GenerateRequest, build_request, build_takes

# Argument kinds. "number" takes OSC int or float (Pd sends every number as a float); "int" takes either
# too but the value must be whole; "flag" is 0/1 (or OSC True/False); "text" is a prompt, which may
# arrive as one string or (from Max and Pd lists) as several words that are joined with spaces.
# "level" is a number or the string "off".
STRING, INT, NUMBER, FLAG, TEXT, LEVEL = P.STRING, P.INT, P.NUMBER, P.FLAG, P.TEXT, P.LEVEL
INDEX_OR_NAME = "index or name"

KIND_WORDS = {
    STRING: "a string",
    INT: "an integer",
    NUMBER: "a number",
    FLAG: "0 or 1",
    TEXT: "a string",
    LEVEL: "a number",
    INDEX_OR_NAME: "a device index (number) or name (string)",
}

MAX_JOB_ID_CHARS = 128


class ProtocolError(ValueError):
    """A request that does not fit the table; ``job_id`` is what the /fail reply carries ("" if unknown)."""

    def __init__(self, job_id: str, message: str, address: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id
        self.message = message
        self.address = address


@dataclass(frozen=True)
class Arg:
    """One positional argument of a request or a reply."""

    name: str
    kind: str
    doc: str
    optional: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    field: str | None = None  # the GenerateRequest field it fills, for generating addresses

    def expected(self) -> str:
        """What a valid value looks like, in words (used in /fail messages and the docs)."""
        return P.expected_text(KIND_WORDS[self.kind], self.lo, self.hi, self.choices, self.kind == LEVEL)


@dataclass(frozen=True)
class Option(Arg):
    """A ``key value`` option after the fixed arguments of a generating address (or a positional
    request parameter, which carries its default the same way)."""

    default: Any = None
    shown_default: str = ""


@dataclass(frozen=True)
class Address:
    """One request address: its fixed arguments, options, direct replies and what it does."""

    address: str
    args: tuple[Arg, ...]
    doc: str
    replies: tuple[str, ...]
    mode: str | None = None  # GenerateRequest.mode for the addresses that make a clip
    options: tuple[str, ...] = ()

    @property
    def generating(self) -> bool:
        return self.mode is not None

    @property
    def fixed(self) -> tuple[Arg, ...]:
        """Positional arguments before the prompt (the prompt, if any, is always the last fixed one)."""
        return tuple(a for a in self.args if a.kind != TEXT)

    @property
    def prompt(self) -> Arg | None:
        return next((a for a in self.args if a.kind == TEXT), None)

    def usage(self) -> str:
        """``/audioldm/x job_id input_path [prompt] [key value]...`` as people read it."""
        parts = [self.address]
        for a in self.args:
            parts.append(f"[{a.name}]" if a.optional else a.name)
        if self.options:
            parts.append("[key value]...")
        return " ".join(parts)


@dataclass(frozen=True)
class Reply:
    """One reply address the engine sends, and its arguments."""

    address: str
    args: tuple[Arg, ...]
    doc: str


# -- the table ----------------------------------------------------------------------------------------
JOB_ID = Arg("job_id", STRING, 'your name for the job, echoed in every reply; "" lets the engine choose one')
JOB = Arg("job_id", STRING, "the job's id, as sent or as the engine chose it")


def _kind(param: P.Param) -> str:
    """The OSC kind of a request parameter (paths and choices of names are strings, rates integers)."""
    if param.kind == P.CHOICE:
        return INT if all(isinstance(c, int) for c in param.choices or ()) else STRING
    return {P.PATH: STRING}.get(param.kind, param.kind)


def _from_param(param: P.Param, *, optional: bool = False) -> Option:
    return Option(
        param.name,
        _kind(param),
        f"{param.doc} ({param.when_optional})" if optional and param.when_optional else param.doc,
        optional=optional,
        lo=param.lo,
        hi=param.hi,
        choices=param.choices,
        field=param.field,
        default=param.default,
        shown_default=param.default_text(),
    )


NAME = Option("name", STRING, "file-name stem of the clip (no folders); default: the job id")
FOLDER = Option(
    "folder",
    STRING,
    "subfolder of the clips folder for the clip and its sidecar (one level, created as needed), e.g. per Live set",
)
_FILE_OPTIONS = {"name": NAME, "folder": FOLDER}  # where the clip goes: the door's business, not the request's

#: Every ``key value`` option: the request parameters that are not positional, and where the clip goes.
OPTIONS: dict[str, Option] = {p.name: _from_param(p) for p in PARAMS.values() if not p.positional} | _FILE_OPTIONS


def _fixed_args(mode: str) -> tuple[Arg, ...]:
    """job_id, then the mode's positional parameters in its source's field order (prompt last)."""
    out: list[Arg] = [JOB_ID]
    for f in fields(SOURCES[mode]):
        param = PARAMS[f.name]
        if param.positional:
            out.append(_from_param(param, optional=f.default is not MISSING))
    return tuple(out)


def _options(mode: str) -> tuple[str, ...]:
    return (*(p.name for p in P.params_for(mode) if not p.positional), *_FILE_OPTIONS)


#: The address of each mode, and what it does in a few words.
MODE_ADDRESSES = {
    "generate": ("/audioldm/generate", "text-to-audio"),
    "variation": ("/audioldm/variation", "new audio conditioned on the CLAP audio embedding of the input"),
    "transfer": ("/audioldm/transfer", "text-guided style transfer of the input"),
    "inpaint": ("/audioldm/inpaint", "regenerate the span, keep the rest"),
    "upsample": ("/audioldm/upsample", "audio super-resolution (fill the missing high band)"),
    "continue": ("/audioldm/continue", "extend the input by `seconds`, seamlessly"),
}

_JOB_REPLIES = ("/audioldm/queued", "/audioldm/fail")

_GENERATING = tuple(
    Address(address, _fixed_args(mode), doc, _JOB_REPLIES, mode=mode, options=_options(mode))
    for mode, (address, doc) in MODE_ADDRESSES.items()
)

ADDRESSES: dict[str, Address] = {
    a.address: a
    for a in (
        Address("/audioldm/ping", (), "is the engine there? replies with its version and model", ("/audioldm/pong",)),
        Address(
            "/audioldm/notify",
            (
                Arg("port", INT, "UDP port on your host that should receive replies", lo=1, hi=65535),
                Arg(
                    "key",
                    STRING,
                    "the engine's key (its `--token-file`): needed from another computer, optional on this one",
                    optional=True,
                ),
            ),
            "replies to requests from this socket (its host and port) go to `port` from now on; a key also "
            "lets another computer send requests",
            ("/audioldm/notified",),
        ),
        Address("/audioldm/status", (), "what the engine is doing", ("/audioldm/status",)),
        *_GENERATING,
        Address(
            "/audioldm/cancel",
            (Arg("job_id", STRING, "the job to cancel"),),
            "cancel a queued or running job (a running one stops within one denoising step)",
            ("/audioldm/cancelled", "/audioldm/fail"),
        ),
        Address(
            "/audioldm/job",
            (Arg("job_id", STRING, "the job to ask about"),),
            "re-sends the job's last reply (queued / progress / done / fail / cancelled)",
            ("/audioldm/queued", "/audioldm/progress", "/audioldm/done", "/audioldm/fail", "/audioldm/cancelled"),
        ),
        Address(
            "/audioldm/play",
            (Arg("job_id_or_path", STRING, "a finished job's id, or the path of a clip in the clips folder"),),
            "audition on the output device; `/audioldm/played` follows when it has played to the end",
            ("/audioldm/playing", "/audioldm/fail"),
        ),
        Address("/audioldm/stop", (), "stop audition", ("/audioldm/stopped",)),
        Address(
            "/audioldm/devices",
            (),
            "lists the output devices",
            ("/audioldm/device", "/audioldm/devices_end"),
        ),
        Address(
            "/audioldm/output_device",
            (Arg("device", INDEX_OR_NAME, "index from /audioldm/devices, or (part of) a device name"),),
            "choose the audition device",
            ("/audioldm/output_device", "/audioldm/fail"),
        ),
        Address(
            "/audioldm/models",
            (),
            "lists the models on the engine's machine (`audioldm-daw models`); the engine serves the one it was "
            "started with: another one needs a restart with `serve --model MODEL`",
            ("/audioldm/model", "/audioldm/models_end", "/audioldm/fail"),
        ),
        Address(
            "/audioldm/engines",
            (),
            "lists the remote engines announced on the local network (`serve --http` elsewhere; zeroconf), after "
            "listening a few seconds: each is a URL for `serve --engine URL`",
            ("/audioldm/engine", "/audioldm/engines_end", "/audioldm/fail"),
        ),
    )
}

REPLIES: dict[str, Reply] = {
    r.address: r
    for r in (
        Reply(
            "/audioldm/pong",
            (Arg("version", STRING, "engine version"), Arg("model", STRING, "model id")),
            "answer to /audioldm/ping",
        ),
        Reply("/audioldm/notified", (Arg("port", INT, "the port replies now go to"),), "answer to /audioldm/notify"),
        Reply(
            "/audioldm/status",
            (
                Arg("model", STRING, "model id"),
                Arg("device", STRING, "compute device, e.g. cpu or cuda:0"),
                Arg("queued", INT, "jobs waiting (not counting the running one)"),
                Arg("running", STRING, 'id of the running job, "" when idle'),
                Arg("clips_dir", STRING, "absolute path of the clips folder"),
            ),
            "answer to /audioldm/status",
        ),
        Reply(
            "/audioldm/queued",
            (JOB, Arg("position", INT, "waiting jobs ahead of this one (0: it starts next)")),
            "the job was accepted",
        ),
        Reply(
            "/audioldm/progress",
            (JOB, Arg("step", INT, "steps done"), Arg("total", INT, "steps in all")),
            "denoising progress: at most 50 per second per client host and 50 per job, always the last step",
        ),
        Reply(
            "/audioldm/done",
            (
                JOB,
                Arg("path", STRING, "absolute path of the WAV (complete when this is sent; JSON sidecar beside it)"),
                Arg("seconds", NUMBER, "length of the clip"),
                Arg("sample_rate", INT, "its sample rate"),
                Arg("seed", INT, "the seed that made it"),
                Arg(
                    "warning",
                    STRING,
                    'what the caller should know, e.g. a prompt cut at the text encoder\'s limit; "" if nothing',
                ),
            ),
            "the clip is on disk",
        ),
        Reply(
            "/audioldm/fail",
            (
                Arg("job_id", STRING, 'the job\'s id; "" when the request itself could not be parsed'),
                Arg("message", STRING, "what went wrong: which argument, what was expected"),
                Arg("address", STRING, 'the request address this answers; "" for a packet that could not be parsed'),
            ),
            'a request or job failed (job_id "" when the request itself could not be parsed)',
        ),
        Reply("/audioldm/cancelled", (JOB,), "the job was cancelled (no clip was written)"),
        Reply(
            "/audioldm/playing",
            (Arg("what", STRING, "the job id or path being played"),),
            "audition started",
        ),
        Reply(
            "/audioldm/played",
            (Arg("what", STRING, "the job id or path that finished"),),
            "audition reached the end of the clip (not sent when it was stopped)",
        ),
        Reply(
            "/audioldm/stopped",
            (Arg("what", STRING, 'what was playing, "" if nothing'),),
            "answer to /audioldm/stop",
        ),
        Reply(
            "/audioldm/device",
            (
                Arg("index", INT, "device index"),
                Arg("name", STRING, "device name (host API in brackets)"),
                Arg("channels", INT, "max output channels"),
            ),
            "one per output device, answering /audioldm/devices",
        ),
        Reply("/audioldm/devices_end", (), "after the last /audioldm/device"),
        Reply(
            "/audioldm/output_device",
            (Arg("index", INT, "device index"), Arg("name", STRING, "device name")),
            "the audition device now in use",
        ),
        Reply(
            "/audioldm/model",
            (
                Arg("name", STRING, "the model's name: its folder's name, or its hub id"),
                Arg("licence", STRING, 'e.g. MIT or CC BY-NC-SA 4.0; "" when nothing states it'),
                Arg("knows", STRING, 'what it was trained on (its knows.json kinds, comma-separated); "" if unsaid'),
                Arg("default", FLAG, "1 for the model `serve` uses when started without --model"),
                Arg("loaded", FLAG, "1 for the model this engine serves now"),
                Arg("model", STRING, "what `serve --model` takes for it: a folder path or the hub id"),
            ),
            "one per model, answering /audioldm/models",
        ),
        Reply("/audioldm/models_end", (), "after the last /audioldm/model"),
        Reply(
            "/audioldm/engine",
            (
                Arg("name", STRING, "the engine's name on the network (its host's, unless it was given one)"),
                Arg("url", STRING, "its base URL: what `serve --engine` and `send --engine` take"),
                Arg("model", STRING, 'the model it serves; "" when it does not say'),
                Arg("gpu", STRING, 'its GPU; "" for a CPU engine'),
            ),
            "one per engine found, answering /audioldm/engines",
        ),
        Reply("/audioldm/engines_end", (Arg("count", INT, "engines listed"),), "after the last /audioldm/engine"),
    )
}


# -- parsing requests ---------------------------------------------------------------------------------
@dataclass
class Request:
    """A request that fits the table: its spec, fixed argument values and options (by key)."""

    spec: Address
    values: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        v = self.values.get("job_id")
        return v if isinstance(v, str) else ""

    def request_values(self) -> dict[str, Any]:
        """The request parameters it carries, by field name (fixed arguments and options, not ``name``)."""
        out: dict[str, Any] = {}
        for arg in self.spec.args:
            if arg.field is not None and arg.name in self.values:
                out[arg.field] = self.values[arg.name]
        for key, value in self.options.items():
            field_name = OPTIONS[key].field
            if field_name is not None:
                out[field_name] = value
        return out

    def to_takes(self) -> list[GenerateRequest]:
        """The engine's requests for a generating address (``count`` takes with consecutive seeds, each
        resolved); ProtocolError with OSC names if they are refused."""
        assert self.spec.mode is not None, f"{self.spec.address} makes no clip"
        try:
            return build_takes(self.spec.mode, self.request_values())
        except InvalidRequest as exc:
            raise ProtocolError(self.job_id, exc.message(osc_name), self.spec.address) from None

    def to_request(self) -> GenerateRequest:
        """The one request of a generating address without ``count`` (its seed left as given)."""
        assert self.spec.mode is not None, f"{self.spec.address} makes no clip"
        try:
            return build_request(self.spec.mode, self.request_values())
        except InvalidRequest as exc:
            raise ProtocolError(self.job_id, exc.message(osc_name), self.spec.address) from None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "blob"
    if value is None:
        return "nil"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def shortest_float32(x: float) -> float:
    """The shortest decimal that is the same 32-bit float as ``x`` (x itself if it is no float32).

    OSC floats are 32-bit: a patch's 0.4 arrives as 0.4000000059604645. Taking the decimal the user typed
    keeps sidecars readable and recall exact (both values are the same float32).
    """
    try:
        f = _f32(x)
    except OverflowError:
        return x
    if f != x:
        return x
    for digits in range(1, 10):
        candidate = float(f"{x:.{digits}g}")
        if _f32(candidate) == f:
            return candidate
    return x


def coerce(arg: Arg, value: Any, where: str) -> Any:
    """Check one value against its spec and return it in canonical Python form; raise ValueError if not.

    Numbers come as OSC int or float interchangeably, so 3.0 is a valid ``steps``; the ranges are the
    engine's own, so a value that passes here is never rejected later for its range.
    """
    name = where or arg.name

    def bad(extra: str = "") -> ValueError:
        return ValueError(f"{name}: expected {arg.expected()}, got {_type_name(value)} {_shown(value)}{extra}")

    if arg.kind in (STRING, TEXT):
        if not isinstance(value, str):
            raise bad()
        if arg.choices is not None and value not in arg.choices:
            raise bad()
        return value
    if arg.kind == INDEX_OR_NAME:
        if isinstance(value, str) and value.strip():
            return value
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if number and float(value).is_integer() and value >= 0:
            return int(value)
        raise bad()
    if arg.kind == LEVEL and isinstance(value, str):
        if value.strip().lower() != P.OFF:
            raise bad()
        return None
    if arg.kind == FLAG:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int | float) and value in (0, 1):
            return int(value)
        raise bad()
    # INT / NUMBER
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad()
    if not math.isfinite(value):
        raise bad(" (not a finite number)")
    if arg.kind == INT:
        if not float(value).is_integer():
            raise bad(" (not a whole number)")
        value = int(value)
    else:
        value = shortest_float32(float(value))
    if arg.choices is not None and value not in arg.choices:
        raise bad()
    if (arg.lo is not None and value < arg.lo) or (arg.hi is not None and value > arg.hi):
        raise bad(" (out of range)")
    return value


def _parse_options(spec: Address, rest: Sequence[Any], first_index: int) -> dict[str, Any]:
    """``key value`` pairs -> {key: value}; raise ValueError naming the first thing that is wrong."""
    out: dict[str, Any] = {}
    for i in range(0, len(rest), 2):
        key = rest[i]
        pos = first_index + i + 1
        if not isinstance(key, str):
            raise ValueError(
                f"argument {pos}: expected an option key (a string such as duration), got "
                f"{_type_name(key)} {_shown(key)}"
            )
        if key not in OPTIONS:
            raise ValueError(
                f"option {key!r}: unknown key for {spec.address} (keys: {', '.join(spec.options)}); "
                "a prompt with spaces should be one OSC string"
            )
        if key not in spec.options:
            users = [a.address for a in ADDRESSES.values() if key in a.options]
            raise ValueError(f"option {key!r}: not an option of {spec.address} (it applies to {', '.join(users)})")
        if i + 1 >= len(rest):
            raise ValueError(f"option {key!r}: missing its value (options come as key value pairs)")
        if key in out:
            raise ValueError(f"option {key!r}: given twice")
        out[key] = coerce(OPTIONS[key], rest[i + 1], key)
    return out


def _split_prompt(spec: Address, prompt: Arg, rest: Sequence[Any], first_index: int) -> tuple[str | None, dict]:
    """Find where the prompt words end and the options begin.

    Max and Pd lists split an unquoted prompt into words, so the prompt is the leading run of strings up
    to the first option key that leaves an even number of arguments: "drum loop duration 4" is the
    prompt "drum loop" with duration 4, "kick loop 1" is "kick" with loop 1, "funky drum loop" is all
    prompt. The split is chosen by the keys alone, so a bad value ("steps ten") fails with its own
    message instead of quietly becoming part of the prompt. A prompt sent as one OSC string is always
    taken whole.
    """
    min_words = 0 if prompt.optional else 1
    max_words = 0
    while max_words < len(rest) and isinstance(rest[max_words], str):
        max_words += 1
    if max_words < min_words:
        if not rest:
            raise ValueError(f"{prompt.name}: missing (expected {prompt.expected()})")
        raise ValueError(f"{prompt.name}: expected {prompt.expected()}, got {_type_name(rest[0])} {_shown(rest[0])}")

    def starts_options(n: int) -> bool:
        return n == len(rest) or rest[n] in OPTIONS

    for n in range(min_words, max_words + 1):
        if (len(rest) - n) % 2 == 0 and starts_options(n):
            return (" ".join(rest[:n]) if n else None), _parse_options(spec, rest[n:], first_index + n)
    # No clean split: report the options as they stand from the first known key, else from the first
    # place where pairs could start (a misspelt key followed by a number lands here), else the end.
    cut = next((i for i in range(min_words, max_words) if rest[i] in OPTIONS), None)
    if cut is None:
        cut = next((i for i in range(min_words, max_words + 1) if (len(rest) - i) % 2 == 0), max_words)
    _parse_options(spec, rest[cut:], first_index + cut)
    raise ValueError(f"options: expected key value pairs after the {prompt.name}; usage: {spec.usage()}")


def parse_request(address: str, args: Sequence[Any]) -> Request:
    """Check a request against the table; raise :class:`ProtocolError` with a message a person can act on."""
    spec = ADDRESSES.get(address)
    if spec is None:
        near = [a for a in ADDRESSES if a.rsplit("/", 1)[-1] == address.rsplit("/", 1)[-1]]
        hint = f"; did you mean {near[0]}?" if near else f" (known: {', '.join(ADDRESSES)})"
        raise ProtocolError("", f"unknown address {_shown(address)}{hint}")
    job_id = ""
    if spec.args and spec.args[0].name == "job_id" and args and isinstance(args[0], str):
        job_id = args[0]
    try:
        values: dict[str, Any] = {}
        fixed = spec.fixed
        for i, arg in enumerate(fixed):
            if i >= len(args) and arg.optional:  # optional ones come last
                break
            if i >= len(args):
                raise ValueError(f"{arg.name}: missing (expected {arg.expected()}); usage: {spec.usage()}")
            values[arg.name] = coerce(arg, args[i], arg.name)
        rest = list(args[len(fixed) :])
        prompt = spec.prompt
        options: dict[str, Any] = {}
        if prompt is not None:
            text, options = _split_prompt(spec, prompt, rest, len(fixed))
            if text is not None:
                values[prompt.name] = text
        elif spec.options:
            options = _parse_options(spec, rest, len(fixed))
        elif rest:
            raise ValueError(f"{spec.address}: takes {len(fixed)} argument(s), got {len(args)}; usage: {spec.usage()}")
        if "job_id" in values and len(values["job_id"]) > MAX_JOB_ID_CHARS:
            raise ValueError(f"job_id: expected at most {MAX_JOB_ID_CHARS} characters, got {len(values['job_id'])}")
        for key in _FILE_OPTIONS:
            if key in options:
                check_name(options[key], key)
    except ValueError as exc:
        raise ProtocolError(job_id, str(exc), spec.address) from None
    return Request(spec, values, options)


def osc_name(field_name: str) -> str:
    """How OSC spells a request field (``sample_rate`` is ``sr``, ``start`` is ``start_s``)."""
    param = PARAMS.get(field_name)
    return param.name if param is not None else field_name


NAME_MAX_BYTES = 255  # one file or folder name, in UTF-8 bytes (NAME_MAX of Linux, macOS and Windows)
NAME_SUFFIX_ROOM = 40  # what a clip's file name adds to ``name``: "-2" per take and per clash, ".json.part"...


def check_name(name: str, key: str = "name") -> None:
    """``name`` (a file-name stem) and ``folder`` (one subfolder level): refuse paths, parent references,
    hidden names, control characters (a newline or tab in a folder name is a mistake, and breaks the
    lines of every tool that lists the folder), what Windows cannot store (its device names, trailing dots
    and spaces, and ``<>:"|?*`` in a folder; a name's are replaced by the engine's safe stem), on every
    system, so a session moved between systems finds its clips, and names longer than the file system
    takes, at the door, instead of guessing a meaning or failing after the job has run."""
    what = "a file-name stem" if key == "name" else "one folder name"
    if "/" in name or "\\" in name or name.strip() in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"{key}: expected {what} without slashes or a leading dot, got {_shown(name)}")
    bad = next((c for c in name if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise ValueError(
            f"{key}: expected {what} of printable characters, got {_shown(name)}, which holds the control or "
            f"invisible character U+{ord(bad):04X}; leave it out"
        )
    if name != name.rstrip(" ."):
        raise ValueError(
            f"{key}: expected {what} that does not end in a dot or a space (Windows drops them, so two names "
            f"would become one file), got {_shown(name)}; leave them out"
        )
    bad = next((c for c in name if c in '<>:"|?*'), None) if key == "folder" else None  # names: safe_stem's
    if bad is not None:
        raise ValueError(
            f'{key}: expected {what} without any of < > : " | ? * (Windows cannot store them in a folder name), '
            f"got {_shown(name)}; leave the {bad!r} out"
        )
    if windows_reserved(name):
        raise ValueError(
            f"{key}: {_shown(name)} is a device name on Windows (CON, PRN, AUX, NUL, COM1-9 and LPT1-9, with any "
            "extension, in any case), which no file there can take; choose another name"
        )
    limit = NAME_MAX_BYTES - (NAME_SUFFIX_ROOM if key == "name" else 0)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValueError(
            f"{key}: expected {what} of at most {limit} bytes (in UTF-8), got {size} bytes ({_shown(name)}); "
            "use a shorter one"
        )


# -- patch shapes -------------------------------------------------------------------------------------
class Placeholder:
    """An argument a patch fills in at run time (``$1`` in Max/Pd): any type may arrive there."""

    def __repr__(self) -> str:
        return "$"


ANY = Placeholder()


def check_shape(address: str, args: Sequence[Any]) -> list[str]:
    """Problems with a message a patch sends, where some arguments are :data:`ANY` (run-time values).

    Literal arguments are checked as the server would check them; placeholders match any argument,
    and a placeholder in a prompt's place stands for the whole prompt.
    """
    spec = ADDRESSES.get(address)
    if spec is None:
        return [f"{address}: not a request address of the protocol"]
    problems: list[str] = []
    fixed = spec.fixed
    if len(args) < len([a for a in fixed if not a.optional]):
        names = ", ".join(a.name for a in fixed[len(args) :] if not a.optional)
        problems.append(f"{address}: missing {names}; usage: {spec.usage()}")
    for arg, value in zip(fixed, args, strict=False):
        if value is ANY:
            continue
        try:
            coerce(arg, value, arg.name)
        except ValueError as exc:
            problems.append(f"{address}: {exc}")
    rest = list(args[len(fixed) :])
    prompt = spec.prompt
    if prompt is not None and rest:
        take = 1 if not prompt.optional or len(rest) % 2 == 1 else 0
        if take and rest[0] is not ANY and not isinstance(rest[0], str):
            problems.append(f"{address}: {prompt.name}: expected a string, got {_shown(rest[0])}")
        rest = rest[take:]
    elif prompt is not None and not prompt.optional and len(args) >= len(fixed):
        problems.append(f"{address}: missing {prompt.name}; usage: {spec.usage()}")
    if rest and not spec.options:
        problems.append(f"{address}: takes no options, got {len(rest)} extra argument(s)")
        return problems
    if len(rest) % 2:
        problems.append(f"{address}: options must come as key value pairs, got {len(rest)} argument(s)")
    for i in range(0, len(rest) - 1, 2):
        key, value = rest[i], rest[i + 1]
        if key is ANY:
            continue
        if not isinstance(key, str) or key not in spec.options:
            problems.append(f"{address}: {_shown(key)} is not an option of {address}")
            continue
        if value is not ANY:
            try:
                coerce(OPTIONS[key], value, key)
            except ValueError as exc:
                problems.append(f"{address}: {exc}")
    return problems
