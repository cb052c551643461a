"""Request dataclasses, validated once at the door.

A request holds every parameter that determines a clip. Validation lives here, not in the CLI or the
OSC server, so both doors reject the same inputs with the same messages.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

from audioldm_daw.engine.errors import InvalidRequest

SCHEDULERS = ("ddim", "dpm")
MODES = ("generate", "variation", "transfer", "inpaint", "upsample", "continue")
OUTPUT_SAMPLE_RATES = (16000, 22050, 44100, 48000)
SAMPLE_FORMATS = ("float32", "pcm24", "pcm16")
MIN_DURATION_S = 0.5
MAX_DURATION_S = 60.0
MAX_SEED = 2**63 - 1


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    """Coerce an int/float (OSC clients send either) and reject NaN, inf and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"{name}: expected {kind}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise InvalidRequest(f"{name}: expected a finite number, got {value!r}")
    if integer and isinstance(value, float) and not value.is_integer():
        raise InvalidRequest(f"{name}: expected an integer, got {value!r}")
    return float(value)


def check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> float:
    """Return ``value`` as float if it is a finite number in ``[lo, hi]``; raise a readable error if not."""
    v = _number(name, value, integer=integer)
    exact = int(value) if integer else v  # ints compare exactly (a float loses precision near 2**63)
    if not lo <= exact <= hi:
        shown = f"{int(lo)}..{int(hi)}" if integer else f"{lo:g}..{hi:g}"
        raise InvalidRequest(f"{name}: expected {shown}, got {value!r}")
    return v


def duration_from_tempo(bpm: float, bars: float, beats_per_bar: float = 4) -> float:
    """Length in seconds of ``bars`` bars at ``bpm`` (quarter-note beats): bars * beats * 60 / bpm."""
    check_range("bpm", bpm, 20, 400)
    check_range("bars", bars, 0.25, 256)
    check_range("beats", beats_per_bar, 1, 32)
    return bars * beats_per_bar * 60.0 / bpm


def draw_seed() -> int:
    """A fresh random seed for a request that gave none (always reported back to the user)."""
    return random.SystemRandom().randrange(0, 2**31)


@dataclass(frozen=True)
class GenerateRequest:
    """Everything that determines a text-to-audio clip.

    ``seed`` None means "draw one"; :meth:`resolved` returns a copy with the seed filled in so that the
    sidecar always records the seed that was actually used.
    """

    prompt: str
    duration: float = 10.0
    steps: int = 50
    guidance: float = 2.5
    seed: int | None = None
    negative: str = ""
    scheduler: str = "ddim"
    eta: float = 0.0
    candidates: int = 1
    sample_rate: int = 48000
    normalize_db: float | None = -1.0
    sample_format: str = "float32"
    loop: bool = False
    bpm: float | None = None
    bars: float | None = None
    beats_per_bar: float = 4.0
    mode: str = "generate"
    input_path: str | None = None
    strength: float = 0.5
    span_start: float | None = None
    span_end: float | None = None
    cutoff_hz: float | None = None
    extend_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise InvalidRequest(f"prompt: expected a string, got {type(self.prompt).__name__}")
        if not isinstance(self.negative, str):
            raise InvalidRequest(f"negative: expected a string, got {type(self.negative).__name__}")
        if (self.bpm is None) != (self.bars is None):
            raise InvalidRequest("bpm and bars: give both (duration = bars * beats * 60 / bpm) or neither")
        if self.bpm is not None:
            object.__setattr__(self, "duration", duration_from_tempo(self.bpm, self.bars, self.beats_per_bar))
        check_range("duration", self.duration, MIN_DURATION_S, MAX_DURATION_S)
        object.__setattr__(self, "duration", float(self.duration))
        object.__setattr__(self, "steps", int(check_range("steps", self.steps, 1, 1000, integer=True)))
        object.__setattr__(self, "guidance", check_range("guidance", self.guidance, 0, 20))
        object.__setattr__(self, "eta", check_range("eta", self.eta, 0, 1))
        cands = int(check_range("candidates", self.candidates, 1, 8, integer=True))
        object.__setattr__(self, "candidates", cands)
        if self.seed is not None:
            check_range("seed", self.seed, 0, MAX_SEED, integer=True)
            object.__setattr__(self, "seed", int(self.seed))
        if self.scheduler not in SCHEDULERS:
            raise InvalidRequest(f"scheduler: expected one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        sr = _number("sr", self.sample_rate, integer=True)
        if int(sr) not in OUTPUT_SAMPLE_RATES:
            rates = ", ".join(str(r) for r in OUTPUT_SAMPLE_RATES)
            raise InvalidRequest(f"sr: expected one of {rates}, got {self.sample_rate!r}")
        object.__setattr__(self, "sample_rate", int(sr))
        if self.normalize_db is not None:
            object.__setattr__(self, "normalize_db", check_range("normalize", self.normalize_db, -60, 0))
        if self.sample_format not in SAMPLE_FORMATS:
            raise InvalidRequest(f"format: expected one of {', '.join(SAMPLE_FORMATS)}, got {self.sample_format!r}")

        if self.mode not in MODES:
            raise InvalidRequest(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode != "generate" and not self.input_path:
            raise InvalidRequest(f"input_path: {self.mode} needs an input audio file")
        object.__setattr__(self, "strength", check_range("strength", self.strength, 0, 1))
        if self.mode == "inpaint":
            if self.span_start is None or self.span_end is None:
                raise InvalidRequest("start_s and end_s: inpaint needs the span to regenerate, in seconds")
            a = check_range("start_s", self.span_start, 0, MAX_DURATION_S)
            b = check_range("end_s", self.span_end, 0, MAX_DURATION_S)
            if b <= a:
                raise InvalidRequest(f"end_s: expected a time after start_s ({a:g}), got {b:g}")
        if self.cutoff_hz is not None:
            check_range("cutoff", self.cutoff_hz, 500, 8000)
        if self.mode == "continue":
            if self.extend_s is None:
                raise InvalidRequest("seconds: continue needs how many seconds to add")
            check_range("seconds", self.extend_s, 0.5, MAX_DURATION_S)

    def resolved(self) -> GenerateRequest:
        """A copy whose seed is set (drawn now if it was missing)."""
        return self if self.seed is not None else replace(self, seed=draw_seed())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written to the sidecar."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerateRequest:
        """Rebuild a request from :meth:`to_dict` output (unknown keys are rejected, not ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidRequest(f"unknown request fields: {', '.join(unknown)}")
        return cls(**data)
