"""Tempo and loop metadata in WAV files: the ACID chunk (``acid``) and the sampler chunk (``smpl``).

DAWs read these to warp a loop without guessing: the ACID chunk carries the tempo, the number of beats
and the meter (Live, Bitwig, REAPER, ACID, FL Studio), the sampler chunk one forward loop over the whole
file (samplers, REAPER, Bitwig). Standard library only; no torch, no numpy.

Layouts, all little-endian (the ACID chunk as published with Sony ACID and documented by libsndfile and
the RIFF references; the sampler chunk from the Microsoft/IBM RIFF multimedia spec):

``acid``, 24 bytes::

    u32 flags      0x01 one-shot (clear: a loop), 0x02 root note set, 0x04 stretch, 0x08 disk-based
    u16 root note  MIDI note (60 = C4)
    u16 unknown    0x8000, as ACID writes it
    f32 unknown    0.0
    u32 beats      number of beats
    u16 meter denominator
    u16 meter numerator
    f32 tempo      beats per minute

``smpl``, 36 bytes plus 24 per loop::

    u32 manufacturer, u32 product, u32 sample period (ns per sample), u32 MIDI unity note,
    u32 MIDI pitch fraction, u32 SMPTE format, u32 SMPTE offset, u32 loop count, u32 sampler data
    loop: u32 cue id, u32 type (0 forward), u32 start, u32 end (last sample, inclusive), u32 fraction,
          u32 play count (0 = forever)

:func:`add_tempo_chunks` rewrites a WAV with both chunks placed before ``data`` (where ACID-ized files
keep them), replacing any it had; everything else is copied byte for byte. :func:`read_tempo_chunks` walks
the RIFF chunks of a file on its own (it shares no code with the writer) and reports what it finds.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

ACID_ONE_SHOT = 0x01
ACID_ROOT_NOTE = 0x02
ACID_STRETCH = 0x04
ACID_DISK_BASED = 0x08
UNITY_NOTE = 60


class WavChunkError(ValueError):
    """The file is not a RIFF/WAVE file this module can rewrite (or the values make no sense)."""


@dataclass(frozen=True)
class TempoInfo:
    """What :func:`read_tempo_chunks` found; fields are None where the file has no such chunk."""

    bpm: float | None = None  # also None in a one-shot ``acid`` chunk that gives no tempo
    beats: int | None = None
    meter: tuple[int, int] | None = None  # (numerator, denominator)
    loop: bool | None = None  # ACID: not one-shot
    root_note: int | None = None  # ACID root note, when its flag is set
    stretch: bool | None = None
    smpl_loops: tuple[tuple[int, int, int], ...] = ()  # (type, start, end) per loop
    sample_period_ns: int | None = None
    unity_note: int | None = None
    chunks: tuple[str, ...] = ()  # chunk ids in file order


# -- writing -----------------------------------------------------------------------------------------
def acid_chunk(
    *,
    bpm: float | None,
    beats: int,
    loop: bool = True,
    numerator: int = 4,
    denominator: int = 4,
    root_note: int | None = None,
) -> bytes:
    """The ``acid`` chunk (header included). ``bpm`` None: a one-shot with no tempo (a sound without a beat,
    which a DAW should play as it is rather than warp)."""
    if bpm is None:
        loop, bpm_value = False, 0.0
    else:
        bpm_value = float(bpm)
    if (
        not (bpm is None or 0 < bpm_value < 10000)
        or beats < 0
        or not 0 < numerator < 65536
        or not 0 < denominator < 65536
    ):
        raise WavChunkError(f"acid: bad tempo {bpm!r} / beats {beats!r} / meter {numerator}/{denominator}")
    flags = (0 if bpm is None else ACID_STRETCH) | (0 if loop else ACID_ONE_SHOT)
    if root_note is not None:
        if not 0 <= root_note <= 127:
            raise WavChunkError(f"acid: root note {root_note!r} is not a MIDI note")
        flags |= ACID_ROOT_NOTE
    body = struct.pack(
        "<IHHfIHHf", flags, UNITY_NOTE if root_note is None else root_note, 0x8000, 0.0, int(beats), denominator,
        numerator, bpm_value,
    )  # fmt: skip
    return b"acid" + struct.pack("<I", len(body)) + body


def smpl_chunk(*, sample_rate: int, frames: int, unity_note: int = UNITY_NOTE) -> bytes:
    """The ``smpl`` chunk with one forward loop over the whole file (end is the last sample, inclusive)."""
    if sample_rate <= 0 or frames <= 0:
        raise WavChunkError(f"smpl: bad sample rate {sample_rate!r} or length {frames!r}")
    period = round(1e9 / sample_rate)
    head = struct.pack("<9I", 0, 0, period, unity_note, 0, 0, 0, 1, 0)
    loop = struct.pack("<6I", 0, 0, 0, frames - 1, 0, 0)
    return b"smpl" + struct.pack("<I", len(head) + len(loop)) + head + loop


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, start of the chunk header, end including the pad byte) for each top-level chunk."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavChunkError("not a RIFF/WAVE file")
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        end = pos + 8 + size + (size & 1)
        if end > len(data):
            if cid != b"data":
                raise WavChunkError(f"chunk {cid!r} runs past the end of the file")
            end = len(data)
        out.append((cid, pos, end))
        pos = end
    return out


def with_tempo_chunks(
    data: bytes,
    *,
    bpm: float | None,
    beats: int,
    loop: bool = True,
    numerator: int = 4,
    denominator: int = 4,
    root_note: int | None = None,
) -> bytes:
    """The bytes of a WAV file with ``acid`` and ``smpl`` chunks before ``data`` (old ones dropped); ``bpm``
    None: a one-shot ``acid`` chunk without a tempo, and no ``smpl`` loop."""
    chunks = _chunks(data)
    found = {cid: (a, b) for cid, a, b in chunks}
    if b"fmt " not in found or b"data" not in found:
        raise WavChunkError("a WAVE file needs fmt and data chunks")
    fa, _ = found[b"fmt "]
    channels, rate = struct.unpack_from("<HI", data, fa + 10)
    block_align = struct.unpack_from("<H", data, fa + 20)[0]
    da, db = found[b"data"]
    data_size = min(struct.unpack_from("<I", data, da + 4)[0], db - da - 8)
    if channels <= 0 or block_align <= 0:
        raise WavChunkError("fmt chunk has no channels")
    frames = data_size // block_align
    new = acid_chunk(bpm=bpm, beats=beats, loop=loop, numerator=numerator, denominator=denominator, root_note=root_note)
    if bpm is not None:
        new += smpl_chunk(sample_rate=rate, frames=frames)
    body = b"WAVE"
    for cid, a, b in chunks:
        if cid in (b"acid", b"smpl"):
            continue
        if cid == b"data":
            body += new
        body += data[a:b]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def add_tempo_chunks(
    path: str | os.PathLike,
    *,
    bpm: float | None,
    beats: int,
    loop: bool = True,
    numerator: int = 4,
    denominator: int = 4,
    root_note: int | None = None,
) -> None:
    """Rewrite the WAV at ``path`` with tempo/loop chunks; atomic (a temporary file renamed over it)."""
    path = Path(path)
    data = with_tempo_chunks(
        path.read_bytes(), bpm=bpm, beats=beats, loop=loop, numerator=numerator, denominator=denominator,
        root_note=root_note,
    )  # fmt: skip
    replace_bytes(path, data, prefix=".chunks-")


def replace_bytes(path: Path, data: bytes, prefix: str = ".") -> None:
    """Write ``data`` at ``path`` atomically: a hidden temporary file beside it, renamed over it when whole, so
    a DAW watching the folder never reads half a file."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def beats_for(bars: float, beats_per_bar: float) -> int:
    """Whole beats of ``bars`` bars (the ACID chunk counts beats as an integer)."""
    return max(1, round(bars * beats_per_bar))


# -- reading (independent of the writer) -------------------------------------------------------------
def read_tempo_chunks(path: str | os.PathLike) -> TempoInfo:
    """Walk the RIFF chunks of a WAV file and decode ``acid`` and ``smpl`` where present."""
    raw = Path(path).read_bytes()
    if raw[0:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavChunkError(f"{path}: not a RIFF/WAVE file")
    riff_end = min(len(raw), 8 + int.from_bytes(raw[4:8], "little"))
    info: dict = {"chunks": []}
    offset = 12
    while offset + 8 <= riff_end:
        name = raw[offset : offset + 4].decode("latin-1")
        length = int.from_bytes(raw[offset + 4 : offset + 8], "little")
        payload = raw[offset + 8 : offset + 8 + length]
        info["chunks"].append(name)
        if name == "acid" and length >= 24:
            flags = int.from_bytes(payload[0:4], "little")
            info["loop"] = not flags & 1
            info["stretch"] = bool(flags & 4)
            if flags & 2:
                info["root_note"] = int.from_bytes(payload[4:6], "little")
            info["beats"] = int.from_bytes(payload[12:16], "little")
            info["meter"] = (int.from_bytes(payload[18:20], "little"), int.from_bytes(payload[16:18], "little"))
            bpm = struct.unpack("<f", payload[20:24])[0]
            info["bpm"] = bpm if bpm > 0 else None  # a one-shot without a tempo
        elif name == "smpl" and length >= 36:
            words = [int.from_bytes(payload[i : i + 4], "little") for i in range(0, 36, 4)]
            info["sample_period_ns"], info["unity_note"] = words[2], words[3]
            loops = []
            for n in range(words[7]):
                at = 36 + 24 * n
                if at + 24 > length:
                    break
                _cue, kind, start, end = (int.from_bytes(payload[at + i : at + i + 4], "little") for i in (0, 4, 8, 12))
                loops.append((kind, start, end))
            info["smpl_loops"] = tuple(loops)
        offset += 8 + length + (length % 2)
    info["chunks"] = tuple(info["chunks"])
    return TempoInfo(**info)
