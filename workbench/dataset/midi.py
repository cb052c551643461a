"""A minimal Standard MIDI File writer and a batched fluidsynth renderer.

Starting fluidsynth and loading a soundfont costs far more than rendering a 5 s clip, so every MIDI clip
of a batch goes into one file, each in its own time slot separated by a silent gap, and a single
fluidsynth run renders them all; the slots are then cut out of the result. Reverb and chorus are off and
every slot ends with "all sound off", so nothing of one clip leaks into the next.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .tools import find_soundfont, require_tool

# 500 ticks per quarter at 500000 us per quarter (120 bpm): one tick is exactly one millisecond, so note
# times written in seconds round to the millisecond and need no tempo bookkeeping.
TICKS_PER_QUARTER = 500
MICROSECONDS_PER_QUARTER = 500_000
DRUM_CHANNEL = 9

# Silence after each clip's nominal end before the next slot starts: long enough for GM release tails.
SLOT_GAP_SECONDS = 1.5


@dataclass(frozen=True)
class Note:
    """One note: onset and duration in seconds from the clip start, MIDI pitch and velocity."""

    start: float
    duration: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class MidiPart:
    """A clip's worth of notes for one GM program on one channel (channel 9 is the drum kit)."""

    program: int
    channel: int
    notes: tuple[Note, ...]


def _vlq(value: int) -> bytes:
    """Encode a delta time as a MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_smf(events: Sequence[tuple[int, int, bytes]], path: Path) -> None:
    """Write a format-0 Standard MIDI File from ``(tick, order, message)`` events.

    ``order`` breaks ties at equal ticks so that, e.g., a slot's reset and program change precede its
    first note-on and note-offs precede note-ons (a repeated pitch is not cut short).
    """
    body = bytearray(b"\x00\xff\x51\x03" + MICROSECONDS_PER_QUARTER.to_bytes(3, "big"))
    last = 0
    for tick, _order, message in sorted(events, key=lambda e: (e[0], e[1])):
        body += _vlq(tick - last) + message
        last = tick
    body += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body))


def slot_milliseconds(clip_seconds: float) -> int:
    """Slot length in ms: the clip plus the gap, a multiple of 40 ms so it is whole samples at 16/22.05k."""
    raw = int(np.ceil((clip_seconds + SLOT_GAP_SECONDS) * 1000.0))
    return int(np.ceil(raw / 40.0) * 40)


def _slot_events(part: MidiPart, t0: int, clip_ms: int, slot_ms: int) -> list[tuple[int, int, bytes]]:
    """Events of one slot: reset the channel, set the program, the notes, then silence everything."""
    ch = part.channel
    events: list[tuple[int, int, bytes]] = [
        (t0, 0, bytes([0xB0 | ch, 121, 0])),  # reset all controllers
        (t0, 1, bytes([0xB0 | ch, 7, 100])),  # channel volume
        (t0, 1, bytes([0xB0 | ch, 10, 64])),  # pan centre
        (t0, 1, bytes([0xB0 | ch, 91, 0])),  # no reverb send
        (t0, 1, bytes([0xB0 | ch, 93, 0])),  # no chorus send
        (t0, 2, bytes([0xC0 | ch, part.program & 0x7F])),
    ]
    for note in part.notes:
        on = t0 + round(note.start * 1000.0)
        off = min(on + max(1, round(note.duration * 1000.0)), t0 + clip_ms)
        if on >= t0 + clip_ms:
            continue
        pitch = int(np.clip(note.pitch, 0, 127))
        events.append((on, 4, bytes([0x90 | ch, pitch, int(np.clip(note.velocity, 1, 127))])))
        events.append((off, 3, bytes([0x80 | ch, pitch, 0])))
    end = t0 + slot_ms - 200
    events.append((end, 5, bytes([0xB0 | ch, 123, 0])))  # all notes off
    events.append((end, 6, bytes([0xB0 | ch, 120, 0])))  # all sound off: kill release tails
    return events


def render_parts(
    parts: Sequence[MidiPart],
    sample_rate: int,
    clip_seconds: float,
    soundfont: str | Path | None = None,
    gain: float = 0.5,
) -> list[np.ndarray]:
    """Render each part to a mono float64 clip of ``clip_seconds`` at ``sample_rate``, all in one run."""
    if not parts:
        return []
    fluidsynth = require_tool("fluidsynth")
    font = find_soundfont(soundfont)
    slot_ms = slot_milliseconds(clip_seconds)
    clip_ms = round(clip_seconds * 1000.0)
    n = round(clip_seconds * sample_rate)
    events: list[tuple[int, int, bytes]] = []
    for i, part in enumerate(parts):
        events += _slot_events(part, i * slot_ms, clip_ms, slot_ms)
    with tempfile.TemporaryDirectory(prefix="synth_midi_") as tmp:
        mid, wav = Path(tmp) / "batch.mid", Path(tmp) / "batch.wav"
        write_smf(events, mid)
        cmd = [
            fluidsynth,
            "-n",
            "-i",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            f"{gain:g}",
            "-r",
            str(sample_rate),
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            str(wav),
            str(font),
            str(mid),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        audio, sr = sf.read(str(wav), dtype="float64", always_2d=True)
    if sr != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, asked for {sample_rate} Hz")
    mono = audio.mean(axis=1)
    clips = []
    for i in range(len(parts)):
        start = round(i * slot_ms * sample_rate / 1000.0)
        clip = mono[start : start + n]
        clips.append(np.pad(clip, (0, n - clip.size)) if clip.size < n else clip.copy())
    return clips
