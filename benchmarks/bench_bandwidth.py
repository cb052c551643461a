"""Does the bandwidth extension bring back the band above 8 kHz? Measured on real recordings it never trained on.

The recordings come from Debian packages the training (workbench/training/bandwidth.py: ``sonic-pi-samples``,
``fluid-soundfont-gm``, ``hydrogen-drumkits``) does not use, downloaded and unpacked by this script into ``--cache``
(``apt-get download`` and ``dpkg-deb -x``: nothing is installed), in two sets (:data:`SETS`):

- "lossless", PCM recordings whose band reaches the Nyquist frequency: drums (the one-shots of the acoustic kit
  of ``avldrums.lv2-soundfont``'s Red Zeppelin SoundFont and of Hydrogen's TR808EmulationKit, from
  ``hydrogen-data``), loops (2-bar grooves arranged by this script from those lossless real drum recordings, not
  recorded as loops: :func:`drum_loops`), speech (ALSA's, SuperCollider's and Pd's spoken recordings), instruments
  (notes of the ``freepats`` GUS patches whose band reaches past 16 kHz, :func:`freepats_notes`) and effects
  (Tux Paint's);
- "lossy", mostly LMMS's Ogg Vorbis samples (drums, loops, instruments, effects), whose band ends near 16 kHz.

Recordings the training holds are left out wherever a package shares them, found by matching every candidate
against every training recording (onset-aligned normalised cross-correlation of the first 4096 samples, 1.000 for
a copy, under 0.95 otherwise): all of ``hydrogen-data``'s GMRockKit (its files are hydrogen-drumkits' "The Black
Pearl 1.0", but for its 24Ride, which is Red Zeppelin's A24 ride, already measured), Red Zeppelin's hi-hats, hand
clap, splash, tambourine and maraca (the same as "The Black Pearl 1.0"'s and "Gimme A Hand 1.0"'s), and freepats'
harp (FluidR3's harp samples). Until 2026-12-08 the lossless drums were GMRockKit's and the 808's: 80 of those
101 recordings were training recordings.

Each recording at 44.1 kHz or more (its first ``--seconds``, mixed to mono) is band-limited to 8 kHz the way a
model's clip is (resampled to 16 kHz and back by the engine's resampler), then:

- (a) left as it is (what every clip was before the extension),
- (b) put through the signal-processing baseline, a harmonic exciter (``engine.bandwidth.exciter``),
- (c) put through the stage (``engine.bandwidth.extend_band``, the shipped weights, as the engine calls it), and,
  for comparison, the exciter and the stage stopped at 16 kHz, the stage up to the Nyquist frequency, and its
  envelope over noise alone and over the translated low band alone.

Per category and overall: the log-spectral distance to the original (STFT 2048/512, log10 power, eps 1e-10)
above and below 8 kHz, and the level of the band above 8 kHz relative to the band below, the original's and
each result's (median over clips). The stage's cost is timed against a 25-step generation of a clip of the same
length with the bundled model on this CPU. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_bandwidth.py [--sets lossless,lossy] [--out FILE] [--seconds 10]
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LMMS = "usr/share/lmms/samples"
H2 = "usr/share/hydrogen/data/drumkits"
FREEPATS = "usr/share/midi/freepats/Tone_000"
RED_ZEPPELIN = "usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"
CATEGORY_ORDER = ("drums", "loops", "speech", "instruments", "effects")
SKIP = {"Noise.wav", "a11wlk01-44_1.aiff", "SinedPink.aiff", "bell.aiff"}  # a test noise, a copy, a tone, an instrument
MIN_RATE = 44100
MIN_SECONDS = 0.1
EDGE = 8000.0

#: (name, mono float32 audio, rate) of one recording, as a source of a category yields them.
Recording = tuple[str, np.ndarray, int]
#: a category's source: a folder under the unpacked packages (its sound files), or a function that makes
#: recordings from them (notes rendered from patches, one-shots read from a SoundFont, loops arranged).
Source = str | Callable[[Path], list[Recording]]


def unpack(cache: Path, packages: tuple[str, ...]) -> Path:
    """The packages' files under ``cache/root`` (each downloaded and unpacked once)."""
    root = cache / "root"
    done = cache / "unpacked"
    have = set(done.read_text().split()) if done.is_file() else set()
    missing = [p for p in packages if p not in have]
    if not missing:
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True, capture_output=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    done.write_text("\n".join(sorted(have | set(missing))) + "\n")
    return root


def mono_file(path: Path, frames: int = -1) -> tuple[np.ndarray, int]:
    """A sound file's first ``frames`` (all of it by default), mixed to mono float32, and its rate."""
    import soundfile as sf

    data, sr = sf.read(str(path), frames=frames, dtype="float32")
    return (data.mean(axis=1) if data.ndim > 1 else data).astype(np.float32), int(sr)


# --- SoundFont 2: the one-shots of avldrums' Red Zeppelin kit --------------------------------------------------


def riff_chunks(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(id, offset of the body, size) of each RIFF chunk between ``start`` and ``end`` (bodies are padded to even)."""
    while start + 8 <= end:
        cid, size = data[start : start + 4], struct.unpack_from("<I", data, start + 4)[0]
        yield cid, start + 8, size
        start += 8 + size + (size & 1)


@functools.lru_cache(maxsize=2)
def sf2_samples(path: Path) -> tuple[tuple[str, np.ndarray, int], ...]:
    """Every sample of a SoundFont 2 file, (name, float32 audio, rate), in the file's order.

    A SoundFont is a RIFF ``sfbk`` form whose ``sdta`` list holds all samples as one 16-bit PCM chunk (``smpl``)
    and whose ``pdta`` list ends with 46-byte sample headers (``shdr``: a 20-byte name, then start, end, loop
    start, loop end and rate as 32-bit integers, original pitch, pitch correction, link, type), the last one a
    terminal "EOS". Only these two chunks are read: the instruments' zones (key and velocity ranges, envelopes)
    do not matter for one-shots, and a 24-bit ``sm24`` extension (not in the files read here) would be ignored."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path} is not a SoundFont 2 file")
    found: dict[bytes, tuple[int, int]] = {}
    for cid, body, size in riff_chunks(data, 12, len(data)):
        if cid == b"LIST":
            for sub, sub_body, sub_size in riff_chunks(data, body + 4, body + size):
                found[sub] = (sub_body, sub_size)
    smpl, smpl_size = found[b"smpl"]
    pcm = np.frombuffer(data, dtype="<i2", count=smpl_size // 2, offset=smpl)
    shdr, shdr_size = found[b"shdr"]
    out = []
    for k in range(shdr_size // 46 - 1):  # the last header is the terminal "EOS"
        name, begin, end, _, _, rate = struct.unpack_from("<20sIIIII", data, shdr + 46 * k)
        audio = (pcm[begin:end].astype(np.float32) / 32768).astype(np.float32)
        out.append((name.split(b"\0")[0].decode("latin-1"), audio, int(rate)))
    return tuple(out)


#: Red Zeppelin's pieces (the MIDI note that starts each sample's name) that hydrogen-drumkits holds too: its
#: hi-hats (42, 44, 46, 48) and splash (55) are the files of "The Black Pearl 1.0", its hand clap (39), tambourine
#: (54) and maraca (64) those of "Gimme A Hand 1.0". The kick, snare, toms, rides, crashes, cowbell and
#: side-stick are this kit's own.
RED_ZEPPELIN_IN_TRAINING = {"39", "42", "44", "46", "48", "54", "55", "64"}


def red_zeppelin_pieces(root: Path) -> dict[str, list[np.ndarray]]:
    """Red Zeppelin's pieces that the training does not hold, by MIDI note, each a list of its velocity layers
    from soft to hard (the file's order: a piece's samples follow each other, the softest first)."""
    pieces: dict[str, list[np.ndarray]] = {}
    for name, audio, rate in sf2_samples(root / RED_ZEPPELIN):
        note = name.split("-", 1)[0]
        if note not in RED_ZEPPELIN_IN_TRAINING and rate == 44100:
            pieces.setdefault(note, []).append(audio)
    return pieces


def red_zeppelin_one_shots(root: Path) -> list[Recording]:
    """Every velocity layer of Red Zeppelin's own pieces (avldrums.lv2-soundfont: 16-bit PCM at 44.1 kHz, recorded
    from an acoustic kit), each as the one-shot it is."""
    return [
        (name, audio, rate)
        for name, audio, rate in sf2_samples(root / RED_ZEPPELIN)
        if name.split("-", 1)[0] not in RED_ZEPPELIN_IN_TRAINING
    ]


# --- GUS patches: notes of the freepats instruments -------------------------------------------------------------


#: freepats' patches left out: the harp (046), whose samples are FluidR3's harp samples, which the training renders.
FREEPATS_IN_TRAINING = {"046"}
LAST_PROGRAM = 79  # General MIDI's played instruments, piano to pipe; after them synth leads and pads, effects
RATE_TOLERANCE = 0.03  # how far a GUS sample's stored (tuned) rate may be from the 44.1 or 48 kHz it is played at
BAND_TOP_DB = -60.0  # the least power at 16-18 kHz, relative to the loudest 2-kHz band below, of a usable sample
NOTE_SHORT = 0.5  # a looped sample shorter than this (seconds) is held to NOTE_SECONDS, as a key would be
NOTE_SECONDS = 1.5


class PatSample(NamedTuple):
    """One sample of a Gravis UltraSound patch: its audio, stored rate, root pitch (Hz) and sustain loop."""

    audio: np.ndarray
    rate: int
    root_hz: float
    loop: tuple[int, int] | None  # (start, end) in samples, where the patch loops it
    ping_pong: bool


def gus_patch(path: Path) -> list[PatSample]:
    """The samples of a GUS patch (``.pat``, "GF1PATCH110"), the first layer of its first instrument, as TiMidity
    plays them. Layout: a 129-byte file header, a 63-byte instrument header, a 47-byte layer header (its byte 6:
    the number of samples), then per sample a 96-byte header followed by its data. The sample header holds at
    byte 8 the data size, at 12 and 16 the loop start and end (all three in bytes), at 20 the rate (16 bits), at
    30 the root frequency (mHz) and at 55 the mode flags: 1 16-bit, 2 unsigned, 4 looped, 8 ping-pong. The
    envelope, tremolo and vibrato are not applied: the notes are the recordings as stored."""
    data = path.read_bytes()
    if not data.startswith(b"GF1PATCH"):
        raise ValueError(f"{path} is not a GUS patch")
    count, pos = data[129 + 63 + 6], 129 + 63 + 47
    out = []
    for _ in range(count):
        size, loop_start, loop_end = struct.unpack_from("<III", data, pos + 8)
        rate = struct.unpack_from("<H", data, pos + 20)[0]
        root_mhz = struct.unpack_from("<I", data, pos + 30)[0]
        modes = data[pos + 55]
        raw = data[pos + 96 : pos + 96 + size]
        pos += 96 + size
        width = 2 if modes & 1 else 1
        kind = ("<u2" if modes & 2 else "<i2") if width == 2 else ("u1" if modes & 2 else "i1")
        audio = np.frombuffer(raw[: len(raw) // width * width], dtype=kind).astype(np.float64)
        if modes & 2:
            audio -= 2 ** (8 * width - 1)
        audio /= 2 ** (8 * width - 1)
        start, end = loop_start // width, loop_end // width
        loop = (start, end) if modes & 4 and 0 <= start < end - 1 and end <= len(audio) else None
        out.append(PatSample(audio.astype(np.float32), int(rate), root_mhz / 1000, loop, bool(modes & 8)))
    return out


def band_top_db(x: np.ndarray, rate: int) -> float:
    """The power of the 16-18 kHz band relative to the loudest 2-kHz band below 16 kHz, in dB (mean power over
    frames, Hann 2048, hop 512): how strongly the recording's band reaches past 16 kHz."""
    n = 2048
    x = np.pad(x, (0, max(0, n - len(x)))).astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::512] * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(n, 1 / rate)
    loudest = max(power[(f >= lo) & (f < lo + 2000)].mean() for lo in range(0, 16000, 2000))
    return float(10 * np.log10(power[(f >= 16000) & (f < 18000)].mean() / (loudest + 1e-30) + 1e-30))


def gus_note(s: PatSample, rate: int, seconds: float = NOTE_SECONDS) -> np.ndarray:
    """The note a sampler plays from ``s`` when a key is held: the recording as it is, or, for a looped sample
    shorter than :data:`NOTE_SHORT`, its attack up to the loop's end, then the loop segment repeated (forwards
    and backwards for a ping-pong loop) to ``seconds``, then what follows the loop; either way ended by a
    50-ms fade, as a key's release would (so the cut adds no click)."""
    x = s.audio
    if s.loop is not None and len(x) < NOTE_SHORT * rate:
        start, end = s.loop
        # from sample end-1, the loop goes on at start (forwards) or end-2 (back, then forwards again)
        cycle = np.concatenate([x[end - 2 : start : -1], x[start:end]]) if s.ping_pong else x[start:end]
        repeats = max(0, math.ceil((seconds * rate - len(x)) / len(cycle)))
        x = np.concatenate([x[:end], np.tile(cycle, repeats), x[end:]])
    fade = min(len(x), int(0.05 * rate))
    x = x.copy()
    x[len(x) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return x


def freepats_notes(root: Path) -> list[Recording]:
    """Notes of freepats' instruments (Debian ``freepats``: GUS patches of sampled real instruments, 8- or 16-bit
    PCM, most at 22 to 32 kHz), only the samples that can say something about the band above 16 kHz.

    From each patch of a played instrument (General MIDI programs 0-79; not the harp, see
    :data:`FREEPATS_IN_TRAINING`), the samples stored at 44.1 or 48 kHz give or take 3% (a patch stores each
    sample's own rate, tuned by a few per cent: such a sample is played at the 44.1 or 48 kHz nearest, up to 3%
    off its pitch, no sample value changed), recorded for at least 0.1 s (the shortest are single waveform cycles),
    and whose band reaches past 16 kHz: the 16-18 kHz band at most 60 dB below the loudest 2-kHz band under
    16 kHz (:func:`band_top_db`; the pianos, organs, brass and flutes here fall 65 to 90 dB, a noise floor or
    less). Of those, the lowest- and highest-pitched sample of each patch, each as the note :func:`gus_note`
    makes of it: short looped samples (most of the saxophones, the distortion guitar) are held to 1.5 s."""
    out: list[Recording] = []
    for path in sorted((root / FREEPATS).glob("*.pat")):
        if int(path.name[:3]) > LAST_PROGRAM or path.name[:3] in FREEPATS_IN_TRAINING:
            continue
        usable = []
        for s in gus_patch(path):
            rate = min((44100, 48000), key=lambda r: abs(r - s.rate))
            in_rate = abs(s.rate / rate - 1) <= RATE_TOLERANCE and len(s.audio) >= MIN_SECONDS * s.rate
            if in_rate and band_top_db(s.audio, rate) >= BAND_TOP_DB:
                usable.append((s, rate))
        usable.sort(key=lambda pair: pair[0].root_hz)
        for s, rate in usable[:1] + usable[1:][-1:]:
            out.append((f"{path.stem[:21]}-{s.root_hz:.0f}Hz", gus_note(s, rate), rate))
    return out


# --- Drum loops, arranged here from the lossless one-shots ------------------------------------------------------

LOOP_BPMS = (90, 110, 128, 150)
LOOP_SEED = 20261208
#: 2-bar patterns, one character per sixteenth note: X an accent, x a hit, g a ghost note, . a rest.
LOOP_PATTERNS: dict[str, dict[str, str]] = {
    "rock": {
        "kick": "X.......x.x.....X.......x.x...x.",
        "snare": "....X.......X.......X.......X.g.",
        "hat": "x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.",
        "crash": "X...............................",
    },
    "four": {  # four on the floor
        "kick": "X...x...x...x...X...x...x...x...",
        "snare": "....X.......X.......X.......X...",
        "hat": "x...x...x...x...x...x...x...x...",
        "open": "..X...X...X...X...X...X...X...X.",
        "crash": "X...............................",
    },
    "break": {  # a breakbeat: syncopated kicks, ghost notes on the snare
        "kick": "X.x.......xx....X.x.......x.....",
        "snare": "....X..g.g..X..g....X..g.g..X...",
        "hat": "x.x.x.x.x.x.x.x.x.x.x.x.x.x.x...",
        "open": "..............................X.",
    },
}
VELOCITY = {"X": 1.0, "x": 0.75, "g": 0.35}


def loop_kits(root: Path) -> dict[str, tuple[dict[str, list[np.ndarray]], bool]]:
    """The kits the loops are played on: name -> (role -> velocity layers, soft to hard; whether the hi-hat's
    hits cut each other, as a real hi-hat's do). "acoustic": Red Zeppelin's kick, snare and crash, its ride
    keeping time and ride bell for accents (its hi-hats are in the training); "tr808": Hydrogen's
    TR808EmulationKit; "hybrid": Red Zeppelin's kick, snare (edge) and K17 crash with the 808's hi-hats."""
    rz = red_zeppelin_pieces(root)
    tr808 = root / H2 / "TR808EmulationKit"

    def one(name: str) -> list[np.ndarray]:
        audio, rate = mono_file(tr808 / name)
        assert rate == 44100, (name, rate)
        return [audio]

    machine = {
        "kick": one("808_Kick_Long.flac"),
        "snare": one("808_Snare_1.flac"),
        "hat": one("808_Hat_Closed.flac"),
        "open": one("808_Hat_Open.flac"),
        "crash": one("808_Cymbal.flac"),
    }
    acoustic = {"kick": rz["36"], "snare": rz["38"], "hat": rz["51"], "open": rz["53"], "crash": rz["49"]}
    hybrid = {"kick": rz["36"], "snare": rz["40"], "hat": machine["hat"], "open": machine["open"], "crash": rz["57"]}
    return {"acoustic": (acoustic, False), "tr808": (machine, True), "hybrid": (hybrid, True)}


def arrange(
    kit: dict[str, list[np.ndarray]], choke: bool, pattern: dict[str, str], bpm: int, rate: int, seed: int
) -> np.ndarray:
    """Two bars of ``pattern`` played on ``kit`` at ``bpm``: each hit the velocity layer its velocity picks (a
    one-layer piece scaled by the velocity instead), 3 ms of timing and 0.5 dB of level spread (seeded), every hit
    ringing out in full over the hits after it, and what rings past the second bar folded back onto the start, as
    a loop played over itself has it (so the file loops seamlessly); with ``choke``, a hi-hat hit (closed or open)
    cuts the one before it with a 5-ms fade. Peak-normalised to 0.9."""
    rng = np.random.default_rng(seed)
    step = 60 / bpm / 4 * rate
    length = round(32 * step)
    hits: list[tuple[int, str, np.ndarray]] = []
    for role, line in pattern.items():
        assert len(line) == 32, (role, line)
        for i, mark in enumerate(line):
            if mark == ".":
                continue
            velocity, layers = VELOCITY[mark], kit[role]
            audio = layers[min(len(layers) - 1, int(velocity * len(layers)))]
            gain = (velocity if len(layers) == 1 else 1.0) * 10 ** (float(np.clip(rng.normal(0, 0.5), -1, 1)) / 20)
            onset = round(i * step + float(np.clip(rng.normal(0, 0.003), -0.006, 0.006)) * rate) % length
            hits.append((onset, role, audio * np.float32(gain)))
    if choke:
        hats = sorted((h for h in hits if h[1] in ("hat", "open")), key=lambda h: h[0])
        cut = {}
        for j, (onset, _, audio) in enumerate(hats):
            following = hats[j + 1][0] if j + 1 < len(hats) else hats[0][0] + length
            ring = min(len(audio), following - onset)
            fade = min(ring, int(0.005 * rate))
            short = audio[:ring].copy()
            short[ring - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            cut[id(audio)] = short
        hits = [(onset, role, cut.get(id(audio), audio)) for onset, role, audio in hits]
    buffer = np.zeros(length + max(len(audio) for _, _, audio in hits), dtype=np.float64)
    for onset, _, audio in hits:
        buffer[onset : onset + len(audio)] += audio
    loop = np.zeros(length, dtype=np.float64)
    for start in range(0, len(buffer), length):
        part = buffer[start : start + length]
        loop[: len(part)] += part
    return (0.9 * loop / max(np.max(np.abs(loop)), 1e-9)).astype(np.float32)


def drum_loops(root: Path) -> list[Recording]:
    """12 drum loops, arranged by this benchmark from lossless real drum recordings (no package here has lossless
    loops, and the training's own loops cannot be used): the three :data:`LOOP_PATTERNS` (rock, four on the
    floor, breakbeat) at each of :data:`LOOP_BPMS`, each pattern and tempo on one of the three
    :func:`loop_kits` in turn, so that each kit plays each pattern; 2 bars each (3.2 to 5.3 s), 44.1 kHz,
    deterministic (:data:`LOOP_SEED`)."""
    kits = loop_kits(root)
    names = list(kits)
    out: list[Recording] = []
    for t, bpm in enumerate(LOOP_BPMS):
        for p, (style, pattern) in enumerate(LOOP_PATTERNS.items()):
            kit = names[(t + p) % len(names)]
            audio = arrange(*kits[kit], pattern, bpm, 44100, LOOP_SEED + len(out))
            out.append((f"{kit}_{style}_{bpm}bpm", audio, 44100))
    return out


#: set -> (Debian packages, category -> sources: folders under the unpacked packages, or functions that make
#: recordings from them). "lossy": mostly LMMS's Ogg Vorbis samples, as sample libraries hold them; their encoder
#: left most bins above 16 kHz empty, so a distance to them counts any band up there as an error. "lossless": PCM
#: recordings whose band reaches the Nyquist frequency, none of them held by the training (the module's docstring
#: says which were left out and how they were found): drums, the one-shots of avldrums' Red Zeppelin kit and of
#: Hydrogen's TR808EmulationKit (not its GMRockKit: the training's); loops, which no package here has lossless,
#: so arranged by this benchmark from those lossless real drum recordings (:func:`drum_loops`); the spoken
#: recordings; instruments, notes of freepats' GUS patches whose band reaches past 16 kHz
#: (:func:`freepats_notes`); Tux Paint's effects.
SETS: dict[str, tuple[tuple[str, ...], dict[str, tuple[Source, ...]]]] = {
    "lossy": (
        ("lmms-common", "alsa-utils", "supercollider-common"),
        {
            "drums": (f"{LMMS}/drums",),
            "loops": (f"{LMMS}/beats", f"{LMMS}/bassloops"),
            "speech": ("usr/share/sounds/alsa", "usr/share/SuperCollider/sounds"),
            "instruments": (f"{LMMS}/instruments", f"{LMMS}/basses", f"{LMMS}/stringsnpads", f"{LMMS}/latin"),
            "effects": (f"{LMMS}/effects", f"{LMMS}/misc"),
        },
    ),
    "lossless": (
        (
            "hydrogen-data",
            "avldrums.lv2-soundfont",
            "freepats",
            "tuxpaint-data",
            "puredata-doc",
            "alsa-utils",
            "supercollider-common",
        ),
        {
            "drums": (red_zeppelin_one_shots, f"{H2}/TR808EmulationKit"),
            "loops": (drum_loops,),
            "speech": ("usr/share/sounds/alsa", "usr/share/SuperCollider/sounds", "usr/share/puredata/doc/sound"),
            "instruments": (freepats_notes,),
            "effects": ("usr/share/tuxpaint/sounds",),
        },
    ),
}


def recordings(root: Path, source: Source, seconds: float) -> Iterator[Recording]:
    """The recordings of one source: made by its function, or each sound file of its folder at 44.1 kHz or more
    (its first ``seconds``, mixed to mono)."""
    import soundfile as sf

    if callable(source):
        yield from source(root)
        return
    for path in sorted((root / source).glob("*")):
        if path.name in SKIP or not path.is_file():
            continue
        try:
            info = sf.info(str(path))
            if info.samplerate < MIN_RATE or info.duration < MIN_SECONDS:
                continue
            mono, sr = mono_file(path, int(seconds * info.samplerate))
        except (RuntimeError, OSError, ValueError):
            continue  # LMMS ships a few files libsndfile cannot read
        yield path.name, mono, sr


def clips(
    root: Path, seconds: float, categories: dict[str, tuple[Source, ...]]
) -> list[tuple[str, str, np.ndarray, int]]:
    """(category, name, mono audio, rate) of every usable recording: at 44.1 kHz or more, at least
    :data:`MIN_SECONDS` long, not silent, its first ``seconds``."""
    found = []
    for category, sources in categories.items():
        for source in sources:
            for name, mono, sr in recordings(root, source, seconds):
                if sr < MIN_RATE or len(mono) < MIN_SECONDS * sr:
                    continue
                mono = mono[: int(seconds * sr)]
                if np.max(np.abs(mono)) < 1e-4:
                    continue
                found.append((category, name, mono.astype(np.float32), int(sr)))
    return found


def level_db(x: np.ndarray, rate: int) -> float:
    """Energy above 8 kHz relative to below, in dB."""
    s = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10((s[f >= EDGE].sum() + 1e-20) / (s[f < EDGE].sum() + 1e-20)))


def own_envelope(original: np.ndarray) -> Any:
    """An envelope function for ``extend_band`` that returns ``original``'s own band powers (the bound)."""
    import torch

    from audioldm_daw.engine.bandwidth import high_targets, stft

    def envelope(features: torch.Tensor, ref: torch.Tensor, bands: Any) -> torch.Tensor:
        power = stft(torch.from_numpy(np.ascontiguousarray(original)), bands.n_fft).abs().square()
        return torch.nan_to_num(high_targets(power, bands), nan=-30.0)[:, : ref.shape[-1]]

    return envelope


def timing(seconds: float) -> dict[str, float]:
    """Seconds of a 25-step generation of a ``seconds`` clip with the bundled model on the CPU (extension off),
    and of the extension of that clip at 48 kHz (the better of three runs each for the extension)."""
    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.engine.bandwidth import extend_band
    from audioldm_daw.engine.output import resample

    engine = Engine.load(ROOT / "models" / "audioldm-daw-mini", device="cpu")
    req = GenerateRequest("a drum loop", duration=seconds, steps=25, seed=0, full_band=False)
    engine.generate(GenerateRequest("warm-up", duration=seconds, steps=2, seed=0, full_band=False))
    t0 = time.perf_counter()
    clip = engine.generate(req)
    generate = time.perf_counter() - t0
    wave = resample(clip.audio, 48000, 16000)  # the model's own rate, as the engine has it before finishing
    wave48 = resample(wave, 16000, 48000)
    stage = []
    for i in range(3):
        t0 = time.perf_counter()
        extend_band(wave48, 48000, EDGE, 48000, seed=i)
        stage.append(time.perf_counter() - t0)
    return {"generate": generate, "stage": min(stage)}


VARIANTS = ("a", "b", "b16", "c", "c16", "full", "noise", "translated", "oracle")
CAP_HZ = 16000.0  # where lossy originals end: the capped variants stop here


def measure(found: list[tuple[str, str, np.ndarray, int]], say: Any) -> list[dict[str, Any]]:
    """Every variant of every recording: LSD above 8 kHz (to Nyquist), below it, the level above 8 kHz, LSD 8-16 kHz."""
    from audioldm_daw.engine.bandwidth import exciter, extend_band
    from audioldm_daw.engine.output import resample
    from audioldm_daw.workbench.training.bandwidth import lsd

    rows: list[dict[str, Any]] = []
    for i, (category, name, x, sr) in enumerate(found):
        lim = resample(resample(x, sr, 16000), 16000, sr)[: len(x)]
        out = {
            "a": lim,
            "b": exciter(lim, sr, EDGE),
            "b16": exciter(lim, sr, EDGE, top_hz=CAP_HZ),
            "c": extend_band(lim, sr, EDGE, sr, seed=i),
            "c16": extend_band(lim, sr, EDGE, sr, seed=i, top_hz=CAP_HZ),
            "noise": extend_band(lim, sr, EDGE, sr, seed=i, noise_share=1.0),
            "translated": extend_band(lim, sr, EDGE, sr, seed=i, noise_share=0.0),
            "oracle": extend_band(lim, sr, EDGE, sr, seed=i, envelope=own_envelope(x)),
        }
        out["full"] = out["c"]  # the stage's default top is the Nyquist frequency: the same call, not made twice
        row: dict[str, Any] = {"category": category, "name": name, "rate": sr, "level": level_db(x, sr)}
        for v in VARIANTS:
            y = out[v][: len(x)]
            row[v] = (
                lsd(x, y, sr, EDGE, sr / 2),
                lsd(x, y, sr, 0.0, EDGE),
                level_db(y, sr),
                lsd(x, y, sr, EDGE, CAP_HZ),
            )
        rows.append(row)
        say(
            f"{category:11s} {name:28s} {sr} Hz {len(x) / sr:5.2f} s  level {row['level']:6.1f} dB  LSD above/below "
            + "  ".join(f"{v} {row[v][0]:.2f}/{row[v][1]:.2f}" for v in ("a", "b", "c"))
            + f"  level c {row['c'][2]:6.1f} dB"
        )
    return rows


def report(rows: list[dict[str, Any]], say: Any) -> None:
    """The per-category tables of one set."""
    groups = [(c, [r for r in rows if c in ("overall", r["category"])]) for c in [*CATEGORY_ORDER, "overall"]]
    groups = [(c, rs) for c, rs in groups if rs]
    mean = lambda rs, v, k: statistics.mean(r[v][k] for r in rs)  # noqa: E731
    say()
    say(
        "| category | clips | LSD above 8 kHz: (a) band-limited / (b) exciter / (c) stage | (c) vs (a) | (c) vs (b) "
        "| LSD below 8 kHz: (a) / (b) / (c) | level above 8 kHz, median: original / (b) / (c) | (c) - original |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for category, rs in groups:
        hi = {v: mean(rs, v, 0) for v in VARIANTS}
        lo = {v: mean(rs, v, 1) for v in VARIANTS}
        lev = {v: statistics.median(r[v][2] for r in rs) for v in VARIANTS}
        diff = statistics.median(r["c"][2] - r["level"] for r in rs)
        say(
            f"| {category} | {len(rs)} | {hi['a']:.2f} / {hi['b']:.2f} / {hi['c']:.2f} | "
            f"{100 * (hi['c'] / hi['a'] - 1):+.0f}% | {100 * (hi['c'] / hi['b'] - 1):+.0f}% | "
            f"{lo['a']:.3f} / {lo['b']:.3f} / {lo['c']:.3f} | "
            f"{statistics.median(r['level'] for r in rs):.1f} / {lev['b']:.1f} / {lev['c']:.1f} dB | {diff:+.1f} dB |"
        )
    say()
    say(
        "Variants, LSD above 8 kHz (to the Nyquist frequency; in brackets 8 to 16 kHz): (b16) the exciter low-passed "
        "at 16 kHz; (c16) the stage stopped at 16 kHz; (full) the stage up to the Nyquist frequency; (noise) / "
        "(translated) the stage's fine structure all seeded noise / all the translated low band; (oracle) the stage "
        "given the original's own band powers in place of the network's prediction: the best any envelope could do "
        "with this fine structure"
    )
    say("| category | " + " | ".join(f"({v})" for v in VARIANTS) + " |")
    say("|---" * (len(VARIANTS) + 1) + "|")
    for category, rs in groups:
        say(f"| {category} | " + " | ".join(f"{mean(rs, v, 0):.2f} ({mean(rs, v, 3):.2f})" for v in VARIANTS) + " |")
    say()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "bench_bandwidth")
    ap.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    ap.add_argument("--seconds", type=float, default=10.0, help="the first seconds of each recording")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, among {', '.join(SETS)}")
    ap.add_argument("--no-timing", action="store_true", help="skip the timing against a generation")
    args = ap.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        ap.error(f"--sets: {', '.join(unknown)} is not a set of recordings here; expected some of {', '.join(SETS)}")

    import torch

    torch.set_num_threads(2)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    for name in sets:
        packages, categories = SETS[name]
        found = clips(unpack(args.cache, packages), args.seconds, categories)
        say(f"## {name}: {len(found)} recordings from {', '.join(packages)}; first {args.seconds:g} s of each, mono")
        t_start = time.perf_counter()
        rows = measure(found, say)
        say(f"{len(rows)} recordings, {time.perf_counter() - t_start:.0f} s")
        report(rows, say)
    if not args.no_timing:
        t = timing(args.seconds)
        say(
            f"cost: the stage on a {args.seconds:g} s clip at 48 kHz takes {t['stage']:.2f} s; a 25-step generation "
            f"of that clip with the bundled model takes {t['generate']:.1f} s on this CPU "
            f"({100 * t['stage'] / t['generate']:.1f}%)"
        )
    say(f"python {sys.version.split()[0]}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
