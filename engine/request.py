"""Requests: what a clip is made from (a typed source per mode) and how (the shared parameters).

Validation lives here, once, for every door: the command line, the OSC server and Python callers build
the same :class:`GenerateRequest` and get the same refusals, before any model work. Ranges, defaults and
which modes a parameter applies to come from :data:`audioldm_daw.engine.params.PARAMS`. This module
imports nothing heavy, so a door can refuse a bad argument before torch is loaded.

Example::

    GenerateRequest("warm analog pad", duration=8, seed=1)                  # text-to-audio
    GenerateRequest(Inpaint("take.wav", start=2.0, end=3.5, prompt="a cymbal swell"), steps=100)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any, ClassVar, cast

from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.params import (
    DEFAULT_DURATION_S,
    EDIT_MODES,
    LENGTH_MODES,
    LEVEL,
    MAX_DURATION_S,
    MAX_INPUT_SECONDS,
    MAX_SEED,
    MIN_DURATION_S,
    MODES,
    OUTPUT_SAMPLE_RATES,
    PARAMS,
    PRESETS,
    REQUEST_FIELDS,
    SAMPLE_FORMATS,
    SCHEDULERS,
)

__all__ = [
    "MAX_DURATION_S",
    "MAX_SEED",
    "MIN_DURATION_S",
    "MODES",
    "OUTPUT_SAMPLE_RATES",
    "SAMPLE_FORMATS",
    "SCHEDULERS",
    "SOURCES",
    "Continuation",
    "GenerateRequest",
    "Inpaint",
    "Source",
    "TextToAudio",
    "Transfer",
    "Upsample",
    "Variation",
    "build_request",
    "build_takes",
    "draw_seed",
    "duration_from_tempo",
]


def duration_from_tempo(bpm: float, bars: float, beats_per_bar: float = 4) -> float:
    """Length in seconds of ``bars`` bars at ``bpm`` (quarter-note beats): bars * beats * 60 / bpm."""
    bpm = PARAMS["bpm"].check(bpm)
    bars = PARAMS["bars"].check(bars)
    beats = PARAMS["beats_per_bar"].check(beats_per_bar)
    return bars * beats * 60.0 / bpm


#: How the engine turns a request into numbers. 1: before version 0.2 (latent length rounded up to the UNet's
#: multiple, "leading" DDIM spacing up to 500 steps, input audio at its own level); 2: diffusers' latent length,
#: "trailing" spacing at step counts that do not divide the schedule, input audio DC-removed and normalised as
#: the original AudioLDM does; 3: the edits keep the take (inpaint, continue and upsample return the input's own
#: samples outside what they change, at its rate, format and level, and work on a window of a long take; a
#: variation without a length takes the input's). Sidecars record it, so a clip recalls exactly under the rules
#: that made it.
RECIPE = 3
RECIPES = (1, 2, 3)
#: Each crossfade of an inpainted span is at most this part of the span, so both lie inside it.
MAX_CROSSFADE_PART = 0.25
#: The end of a span may pass the input's end by this much (float rounding of a length a DAW computed).
SPAN_END_SLACK_S = 1e-4


def draw_seed() -> int:
    """A fresh random seed for a request that gave none (always reported back to the user)."""
    return random.SystemRandom().randrange(0, 2**31)


def _nonblank(field: str, value: str, what: str) -> None:
    if not value.strip():
        raise InvalidRequest.about(field, f"expected {what}, got an empty string")


# -- sources ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """What a clip is made from. Each mode is a subclass whose fields are parameters of :data:`PARAMS`;
    it checks them and its own cross-field rules when built, and says what candidates are ranked against.
    How each source sets up the denoising loop lives in ``plans.py`` (which needs torch)."""

    mode: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, PARAMS[f.name].check(getattr(self, f.name)))
        self._check()

    def _check(self) -> None:
        """Cross-field rules of the mode (override)."""

    @property
    def text(self) -> str:
        """The prompt that conditions the clip ("" when the mode has none or none was given)."""
        return str(getattr(self, "prompt", ""))

    @property
    def ranked_by_prompt(self) -> bool:
        """Candidates are ranked by CLAP similarity to the prompt; without one, to the input audio."""
        return bool(self.text.strip())

    def check_input(self, seconds: float, cell_seconds: float = 0.0) -> None:
        """Rules that need the input's length (override), and the model's latent cell where one is loaded;
        called before any model work."""

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, **asdict(self)}


@dataclass(frozen=True)
class TextToAudio(Source):
    """The paper's text-to-audio: noise denoised under the prompt's CLAP text embedding."""

    mode: ClassVar[str] = "generate"
    prompt: str

    def _check(self) -> None:
        _nonblank("prompt", self.prompt, "what the clip should sound like")


@dataclass(frozen=True)
class InputSource(Source):
    """A mode that works on an input clip (every mode but text-to-audio); its path comes first."""

    input_path: str

    def _check(self) -> None:
        _nonblank("input_path", self.input_path, "the path of an audio file")


@dataclass(frozen=True)
class Variation(InputSource):
    """New audio in the spirit of the input: conditioned on the input's CLAP audio embedding."""

    mode: ClassVar[str] = "variation"


@dataclass(frozen=True)
class Transfer(InputSource):
    """Style transfer: the input's latent noised to ``strength``, then denoised under the prompt."""

    mode: ClassVar[str] = "transfer"
    prompt: str
    strength: float = PARAMS["strength"].default

    def _check(self) -> None:
        super()._check()
        _nonblank("prompt", self.prompt, "the style to move the input towards")


@dataclass(frozen=True)
class Inpaint(InputSource):
    """Regenerate ``start``..``end`` seconds of the input and keep the rest, sample for sample (prompt
    optional); the new audio meets the kept audio through ``crossfade_ms`` crossfades inside the span."""

    mode: ClassVar[str] = "inpaint"
    start: float
    end: float
    prompt: str = ""
    crossfade_ms: float = PARAMS["crossfade_ms"].default

    def _check(self) -> None:
        super()._check()
        if self.end <= self.start:
            raise InvalidRequest.about(
                "end", f"expected a time after {{0}} ({self.start:g}), got {self.end:g}", ["start"]
            )

    def check_input(self, seconds: float, cell_seconds: float = 0.0) -> None:
        """The span lies inside the input, is at least one latent cell (``cell_seconds``, the model's) long,
        leaves some of the take to keep, and is not longer than one clip the model makes."""
        if self.start >= seconds:
            raise InvalidRequest.about("start", f"{self.start:g} is past the input's end ({seconds:.3f} s)")
        if self.end > seconds + SPAN_END_SLACK_S:
            raise InvalidRequest.about(
                "end",
                f"{self.end:g} is past the input's end ({seconds:.3f} s); expected a span inside the input",
            )
        span = min(self.end, seconds) - self.start
        if span < cell_seconds:
            raise InvalidRequest.about(
                "end",
                f"the span {{0}}..{{1}} is {span * 1000:.1f} ms long, shorter than one latent cell of the model "
                f"({cell_seconds * 1000:.0f} ms); expected a longer span",
                ["start", "end"],
            )
        if self.start + max(seconds - self.end, 0.0) < max(cell_seconds, SPAN_END_SLACK_S):
            raise InvalidRequest.about(
                "end",
                f"the span {{0}}..{{1}} covers the whole input ({seconds:.3f} s), leaving nothing to keep; to "
                "remake the whole take use transfer (strength 1 ignores the input)",
                ["start", "end"],
            )
        if span > MAX_DURATION_S:
            raise InvalidRequest.about(
                "end",
                f"the span {{0}}..{{1}} is {span:.1f} s long, expected at most {MAX_DURATION_S:g} s; regenerate "
                "a longer passage in several spans",
                ["start", "end"],
            )


@dataclass(frozen=True)
class Upsample(InputSource):
    """Audio super-resolution: keep the input's band below the cutoff, generate the band above it."""

    mode: ClassVar[str] = "upsample"
    prompt: str = ""
    cutoff_hz: float | None = None


@dataclass(frozen=True)
class Continuation(InputSource):
    """Extend the input by ``seconds``: inpainting of a span appended after it (prompt optional)."""

    mode: ClassVar[str] = "continue"
    seconds: float
    prompt: str = ""
    crossfade_ms: float = PARAMS["crossfade_ms"].default

    def check_input(self, seconds: float, cell_seconds: float = 0.0) -> None:
        total = seconds + self.seconds
        if total > MAX_INPUT_SECONDS:
            raise InvalidRequest.about(
                "seconds",
                f"input plus extension is {total / 60:.1f} minutes, expected at most {MAX_INPUT_SECONDS / 60:g} "
                "minutes",
            )


SOURCES: dict[str, type[Source]] = {
    cls.mode: cls for cls in (TextToAudio, Variation, Transfer, Inpaint, Upsample, Continuation)
}
assert tuple(SOURCES) == MODES


# -- the request ------------------------------------------------------------------------------------
def _default(field: str) -> Any:
    return PARAMS[field].default


class _ModeDefault:
    """The default of a field whose default depends on the mode (see ``Param.mode_defaults``)."""

    def __repr__(self) -> str:
        return "<the mode's default>"


MODE_DEFAULT: Any = _ModeDefault()


@dataclass(frozen=True)
class GenerateRequest:
    """Everything that determines a clip: its source (a prompt string is shorthand for
    :class:`TextToAudio`) and the shared parameters.

    ``seed`` None means "draw one"; :meth:`resolved` returns a copy with the seed filled in so that the
    sidecar always records the seed that was actually used. ``duration`` None means the default length
    (or ``bars`` at ``bpm``); giving both a duration and a tempo is refused, not resolved silently.
    """

    source: Source | str
    duration: float | None = _default("duration")
    bpm: float | None = _default("bpm")
    bars: float | None = _default("bars")
    beats_per_bar: float = _default("beats_per_bar")
    loop: bool = _default("loop")
    fit: bool = _default("fit")
    steps: int = _default("steps")
    guidance: float = _default("guidance")
    seed: int | None = _default("seed")
    negative: str = _default("negative")
    scheduler: str = _default("scheduler")
    eta: float = _default("eta")
    candidates: int = _default("candidates")
    sample_rate: int | None = MODE_DEFAULT  # None: the input's (the edits); see Param.mode_defaults
    sample_format: str | None = MODE_DEFAULT
    normalize_db: float | None = MODE_DEFAULT
    full_band: bool = _default("full_band")
    recipe: int = RECIPE

    def __post_init__(self) -> None:
        source = TextToAudio(self.source) if isinstance(self.source, str) else self.source
        if not isinstance(source, Source):
            raise InvalidRequest.about(
                "source", f"expected a prompt string or one of {', '.join(c.__name__ for c in SOURCES.values())}"
            )
        object.__setattr__(self, "source", source)
        if self.recipe not in RECIPES or isinstance(self.recipe, bool):
            raise InvalidRequest.about("recipe", f"expected one of {', '.join(map(str, RECIPES))}, got {self.recipe!r}")
        for name in REQUEST_FIELDS:
            param = PARAMS[name]
            value = getattr(self, name)
            if value is MODE_DEFAULT:  # the edits of recipe 3 keep the take's rate, format and level
                value = param.default_for(source.mode) if self.recipe >= 3 else param.default
            elif value is None and param.mode_defaults and param.kind != LEVEL and param.default_for(source.mode):
                raise InvalidRequest.about(
                    name,
                    f"the input's applies to {', '.join(EDIT_MODES)}, not to {source.mode}; expected "
                    f"{param.expected()}",
                )
            value = param.check(value)
            if not param.applies_to(source.mode) and value != param.default:
                raise param.not_for(source.mode)
            object.__setattr__(self, name, value)
        if (self.bpm is None) != (self.bars is None):
            raise InvalidRequest.about(
                "bpm", "give both {0} and {1} (length = bars * beats * 60 / bpm) or neither", ["bpm", "bars"]
            )
        if self.bpm is not None and self.duration is not None:
            raise InvalidRequest.about(
                "duration", "give either {0} or {1} and {2}, not both", ["duration", "bpm", "bars"]
            )
        seconds = self.seconds
        if seconds is not None and not MIN_DURATION_S <= seconds <= MAX_DURATION_S:
            raise InvalidRequest.about(
                "bars",
                f"{{0}} at {{1}} make {seconds:.3f} s, expected {MIN_DURATION_S:g}..{MAX_DURATION_S:g} s",
                ["bars", "bpm"],
            )

    # -- what the source says ---------------------------------------------------------------------
    @property
    def typed_source(self) -> Source:
        """``source`` as built: a prompt string given to the constructor is a :class:`TextToAudio` here."""
        return cast(Source, self.source)

    @property
    def mode(self) -> str:
        """The source's mode name (``generate``, ``variation``, ...), for people and file names."""
        return self.typed_source.mode

    @property
    def prompt(self) -> str:
        """The conditioning prompt ("" when the mode has none)."""
        return self.typed_source.text

    @property
    def input_path(self) -> str | None:
        source = self.typed_source
        return source.input_path if isinstance(source, InputSource) else None

    @property
    def seconds(self) -> float | None:
        """The clip's length where the caller chooses it (text-to-audio, variation with a length); None where
        it follows the input."""
        if self.mode not in LENGTH_MODES:
            return None
        if self.duration is not None:
            return self.duration
        if self.bpm is not None:
            return duration_from_tempo(self.bpm, self.bars, self.beats_per_bar)  # type: ignore[arg-type]
        if self.mode == "variation" and self.recipe >= 3:
            return None  # the input's length (recipe 2 made the default length)
        return DEFAULT_DURATION_S

    # -- copies and JSON --------------------------------------------------------------------------
    def resolved(self) -> GenerateRequest:
        """A copy whose seed is set (drawn now if it was missing)."""
        return self if self.seed is not None else replace(self, seed=draw_seed())

    def with_source(self, **changes: Any) -> GenerateRequest:
        """A copy whose source has ``changes`` (e.g. the detected cutoff of an upsample)."""
        return replace(self, source=replace(self.typed_source, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written to the sidecar."""
        data = {name: getattr(self, name) for name in REQUEST_FIELDS}
        return {"source": self.typed_source.to_dict(), **data, "recipe": self.recipe}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerateRequest:
        """Rebuild a request from :meth:`to_dict` output, or from the flat form that sidecars of earlier
        versions hold. Unknown keys are rejected, not ignored."""
        if "source" not in data:
            return _from_flat(data)
        source = dict(data["source"]) if isinstance(data["source"], Mapping) else {}
        mode = source.pop("mode", None)
        if mode not in SOURCES:
            raise InvalidRequest(f"source: expected a mode among {', '.join(MODES)}, got {mode!r}")
        _known(source, {f.name for f in fields(SOURCES[mode])}, f"{mode} source")
        rest = {k: v for k, v in data.items() if k != "source"}
        _known(rest, {*REQUEST_FIELDS, "recipe"}, "request")
        if "fit" not in rest and PARAMS["fit"].applies_to(mode):
            rest["fit"] = False  # a sidecar from before tempo fitting: its clip was not fitted
        rest.setdefault("full_band", False)  # a sidecar from before the bandwidth extension: 8 kHz at any rate
        return cls(SOURCES[mode](**source), **rest)


def _known(data: Mapping[str, Any], names: set[str], what: str) -> None:
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidRequest(f"{what}: unknown fields {', '.join(unknown)}")


#: Field names of the flat request form written before sources existed -> the source fields now.
_FLAT_SOURCE = {
    "prompt": "prompt",
    "input_path": "input_path",
    "strength": "strength",
    "span_start": "start",
    "span_end": "end",
    "cutoff_hz": "cutoff_hz",
    "extend_s": "seconds",
}


def _from_flat(data: Mapping[str, Any]) -> GenerateRequest:
    """A request from an earlier version's flat sidecar (``mode`` string, every field side by side).

    Those sidecars also recorded values the new model refuses as conflicts because the engine had filled
    them in: the input's length as ``duration`` for the input modes, and the tempo's length beside
    ``bpm``/``bars``. They are dropped here, which gives the same clip.
    """
    flat = dict(data)
    mode = flat.pop("mode", "generate")
    if mode not in SOURCES:
        raise InvalidRequest(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    cls = SOURCES[mode]
    names = {f.name for f in fields(cls)}
    src = {new: flat.pop(old) for old, new in _FLAT_SOURCE.items() if old in flat}
    src = {k: v for k, v in src.items() if k in names and v is not None}
    _known(flat, set(REQUEST_FIELDS), "request")
    if flat.get("bpm") is not None:
        flat.pop("duration", None)
    if PARAMS["fit"].applies_to(mode):
        flat.setdefault("fit", False)  # written before tempo fitting
    flat.setdefault("full_band", False)  # written before the bandwidth extension
    for name in list(flat):
        if not PARAMS[name].applies_to(mode):
            flat.pop(name)
    return GenerateRequest(cls(**src), **flat, recipe=1)


def build_takes(mode: str, values: Mapping[str, Any]) -> list[GenerateRequest]:
    """The requests a door's values ask for: ``count`` takes with consecutive seeds (from the given seed,
    or from one drawn now), each resolved, so every take is recalled by its own sidecar."""
    values = dict(values)
    count = PARAMS["count"].check(values.pop("count", 1))
    request = build_request(mode, values).resolved()
    seed = int(request.seed)  # type: ignore[arg-type]
    if seed + count - 1 > MAX_SEED:
        raise InvalidRequest.about("count", f"{count} takes from seed {seed} run past the largest seed", ["seed"])
    return [replace(request, seed=seed + i) for i in range(count)]


def build_request(mode: str, values: Mapping[str, Any]) -> GenerateRequest:
    """A request from a door's values (by field name; only what the caller gave). A parameter that means
    nothing for ``mode`` is refused even at its default value: the caller asked for something. A ``preset``
    fills in the values the caller did not give."""
    if mode not in SOURCES:
        raise InvalidRequest(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    values = dict(values)
    if "count" in values and PARAMS["count"].check(values.pop("count")) != 1:
        raise InvalidRequest.about("count", "more than one take makes several requests: use build_takes")
    preset = PARAMS["preset"].check(values.pop("preset", "default"))
    for name, value in PRESETS[preset].items():
        if PARAMS[name].applies_to(mode):
            values.setdefault(name, value)
    cls = SOURCES[mode]
    names = {f.name for f in fields(cls)}
    source: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for name, value in values.items():
        param = PARAMS.get(name)
        if param is None:
            raise InvalidRequest(f"{name}: not a request parameter")
        if not param.applies_to(mode):
            raise param.not_for(mode)
        (source if name in names else rest)[name] = value
    missing = [f.name for f in fields(cls) if f.name not in source and f.default is MISSING]
    if missing:
        raise InvalidRequest.about(missing[0], f"missing (expected {PARAMS[missing[0]].expected()})")
    return GenerateRequest(cls(**source), **rest)
