"""Every request parameter, declared once: name as users type it, type, default, range, doc, modes.

The engine's validation (:mod:`audioldm_daw.engine.request`), the command line's options
(``bridge/cli/options.py``), the OSC table (``bridge/protocol.py``) and ``docs/OSC.md`` are all derived from
:data:`PARAMS`, so the three doors accept the same set with the same ranges and cannot drift. This module
imports nothing heavy: the command line builds its parser from it before torch is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from audioldm_daw.engine.errors import InvalidRequest

# The request modes, in the order the doors list them. Each is a source class in request.py.
MODES = ("generate", "variation", "transfer", "inpaint", "upsample", "continue")
INPUT_MODES = MODES[1:]
LENGTH_MODES = ("generate", "variation")  # the modes whose length the caller chooses (others follow the input)
# The edits of a take: what they do not change is the input's own samples, so by default they also keep its rate,
# sample format and level (no peak normalisation of kept audio).
EDIT_MODES = ("inpaint", "continue", "upsample")

SCHEDULERS = ("ddim", "dpm")
# Every rate a DAW or Pd session commonly runs at, so a clip can match its host (Pd plays a table at its own
# rate, whatever the file's); a set rather than a range, so that a typo such as 44000 is caught.
OUTPUT_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
SAMPLE_FORMATS = ("float32", "pcm24", "pcm16")
MIN_DURATION_S = 0.5
MAX_DURATION_S = 60.0  # the longest clip made in one piece (generate, a continuation, an inpainted span)
MAX_INPUT_SECONDS = 20 * 60.0  # the longest take the manipulations read (edits work on a window of it)
DEFAULT_DURATION_S = 10.0
MAX_SEED = 2**63 - 1
OFF = "off"  # the word that turns peak normalisation off on the doors that cannot send None

# Kinds of value. A door maps each to its own wire form (argparse type, OSC type tag).
TEXT = "text"  # a prompt: free text (several OSC words are joined)
PATH = "path"  # a file path
STRING = "string"
INT = "int"  # whole number; 3.0 is accepted as 3 (Pd sends every number as a float)
NUMBER = "number"
FLAG = "flag"  # true/false; 0/1 on OSC
CHOICE = "choice"  # one of ``choices`` (strings, or ints for sample rates)
LEVEL = "level"  # a number in range, or "off" (None)

KIND_WORDS = {
    TEXT: "a string",
    PATH: "the path of an audio file",
    STRING: "a string",
    INT: "an integer",
    NUMBER: "a number",
    FLAG: "0 or 1",
    CHOICE: "one of",
    LEVEL: "a number",
}


@dataclass(frozen=True)
class Param:
    """One request parameter.

    ``field`` is its Python name (a keyword of :class:`GenerateRequest` or of a source class), ``name``
    the name people type on the command line (``--name``) and over OSC (``name value``). ``positional``
    parameters are the fixed arguments of a mode (its input, span, prompt) rather than options.
    ``source`` parameters live on the mode's source object, the others on the request itself.
    """

    field: str
    name: str
    kind: str
    doc: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    modes: tuple[str, ...] = MODES
    positional: bool = False
    source: bool = False
    door: bool = False  # not a field of the request: the door acts on it (a preset, a number of takes)
    auto: bool = False  # None is allowed and means "the engine decides" (recorded resolved in the sidecar)
    shown_default: str | None = None  # the default in words, where ``default`` is None but means something
    when_optional: str = ""  # what leaving out a positional parameter does, where a mode makes it optional
    mode_defaults: tuple[tuple[str, Any], ...] = ()  # (mode, default) where a mode's default differs from ``default``

    def default_for(self, mode: str) -> Any:
        """The default of this parameter for ``mode`` (the edits keep the input's rate, format and level)."""
        return dict(self.mode_defaults).get(mode, self.default)

    def expected(self) -> str:
        """What a valid value looks like, in words (used in error messages and the docs)."""
        return expected_text(KIND_WORDS[self.kind], self.lo, self.hi, self.choices, self.kind == LEVEL)

    def default_text(self) -> str:
        """The default as the docs and ``--help`` show it."""
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None:
            return ""
        if self.kind == FLAG:
            return "1" if self.default else "0"
        return repr(self.default) if self.default == "" else str(self.default)

    def applies_to(self, mode: str) -> bool:
        return mode in self.modes

    def check(self, value: Any) -> Any:
        """``value`` in canonical form (int, float, bool, str or None), or InvalidRequest naming the field."""
        if value is None and (self.default is None or self.kind == LEVEL or self.auto):
            return None
        if self.kind in (TEXT, PATH, STRING):
            if not isinstance(value, str):
                raise self.bad(value)
            return value
        if self.kind == FLAG:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            raise self.bad(value)
        if self.kind == CHOICE:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            for c in self.choices or ():
                if ((isinstance(c, str) and isinstance(value, str)) or (isinstance(c, int) and number)) and value == c:
                    return c
            raise self.bad(value)
        if self.kind == LEVEL and isinstance(value, str) and value.strip().lower() == OFF:
            return None
        return self._number(value)

    def _number(self, value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.bad(value)
        if not math.isfinite(value):
            raise self.bad(value, " (not a finite number)")
        given = value
        if self.kind == INT:
            if not float(value).is_integer():
                raise self.bad(value, " (not a whole number)")
            value = int(value)  # ints compare exactly (a float loses precision near 2**63)
        else:
            value = float(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise self.bad(given, " (out of range)")
        return value

    def bad(self, value: Any, extra: str = "") -> InvalidRequest:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        kind = type(value).__name__ if value is not None else "nothing"
        return InvalidRequest.about(self.field, f"expected {self.expected()}, got {kind} {shown}{extra}")

    def not_for(self, mode: str) -> InvalidRequest:
        """The error for a parameter given to a mode it means nothing for."""
        modes = [m for m in MODES if m in self.modes]
        users = modes[0] if len(modes) == 1 else f"{', '.join(modes[:-1])} and {modes[-1]}"
        return InvalidRequest.about(self.field, f"applies to {users}, not to {mode}")


def expected_text(
    words: str, lo: float | None, hi: float | None, choices: tuple[Any, ...] | None, or_off: bool = False
) -> str:
    """A value's expected form in words: "one of a, b", "an integer in 1..1000", "a number in -60..0 or off".
    Shared with the OSC table, whose non-request arguments (ports, device indexes) read the same way."""
    if choices is not None:
        return "one of " + ", ".join(str(c) for c in choices)
    if lo is not None and hi is not None:
        words = f"{words} in {_num(lo)}..{_num(hi)}"
    elif lo is not None:
        words = f"{words} >= {_num(lo)}"
    return f"{words} or {OFF}" if or_off else words


def _num(x: float) -> str:
    if x == MAX_SEED:
        return "2^63-1"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_TEMPO_MODES = LENGTH_MODES

PARAMS: dict[str, Param] = {
    p.field: p
    for p in (
        # -- what the clip is made from (the mode's source) ----------------------------------------
        Param(
            "input_path",
            "input_path",
            PATH,
            "the input audio file (WAV, FLAC, AIFF, OGG; any rate and channel count)",
            modes=INPUT_MODES,
            positional=True,
            source=True,
        ),
        Param(
            "start",
            "start_s",
            NUMBER,
            "start of the span to regenerate, seconds",
            lo=0,
            hi=MAX_INPUT_SECONDS,
            modes=("inpaint",),
            positional=True,
            source=True,
        ),
        Param(
            "end",
            "end_s",
            NUMBER,
            "end of the span to regenerate, seconds (after start_s, at most the input's end)",
            lo=0,
            hi=MAX_INPUT_SECONDS,
            modes=("inpaint",),
            positional=True,
            source=True,
        ),
        Param(
            "seconds",
            "seconds",
            NUMBER,
            "how many seconds to add after the input",
            lo=MIN_DURATION_S,
            hi=MAX_DURATION_S,
            modes=("continue",),
            positional=True,
            source=True,
        ),
        Param(
            "prompt",
            "prompt",
            TEXT,
            "what the result should sound like",
            modes=("generate", "transfer", "inpaint", "upsample", "continue"),
            positional=True,
            source=True,
            when_optional="without it, the input's own CLAP audio embedding guides the new audio",
        ),
        Param(
            "strength",
            "strength",
            NUMBER,
            "how far to move away from the input: 0 keeps it, 1 ignores it",
            default=0.5,
            lo=0,
            hi=1,
            modes=("transfer",),
            source=True,
        ),
        Param(
            "cutoff_hz",
            "cutoff",
            NUMBER,
            "band limit of the input in Hz, above which the band is regenerated",
            lo=500,
            hi=8000,
            modes=("upsample",),
            source=True,
            shown_default="detected",
        ),
        Param(
            "crossfade_ms",
            "crossfade",
            NUMBER,
            "length of each crossfade between kept and new audio, milliseconds; it lies inside the new part "
            "(at most a quarter of an inpainted span)",
            default=20.0,
            lo=0,
            hi=1000,
            modes=("inpaint", "continue"),
            source=True,
        ),
        # -- length ------------------------------------------------------------------------------
        Param(
            "duration",
            "duration",
            NUMBER,
            "length in seconds (variation without it, and the other modes: the input's length)",
            lo=MIN_DURATION_S,
            hi=MAX_DURATION_S,
            modes=LENGTH_MODES,
            shown_default=f"{DEFAULT_DURATION_S:g}",
        ),
        Param(
            "bpm",
            "bpm",
            NUMBER,
            "tempo; with bars, length = bars * beats * 60 / bpm",
            lo=20,
            hi=400,
            modes=_TEMPO_MODES,
        ),
        Param("bars", "bars", NUMBER, "length in bars at bpm", lo=0.25, hi=256, modes=_TEMPO_MODES),
        Param("beats_per_bar", "beats", NUMBER, "beats per bar", default=4.0, lo=1, hi=32, modes=_TEMPO_MODES),
        Param(
            "loop", "loop", FLAG, "a seamless loop (the end flows into the start)", default=False, modes=LENGTH_MODES
        ),
        Param(
            "fit",
            "fit",
            FLAG,
            "with bpm: put a rhythmic clip on the tempo's grid, hit by hit, and start it on a beat (a clip "
            "without a clear beat stays unstretched, tagged one-shot)",
            default=True,
            modes=_TEMPO_MODES,
        ),
        # -- sampling ----------------------------------------------------------------------------
        Param("steps", "steps", INT, "denoising steps", default=50, lo=1, hi=1000),
        Param("guidance", "guidance", NUMBER, "classifier-free guidance scale", default=2.5, lo=0, hi=20),
        Param(
            "seed",
            "seed",
            INT,
            "random seed of the initial noise; drawn when absent and always reported",
            lo=0,
            hi=MAX_SEED,
            shown_default="random, reported",
        ),
        Param("negative", "negative", STRING, "negative prompt (what to steer away from)", default=""),
        Param("scheduler", "scheduler", CHOICE, "sampler (dpm: DPM-Solver++ 2M)", default="ddim", choices=SCHEDULERS),
        Param(
            "eta",
            "eta",
            NUMBER,
            "DDIM eta (0: deterministic DDIM, 1: the original AudioLDM's)",
            default=0.0,
            lo=0,
            hi=1,
        ),
        Param(
            "candidates",
            "candidates",
            INT,
            "make K and keep the one CLAP scores closest to the prompt (to the input, without a prompt)",
            default=1,
            lo=1,
            hi=8,
            auto=True,
        ),
        # -- what the door does with the request -------------------------------------------------
        Param(
            "preset",
            "preset",
            CHOICE,
            "original: the original AudioLDM's sampling (200 DDIM steps, eta 1, guidance 2.5, 3 candidates "
            "ranked by CLAP where the model has an audio tower); options given as well override it",
            default="default",
            choices=("default", "original"),
            door=True,
        ),
        Param(
            "count",
            "count",
            INT,
            "render N takes with consecutive seeds, each its own clip and sidecar",
            default=1,
            lo=1,
            hi=64,
            door=True,
        ),
        # -- output ------------------------------------------------------------------------------
        Param(
            "sample_rate",
            "sr",
            CHOICE,
            "output sample rate in Hz",
            default=48000,
            choices=OUTPUT_SAMPLE_RATES,
            auto=True,
            mode_defaults=tuple((m, None) for m in EDIT_MODES),
            shown_default="48000; inpaint, continue, upsample: the input's (upsample of a file below 16000 Hz: 48000)",
        ),
        Param(
            "sample_format",
            "format",
            CHOICE,
            "WAV sample format",
            default="float32",
            choices=SAMPLE_FORMATS,
            auto=True,
            mode_defaults=tuple((m, None) for m in EDIT_MODES),
            shown_default="float32; inpaint, continue, upsample: the input's",
        ),
        Param(
            "normalize_db",
            "normalize",
            LEVEL,
            f"peak level in dBFS ({OFF}: keep the model's level)",
            default=-1.0,
            lo=-60,
            hi=0,
            mode_defaults=tuple((m, None) for m in EDIT_MODES),
            shown_default=f"-1; inpaint, continue, upsample: {OFF} (the take keeps its level)",
        ),
        Param(
            "full_band",
            "fullband",
            FLAG,
            "at rates above 16000 Hz, add the band from the model's 8 kHz up to the Nyquist frequency (a learned "
            "envelope over the clip's own upper partials and noise from the seed); inpaint and continue add it up to "
            "the band the take has, upsample above the band the take and the model give",
            default=True,
        ),
    )
}

#: The fields of the request itself (not of a source), in declaration order.
REQUEST_FIELDS = tuple(f for f, p in PARAMS.items() if not p.source and not p.door)
DOOR_FIELDS = tuple(f for f, p in PARAMS.items() if p.door)

#: What ``preset original`` sets (the original AudioLDM's sampling), unless the caller gives a value.
#: ``candidates`` None: three, ranked by CLAP, where the model has an audio tower to rank them; else one.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "original": {"steps": 200, "eta": 1.0, "guidance": 2.5, "candidates": None, "scheduler": "ddim"},
}
ORIGINAL_CANDIDATES = 3


def params_for(mode: str) -> tuple[Param, ...]:
    """The parameters that mean something for ``mode``, in declaration order."""
    if mode not in MODES:
        raise InvalidRequest(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return tuple(p for p in PARAMS.values() if p.applies_to(mode))


def by_name(name: str) -> Param | None:
    """The parameter a door calls ``name`` (``sr``, ``start_s``, ...)."""
    return next((p for p in PARAMS.values() if p.name == name), None)
