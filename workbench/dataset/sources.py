"""Sound sources of the synthetic dataset: what each category is, its attributes, and how it is made.

Every category is meant to be told apart by ear (and by a small model) and every attribute a caption
names is a property of the rendered audio, not only of the label: a "rising" line rises, a "fast" pattern
has more events per second, a "high" register sits higher. Planning (drawing the attributes and the
notes or parameters from the item's random generator) is separated from rendering so the MIDI clips of a
whole batch can be rendered by one fluidsynth run, and so a plan can be stored and re-rendered in tests.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .midi import DRUM_CHANNEL, MidiPart, Note
from .tools import require_tool

REGISTERS = ("low", "middle", "high")
TEMPOS = ("slow", "fast")
DIRECTIONS = ("rising", "falling", "steady")
LOUDNESS = ("soft", "loud")


@dataclass(frozen=True)
class Instrument:
    """A GM melodic instrument: program, centre pitch of each register and the patterns it plays."""

    program: int
    registers: Mapping[str, int]
    patterns: tuple[str, ...]


INSTRUMENTS: dict[str, Instrument] = {
    "piano": Instrument(0, {"low": 45, "middle": 62, "high": 79}, ("melody", "chords", "arpeggio")),
    "strings": Instrument(48, {"low": 50, "middle": 64, "high": 79}, ("melody", "chords")),
    "flute": Instrument(73, {"low": 67, "middle": 77, "high": 88}, ("melody",)),
    "organ": Instrument(20, {"low": 48, "middle": 62, "high": 76}, ("melody", "chords")),
    "guitar": Instrument(25, {"low": 48, "middle": 60, "high": 72}, ("melody", "chords", "arpeggio")),
    "brass": Instrument(61, {"low": 50, "middle": 62, "high": 74}, ("melody", "chords")),
    "bass": Instrument(33, {"low": 38}, ("bassline",)),
}

# Category -> attribute -> allowed values. Every attribute listed here is named in every caption.
ATTRIBUTE_SPACE: dict[str, dict[str, tuple[str, ...]]] = {
    **{
        name: {
            **({"register": REGISTERS} if name != "bass" else {}),
            "tempo": TEMPOS,
            "direction": DIRECTIONS,
            "loudness": LOUDNESS,
            "pattern": inst.patterns,
        }
        for name, inst in INSTRUMENTS.items()
    },
    "drums": {"tempo": TEMPOS, "loudness": LOUDNESS, "kit": ("kick_hihat", "kick_snare", "full")},
    "speech": {"voice": ("male", "female"), "tempo": TEMPOS, "loudness": LOUDNESS},
    "siren": {"register": ("low", "high"), "tempo": TEMPOS, "loudness": LOUDNESS},
    "beeps": {"register": REGISTERS, "tempo": TEMPOS, "direction": DIRECTIONS, "loudness": LOUDNESS},
    "sweep": {"register": ("low", "high"), "tempo": TEMPOS, "direction": ("rising", "falling"), "loudness": LOUDNESS},
    "noise": {"color": ("white", "pink", "brown"), "loudness": LOUDNESS},
    "knocking": {"register": ("low", "high"), "tempo": TEMPOS, "loudness": LOUDNESS},
}

CATEGORIES: tuple[str, ...] = tuple(ATTRIBUTE_SPACE)
MIDI_CATEGORIES = frozenset([*INSTRUMENTS, "drums"])
SPEECH_CATEGORIES = frozenset(["speech"])

# Loudness targets (gated RMS, dBFS): 17 dB apart, so "loud" stays clearly louder even after a loud,
# spiky clip is pulled down to avoid clipping.
LOUDNESS_DB = {"soft": -32.0, "loud": -15.0}

SPEECH_VOICES = {
    "male": ("en-us+m1", "en-us+m3", "en+m2", "en+m4", "en-us+m7"),
    "female": ("en-us+f1", "en-us+f2", "en+f3", "en+f4", "en-us+f5"),
}
SPEECH_WPM = {"slow": (105, 125), "fast": (215, 245)}
SPEECH_PHRASES = (
    "the weather is nice today",
    "please close the door behind you",
    "the train leaves at seven",
    "I will call you back later",
    "turn left at the next corner",
    "the meeting starts in ten minutes",
    "can you hear me now",
    "we need more coffee in the kitchen",
    "the package arrived this morning",
    "let us go for a walk",
    "this is a short announcement",
    "the store opens at nine",
    "my phone is almost out of battery",
    "thank you for waiting",
    "the red car is parked outside",
    "remember to water the plants",
    "the results will be ready tomorrow",
    "please speak a little louder",
    "the children are playing in the garden",
    "dinner is ready",
    "the bus is running late again",
    "she found the keys under the table",
    "we are landing in twenty minutes",
    "the music was too quiet",
)


@dataclass
class ItemSpec:
    """A fully planned clip: its label, attributes and everything needed to render it deterministically."""

    category: str
    attributes: dict[str, str]
    engine: str  # "fluidsynth", "espeak-ng" or "numpy"
    target_db: float
    midi: MidiPart | None = None
    speech: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def source_info(self) -> dict[str, Any]:
        """A compact, JSON-friendly record of how the clip was made (for metadata and re-rendering)."""
        info: dict[str, Any] = {"engine": self.engine}
        if self.midi is not None:
            info |= {"program": self.midi.program, "channel": self.midi.channel, "notes": len(self.midi.notes)}
        if self.speech is not None:
            info |= self.speech
        info |= {k: v for k, v in self.params.items() if isinstance(v, int | float | str) and k != "seed"}
        return info


def sample_attributes(
    category: str, rng: np.random.Generator, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Draw every attribute of ``category`` then apply ``overrides``.

    All attributes are always drawn so the generator is in the same state whatever is overridden: two
    clips that differ only in an overridden attribute share everything else (tests rely on this).
    """
    space = ATTRIBUTE_SPACE[category]
    attrs = {name: values[int(rng.integers(len(values)))] for name, values in space.items()}
    for name, value in (overrides or {}).items():
        if name not in space or value not in space[name]:
            raise ValueError(f"{category}: attribute {name}={value!r} not in {space.get(name)}")
        attrs[name] = value
    return attrs


def plan_item(
    category: str, rng: np.random.Generator, clip_seconds: float, overrides: Mapping[str, str] | None = None
) -> ItemSpec:
    """Plan one clip of ``category``: attributes, loudness target and the notes/parameters to render."""
    if category not in ATTRIBUTE_SPACE:
        raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")
    attrs = sample_attributes(category, rng, overrides)
    target_db = LOUDNESS_DB[attrs["loudness"]] + float(rng.uniform(-1.5, 1.5))
    if category in INSTRUMENTS:
        midi = _plan_tonal(INSTRUMENTS[category], attrs, rng, clip_seconds)
        return ItemSpec(category, attrs, "fluidsynth", target_db, midi=midi)
    if category == "drums":
        return ItemSpec(category, attrs, "fluidsynth", target_db, midi=_plan_drums(attrs, rng, clip_seconds))
    if category == "speech":
        speech = _plan_speech(attrs, rng, clip_seconds)
        return ItemSpec(category, attrs, "espeak-ng", target_db, speech=speech)
    params = _PROCEDURAL_PLANNERS[category](attrs, rng, clip_seconds)
    params["seed"] = int(rng.integers(2**31))
    return ItemSpec(category, attrs, "numpy", target_db, params=params)


# ---------------------------------------------------------------------------------------------- MIDI
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

# Inter-onset interval ranges (s) per pattern and tempo: fast is about three times as dense as slow.
IOI = {
    "melody": {"slow": (0.42, 0.6), "fast": (0.14, 0.19)},
    "bassline": {"slow": (0.45, 0.6), "fast": (0.16, 0.21)},
    "arpeggio": {"slow": (0.3, 0.38), "fast": (0.11, 0.14)},
    "chords": {"slow": (1.0, 1.3), "fast": (0.32, 0.42)},
}
# Scale-degree offsets of a "steady" line: each motif averages out around its starting pitch.
STEADY_MOTIFS = ((0, 1, 0, -1), (0, 0, 1, 0), (0, -1, 0, 1), (0, 1, -1, 0), (0, 0, 0, 0))
# Pitch span (semitones) of a rising or falling line over the clip.
SPAN = {"melody": (12, 16), "bassline": (10, 14), "arpeggio": (10, 13), "chords": (7, 10)}


def _velocity(loudness: str, rng: np.random.Generator) -> int:
    """A MIDI velocity for the loudness: soft notes also sound softer (timbre), not only quieter."""
    base = 48 if loudness == "soft" else 108
    return int(np.clip(base + rng.integers(-6, 7), 1, 127))


def _onsets(ioi: float, start: float, clip_seconds: float, tail: float) -> np.ndarray:
    """Evenly spaced onsets from ``start`` that leave ``tail`` seconds before the clip end."""
    return np.arange(start, clip_seconds - tail, ioi)


def _plan_tonal(inst: Instrument, attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> MidiPart:
    """Notes of a melody, chord progression, arpeggio or bassline following the drawn attributes."""
    pattern, direction, tempo = attrs["pattern"], attrs["direction"], attrs["tempo"]
    centre = inst.registers[attrs.get("register", "low")] + int(rng.integers(-2, 3))
    mode = MAJOR if rng.random() < 0.5 else MINOR
    tonic = int(rng.integers(12))
    scale = np.array([p for p in range(12, 120) if (p - tonic) % 12 in mode])
    ioi = float(rng.uniform(*IOI[pattern][tempo]))
    span = float(rng.uniform(*SPAN[pattern]))
    start = float(rng.uniform(0.08, 0.2))
    per_event = 4 if pattern == "arpeggio" else 1
    events = _onsets(ioi * per_event, start, clip_seconds, 0.3 if pattern != "chords" else 0.25)
    u = np.linspace(0.0, 1.0, len(events)) if len(events) > 1 else np.zeros(len(events))
    if direction == "rising":
        targets = centre - span / 2 + span * u
    elif direction == "falling":
        targets = centre + span / 2 - span * u
    else:
        targets = np.full(len(events), float(centre))
    # Scale-degree index of each event's target; a rising line never steps down and vice versa.
    degrees = np.searchsorted(scale, targets)
    if direction != "steady" and pattern in ("melody", "bassline"):
        jitter = rng.integers(-1, 2, size=len(degrees))
        degrees = degrees + jitter
        degrees = np.maximum.accumulate(degrees) if direction == "rising" else np.minimum.accumulate(degrees)
    elif direction == "steady":
        if pattern in ("melody", "bassline"):
            # A short motif around one pitch, repeated: it moves, but goes nowhere.
            motif = STEADY_MOTIFS[int(rng.integers(len(STEADY_MOTIFS)))]
            degrees = degrees + np.resize(np.array(motif), len(degrees))
        else:
            degrees = degrees + np.resize(np.array([0, 3, 0, -3]), len(degrees))  # I-IV-I-V, no trend
    notes: list[Note] = []
    legato = 0.92
    for t, d in zip(events, degrees, strict=True):
        d = int(d)
        if pattern in ("melody", "bassline"):
            notes.append(Note(float(t), ioi * legato, int(scale[d]), _velocity(attrs["loudness"], rng)))
        elif pattern == "chords":
            strum = 0.012 if inst.program == 25 else 0.0
            for k, step in enumerate((0, 2, 4)):
                pitch = int(scale[d + step])
                notes.append(Note(float(t) + k * strum, ioi * 0.95, pitch, _velocity(attrs["loudness"], rng)))
        else:  # arpeggio: broken triad plus octave, in the direction of travel
            steps = (0, 2, 4, 7) if direction != "falling" else (7, 4, 2, 0)
            for k, step in enumerate(steps):
                onset = float(t) + k * ioi
                notes.append(Note(onset, ioi * 1.8, int(scale[d + step]), _velocity(attrs["loudness"], rng)))
    return MidiPart(inst.program, 0, tuple(notes))


KICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 38, 42, 46
DRUM_BPM = {"slow": (72, 88), "fast": (150, 172)}


def _plan_drums(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> MidiPart:
    """A one-bar groove on an eighth-note grid, repeated; fast doubles the tempo (and the hit rate)."""
    bpm = float(rng.uniform(*DRUM_BPM[attrs["tempo"]]))
    eighth = 30.0 / bpm
    kit = attrs["kit"]
    # Eight eighth-note steps per bar; kick variations keep patterns from being identical.
    kick_steps = {0, 4} | ({int(rng.choice([3, 5, 6]))} if rng.random() < 0.6 else set())
    snare_steps = {2, 6}
    open_hat_step = 7 if rng.random() < 0.4 else None
    notes: list[Note] = []
    loud = attrs["loudness"]
    for i, t in enumerate(_onsets(eighth, float(rng.uniform(0.05, 0.15)), clip_seconds, 0.1)):
        step = i % 8
        hits: list[int] = []
        if step in kick_steps:
            hits.append(KICK)
        if kit != "kick_hihat" and step in snare_steps:
            hits.append(SNARE)
        if kit != "kick_snare":
            hits.append(OPEN_HAT if step == open_hat_step else CLOSED_HAT)
        for pitch in hits:
            accent = 8 if step % 2 == 0 else -8
            notes.append(Note(float(t), 0.1, pitch, int(np.clip(_velocity(loud, rng) + accent, 1, 127))))
    return MidiPart(0, DRUM_CHANNEL, tuple(notes))


# -------------------------------------------------------------------------------------------- speech
def _plan_speech(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """An espeak-ng voice, speed and enough short phrases to fill the clip."""
    voices = SPEECH_VOICES[attrs["voice"]]
    voice = voices[int(rng.integers(len(voices)))]
    wpm = int(rng.integers(*SPEECH_WPM[attrs["tempo"]]))
    words_needed = clip_seconds * wpm / 60.0 * 1.15
    phrases: list[str] = []
    words = 0
    while words < words_needed:
        phrase = SPEECH_PHRASES[int(rng.integers(len(SPEECH_PHRASES)))]
        phrases.append(phrase)
        words += len(phrase.split()) + 1  # the pause between sentences costs about a word
    # Loudness is applied afterwards by gain, like every category; espeak's own amplitude stays at its
    # default so loud phrases never clip inside espeak's 16-bit output.
    return {"voice": voice, "speed": wpm, "amplitude": 100, "text": ". ".join(phrases) + "."}


def render_speech(speech: Mapping[str, Any]) -> tuple[np.ndarray, int]:
    """Render a planned utterance with espeak-ng; returns mono float64 audio and its sample rate."""
    espeak = require_tool("espeak-ng")
    with tempfile.TemporaryDirectory(prefix="synth_speech_") as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = [
            espeak,
            "-v",
            str(speech["voice"]),
            "-s",
            str(speech["speed"]),
            "-a",
            str(speech["amplitude"]),
            "-w",
            str(wav),
            "--",
            str(speech["text"]),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        audio, sr = sf.read(str(wav), dtype="float64", always_2d=True)
    return audio.mean(axis=1), int(sr)


# ---------------------------------------------------------------------------------------- procedural
def _plan_siren(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """A siren sweeping between two pitches: a slow wail or a fast yelp."""
    lo = float(rng.uniform(420, 520) if attrs["register"] == "low" else rng.uniform(950, 1150))
    period = float(rng.uniform(1.8, 2.6) if attrs["tempo"] == "slow" else rng.uniform(0.22, 0.32))
    return {
        "f_low": lo,
        "f_high": lo * float(rng.uniform(1.6, 1.8)),
        "period": period,
        "phase": float(rng.uniform(0, 1)),
    }


BEEP_BASE_HZ = {"low": (330, 440), "middle": (750, 1000), "high": (1900, 2500)}


def _plan_beeps(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """Regular sine beeps whose pitch steps up, down or stays put across the clip."""
    ioi = float(rng.uniform(0.6, 0.8) if attrs["tempo"] == "slow" else rng.uniform(0.15, 0.2))
    onsets = _onsets(ioi, float(rng.uniform(0.05, 0.2)), clip_seconds, 0.3)
    base = float(rng.uniform(*BEEP_BASE_HZ[attrs["register"]]))
    span = float(rng.uniform(9, 13))
    u = np.linspace(-0.5, 0.5, len(onsets))
    semis = {"rising": span * u, "falling": -span * u, "steady": 0.0 * u}[attrs["direction"]]
    return {
        "onsets": [round(float(t), 4) for t in onsets],
        "freqs": [round(float(base * 2 ** (s / 12)), 2) for s in semis],
        "length": round(min(0.25, 0.5 * ioi), 4),
    }


SWEEP_RANGE_HZ = {"low": ((80, 120), (600, 900)), "high": ((900, 1300), (5000, 7000))}


def _plan_sweep(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """Exponential sine sweeps: one long sweep (slow) or a train of short ones (fast)."""
    (a0, a1), (b0, b1) = SWEEP_RANGE_HZ[attrs["register"]]
    lo, hi = float(rng.uniform(a0, a1)), float(rng.uniform(b0, b1))
    start = float(rng.uniform(0.1, 0.3))
    slow = attrs["tempo"] == "slow"
    # Slow: a single sweep over nearly the whole clip (a restart would read as a fall); fast: a train.
    length = clip_seconds - start - float(rng.uniform(0.1, 0.4)) if slow else float(rng.uniform(0.4, 0.6))
    gap = float(rng.uniform(0.05, 0.15))
    return {
        "f_start": lo if attrs["direction"] == "rising" else hi,
        "f_end": hi if attrs["direction"] == "rising" else lo,
        "length": length,
        "gap": gap,
        "start": start,
        "repeat": not slow,
    }


def _plan_noise(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """Coloured noise needs only a seed; the colour comes from the attributes."""
    return {}


def _plan_knocking(attrs: dict[str, str], rng: np.random.Generator, clip_seconds: float) -> dict[str, Any]:
    """Knocks as damped resonances: low heavy thuds or high sharp taps, slow or fast."""
    ioi = float(rng.uniform(0.75, 1.0) if attrs["tempo"] == "slow" else rng.uniform(0.16, 0.22))
    onsets = _onsets(ioi, float(rng.uniform(0.05, 0.2)), clip_seconds, 0.2)
    onsets = onsets + rng.uniform(-0.08, 0.08, size=len(onsets)) * ioi
    if attrs["register"] == "low":
        modes, decay = rng.uniform(70, 180, size=3), float(rng.uniform(0.06, 0.12))
    else:
        modes, decay = rng.uniform(600, 1800, size=3), float(rng.uniform(0.015, 0.035))
    return {
        "onsets": [round(float(t), 4) for t in onsets],
        "modes": [round(float(m), 2) for m in modes],
        "decay": decay,
    }


_PROCEDURAL_PLANNERS = {
    "siren": _plan_siren,
    "beeps": _plan_beeps,
    "sweep": _plan_sweep,
    "noise": _plan_noise,
    "knocking": _plan_knocking,
}


def _fade(n: int, sample_rate: int, seconds: float) -> np.ndarray:
    """A raised-cosine ramp of ``seconds`` (at most n samples) used for click-free envelopes."""
    k = max(1, min(n, round(seconds * sample_rate)))
    return 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k))


def _tone_burst(freq: float, length: int, sample_rate: int, ramp: float) -> np.ndarray:
    """A sine burst with raised-cosine attack and release."""
    t = np.arange(length) / sample_rate
    burst = np.sin(2 * np.pi * freq * t)
    r = _fade(length // 2, sample_rate, ramp)
    burst[: r.size] *= r
    burst[length - r.size :] *= r[::-1]
    return burst


def render_procedural(spec: ItemSpec, sample_rate: int, clip_seconds: float) -> np.ndarray:
    """Synthesize a numpy-category clip from its planned parameters (the seed covers the noise)."""
    n = round(clip_seconds * sample_rate)
    p, attrs = spec.params, spec.attributes
    rng = np.random.default_rng(p["seed"])
    out = np.zeros(n)
    t = np.arange(n) / sample_rate
    if spec.category == "siren":
        # The pitch glides along a smooth cycle; harmonics 1..5 give it a horn-like edge.
        phase = 2 * np.pi * (t / p["period"] + p["phase"])
        lfo = 0.5 - 0.5 * np.cos(phase) if attrs["tempo"] == "slow" else (t / p["period"] + p["phase"]) % 1.0
        freq = p["f_low"] * (p["f_high"] / p["f_low"]) ** lfo
        inst_phase = 2 * np.pi * np.cumsum(freq) / sample_rate
        for k in range(1, 6):
            if k * p["f_high"] < 0.45 * sample_rate:
                out += np.sin(k * inst_phase) / k
    elif spec.category == "beeps":
        length = round(p["length"] * sample_rate)
        for onset, freq in zip(p["onsets"], p["freqs"], strict=True):
            i = round(onset * sample_rate)
            seg = _tone_burst(freq, length, sample_rate, 0.005)[: n - i]
            out[i : i + seg.size] += seg
    elif spec.category == "sweep":
        length = round(p["length"] * sample_rate)
        tt = np.arange(length) / sample_rate
        ratio = p["f_end"] / p["f_start"]
        inst_f = p["f_start"] * ratio ** (tt / p["length"])
        sweep = np.sin(2 * np.pi * np.cumsum(inst_f) / sample_rate)
        r = _fade(length // 2, sample_rate, 0.02)
        sweep[: r.size] *= r
        sweep[length - r.size :] *= r[::-1]
        i = round(p["start"] * sample_rate)
        while i < n:
            seg = sweep[: n - i]
            out[i : i + seg.size] += seg
            if not p["repeat"]:
                break
            i += length + round(p["gap"] * sample_rate)
    elif spec.category == "noise":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate), 20.0)
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[attrs["color"]]
        out = np.fft.irfft(spectrum / f**exponent, n)
        r = _fade(n, sample_rate, 0.05)
        out[: r.size] *= r
        out[n - r.size :] *= r[::-1]
    elif spec.category == "knocking":
        length = round(min(0.5, 8 * p["decay"]) * sample_rate)
        tt = np.arange(length) / sample_rate
        for onset in p["onsets"]:
            amps = rng.uniform(0.5, 1.0, size=len(p["modes"]))
            knock = sum(a * np.sin(2 * np.pi * m * tt) for a, m in zip(amps, p["modes"], strict=True))
            knock = knock * np.exp(-tt / p["decay"])
            click = rng.standard_normal(length) * np.exp(-tt / 0.003) * 0.5
            hit = knock + click
            hit[:16] *= np.linspace(0, 1, 16)
            i = round(max(0.0, onset) * sample_rate)
            seg = hit[: n - i]
            out[i : i + seg.size] += seg
    else:
        raise ValueError(f"{spec.category} is not a procedural category")
    return out
