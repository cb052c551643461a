"""A take (the user's input file) read in pieces, and delivered audio that is written in blocks, never whole.

An edit of a long take holds only what it changes: the take's own samples go from its file into the result
block by block (:class:`TakeEdit`), through the engine's resampler on the way where another rate was asked for
(:func:`resampled_range`, which gives each sample exactly as a resampling of the whole take would). The windows
of a long transfer, variation or upsample are joined as each is finished (:class:`Joiner`) and kept in a
temporary file (:class:`Spool`) until the clip is written. :func:`~audioldm_daw.engine.output.write_clip`
writes such audio block by block; ``np.asarray`` reads it whole, for callers of ``Engine.generate`` that want
an array.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audioldm_daw.engine.errors import InputAudioError, OutputError
from audioldm_daw.engine.input_audio import check_input_file, read_window
from audioldm_daw.engine.output import FADE_MS, LOWPASS_WIDTH, ROLLOFF, SUBTYPES, load_soundfile, resample

BLOCK_FRAMES = 1 << 16  # frames per block read from a take or written to a clip
SILENT_RMS = 1e-5  # -100 dBFS: a stretch this quiet sets no level
MAX_JOIN_GAIN = 4.0  # the most (and 1/this the least) a window is scaled by to meet the one before it


# -- reading a take in pieces ------------------------------------------------------------------------------
Reader = Callable[[int, int], np.ndarray]  # (first frame, count) -> (frames, channels) float32, fewer at the end


def resampled_length(frames: int, sr_in: int, sr_out: int) -> int:
    """Samples that :func:`~audioldm_daw.engine.output.resample` makes of ``frames`` input frames."""
    return frames if sr_in == sr_out else math.ceil(sr_out * frames / sr_in)


def resampled_range(read: Reader, frames: int, sr_in: int, sr_out: int, start: int, stop: int) -> np.ndarray:
    """Samples ``start``..``stop`` of the whole input (``frames`` frames that ``read`` gives) resampled from
    ``sr_in`` to ``sr_out``, computed from the input around them only; (samples, channels) float32.

    The input is cut at a multiple of the rates' period (``sr_in / gcd`` frames, the resampler's own step),
    with context on both sides whose output is dropped, so every sample is the one
    :func:`~audioldm_daw.engine.output.resample` of the whole input gives (bit for bit where the rate goes
    up; where it goes down, to float rounding: the filter's sums are grouped by the length resampled)."""
    stop = min(stop, resampled_length(frames, sr_in, sr_out))
    if stop <= start:
        return np.zeros((0, read(0, 0).shape[1]), dtype=np.float32)
    if sr_in == sr_out:
        return read(start, stop - start)
    g = math.gcd(sr_in, sr_out)
    period_in, period_out = sr_in // g, sr_out // g
    reach = math.ceil(LOWPASS_WIDTH / (min(sr_in, sr_out) * ROLLOFF) * sr_in) + 2  # the filter's half length
    context = math.ceil(reach / period_in + 1) * period_in
    first = max(0, (start // period_out) * period_in - context)
    last = min(frames, math.ceil(stop / period_out) * period_in + context)
    chunk = read(first, last - first)
    out = np.stack([resample(np.ascontiguousarray(c), sr_in, sr_out) for c in chunk.T], axis=1)
    offset = (first // period_in) * period_out
    return out[start - offset : stop - offset]


@dataclass(frozen=True)
class Take:
    """The input file as its header describes it: what the delivered edit keeps (rate, channels, subtype)."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @classmethod
    def open(cls, path: str) -> Take:
        info = check_input_file(path)
        return cls(str(path), int(info.samplerate), int(info.channels), int(info.frames), str(info.subtype))

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def wav_subtype(self, sample_format: str | None) -> str:
        """The WAV subtype to write: the one asked for, else the take's own where a WAV can hold it."""
        if sample_format is not None:
            return SUBTYPES[sample_format]
        sf = load_soundfile()
        return self.subtype if sf.check_format("WAV", self.subtype) else "FLOAT"

    def read(self, start: int, frames: int) -> np.ndarray:
        """Frames ``start`` .. ``start + frames`` as stored (fewer at the end), float32, (frames, channels)."""
        return read_window(self.path, start, frames)

    def length_at(self, rate: int) -> int:
        """The take's length in samples at ``rate``."""
        return resampled_length(self.frames, self.sample_rate, rate)

    def range_at(self, rate: int, start: int, stop: int) -> np.ndarray:
        """Samples ``start``..``stop`` of the take at ``rate`` (its own, or as the resampler makes them)."""
        return resampled_range(self.read, self.frames, self.sample_rate, rate, start, stop)

    def mono_range(self, rate: int, start: int, stop: int) -> np.ndarray:
        """Samples ``start``..``stop`` of the channels' mean at ``rate``, as the model hears the take."""

        def mono(first: int, count: int) -> np.ndarray:
            return self.read(first, count).mean(axis=1, keepdims=True, dtype=np.float32)

        return resampled_range(mono, self.frames, self.sample_rate, rate, start, stop)[:, 0]

    def samples_at(self, rate: int) -> np.ndarray:
        """The whole take at ``rate``: its own samples, or each channel through the engine's resampler."""
        data = self.read(0, self.frames)
        if rate == self.sample_rate:
            return data
        return np.stack([resample(c, self.sample_rate, rate) for c in data.T], axis=1)

    def blocks_at(self, rate: int, block: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The whole take at ``rate`` in consecutive blocks of at most ``block`` samples."""
        if rate == self.sample_rate:
            try:
                with load_soundfile().SoundFile(self.path) as f:
                    for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                        if not np.all(np.isfinite(data)):
                            raise InputAudioError(f"input: {self.path} contains NaN or infinite samples")
                        yield data
            except (RuntimeError, OSError) as exc:
                raise InputAudioError(
                    f"input: {self.path} could not be read again while the clip was written (moved, changed or "
                    "damaged since the request); put it back or export it again, then send the request again"
                ) from exc
            return
        n = self.length_at(rate)
        for start in range(0, n, block):
            yield self.range_at(rate, start, min(n, start + block))

    def level(self) -> tuple[float, float]:
        """DC offset and the peak around it of the channels' mean, over the whole take (read in blocks): one
        level for every window a long input is heard in, as :func:`~audioldm_daw.engine.plans.prepare_input`
        sets it for a whole clip."""
        total, peak_hi, peak_lo = 0.0, -math.inf, math.inf
        for block in self.blocks_at(self.sample_rate):
            mono = block.mean(axis=1, dtype=np.float64)
            total += float(mono.sum())
            peak_hi, peak_lo = max(peak_hi, float(mono.max())), min(peak_lo, float(mono.min()))
        dc = total / max(self.frames, 1)
        return dc, max(peak_hi - dc, dc - peak_lo, 0.0)


# -- audio delivered in blocks -----------------------------------------------------------------------------
class StreamedAudio(np.lib.mixins.NDArrayOperatorsMixin):
    """Audio of ``frames`` x ``channels`` (1-D where ``mono``) that is produced block by block.

    It answers ``len``, ``shape``, ``size`` and ``dtype`` like the array it stands for, becomes that array under
    ``np.asarray`` (and in arithmetic and numpy functions, which read it whole); :meth:`write_wav` writes it
    without holding it whole."""

    dtype = np.dtype(np.float32)

    def __init__(self, frames: int, channels: int, mono: bool = False) -> None:
        self.frames, self.channels, self.mono = int(frames), int(channels), bool(mono)

    def blocks(self) -> Iterator[np.ndarray]:
        """Consecutive float32 blocks, (n, channels) (or (n,) where ``mono``), covering every frame once."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.frames

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.frames,) if self.mono else (self.frames, self.channels)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return self.frames * self.channels

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        parts = list(self.blocks())
        whole = np.concatenate(parts) if parts else np.zeros(self.shape, dtype=np.float32)
        return whole if dtype is None else whole.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        whole = tuple(np.asarray(x) if isinstance(x, StreamedAudio) else x for x in inputs)
        return getattr(ufunc, method)(*whole, **kwargs)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self)[key]

    def astype(self, dtype: Any, **kwargs: Any) -> np.ndarray:
        return np.asarray(self).astype(dtype, **kwargs)

    def peak(self) -> float:
        return max((float(np.max(np.abs(b))) for b in self.blocks() if len(b)), default=0.0)

    def normalized(self, db: float | None) -> StreamedAudio:
        """Scaled so the peak sits at ``db`` dBFS (None: as it is), like
        :func:`~audioldm_daw.engine.output.normalize_peak`."""
        if db is None:
            return self
        peak = self.peak()
        if peak < 1e-9:
            return self
        return Scaled(self, 10.0 ** (db / 20.0) / peak)

    def write_wav(self, path: str | Path, rate: int, subtype: str) -> None:
        """Write a WAV of ``subtype`` block by block."""
        sf = load_soundfile()
        with sf.SoundFile(str(path), "w", int(rate), self.channels, subtype=subtype, format="WAV") as f:
            for block in self.blocks():
                f.write(block)


class Scaled(StreamedAudio):
    """Another streamed audio times a gain (peak normalisation)."""

    def __init__(self, audio: StreamedAudio, gain: float) -> None:
        super().__init__(audio.frames, audio.channels, audio.mono)
        self.audio, self.gain = audio, np.float32(gain)

    def blocks(self) -> Iterator[np.ndarray]:
        for block in self.audio.blocks():
            yield (block * self.gain).astype(np.float32)


class TakeEdit(StreamedAudio):
    """The take at ``rate`` with new parts laid over it (each ``(first sample, (n, channels) array)``) and
    ``tail`` after it: what an inpaint or a continuation delivers, read from the take's file as it is written."""

    def __init__(
        self, take: Take, rate: int, parts: Sequence[tuple[int, np.ndarray]] = (), tail: np.ndarray | None = None
    ) -> None:
        self.take, self.rate = take, int(rate)
        self.parts = [(int(at), np.asarray(p, dtype=np.float32)) for at, p in parts]
        self.tail = None if tail is None else np.asarray(tail, dtype=np.float32)
        self.kept = take.length_at(self.rate)
        super().__init__(self.kept + (0 if self.tail is None else len(self.tail)), take.channels)

    def blocks(self) -> Iterator[np.ndarray]:
        at = 0
        for block in self.take.blocks_at(self.rate):
            end = at + len(block)
            for first, part in self.parts:
                lo, hi = max(first, at), min(first + len(part), end)
                if lo < hi:
                    block = block.copy() if not block.flags.writeable else block
                    block[lo - at : hi - at] = part[lo - first : hi - first]
            yield block
            at = end
        if self.tail is not None:
            for start in range(0, len(self.tail), BLOCK_FRAMES):
                yield self.tail[start : start + BLOCK_FRAMES]


class Spool(StreamedAudio):
    """Finished audio kept in an anonymous temporary file (removed when closed or collected) until written."""

    def __init__(self, channels: int, mono: bool = False) -> None:
        super().__init__(0, channels, mono)
        self.file: Any = None

    def append(self, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.channels)
        try:
            if self.file is None:
                self.file = tempfile.TemporaryFile(prefix="audioldm-daw-")  # noqa: SIM115 (open while the clip lives)
            self.file.seek(0, 2)
            self.file.write(data.tobytes())
        except OSError as exc:
            folder = tempfile.gettempdir()
            why = (exc.strerror or "the system gave no reason").lower()
            raise OutputError(
                f"could not keep the finished windows of a long clip in the temporary folder {folder} ({why}); "
                "free some space there or set TMPDIR to a folder on a drive with room, then send the request again"
            ) from exc
        self.frames += len(data)

    def blocks(self) -> Iterator[np.ndarray]:
        if self.file is None:
            return
        self.file.seek(0)
        step = BLOCK_FRAMES * self.channels * 4
        for _ in range(0, self.frames * self.channels * 4, step):
            data = np.frombuffer(self.file.read(step), dtype=np.float32).reshape(-1, self.channels)
            yield data[:, 0].copy() if self.mono else data.copy()


# -- joining overlapping windows ---------------------------------------------------------------------------
def rms(x: np.ndarray) -> np.ndarray:
    """RMS per channel of ``x`` (samples, channels), float64."""
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0)) if len(x) else np.zeros(x.shape[1])


def matched_crossfade(n: int, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fade-in and fade-out gains, (n, channels), of a crossfade that keeps the level of two signals whose
    correlation over it is ``rho`` (per channel): linear where they are the same (their amplitudes add),
    equal-power where they are unrelated (their powers add), and in between for the rest.

    With ``o(t) = t - 1/2`` and ``e(t)`` even, fade-in ``e + o`` and fade-out ``e - o`` give a power of
    ``2 (1 + rho) e^2 + 2 (1 - rho) o^2``, which is 1 for ``e = sqrt((1 - 2 (1 - rho) o^2) / (2 (1 + rho)))``."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    o = (t - 0.5)[:, None]
    r = np.clip(np.asarray(rho, dtype=np.float64), 0.0, 1.0)[None, :]
    e = np.sqrt((1.0 - 2.0 * (1.0 - r) * o**2) / (2.0 * (1.0 + r)))
    return e + o, e - o


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised correlation per channel of ``a`` and ``b`` (samples, channels); 0 where either is silent."""
    num = np.sum(a * b, axis=0)
    den = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


class Joiner:
    """Overlapping windows made one after another -> one continuous signal, handed on front to back.

    Window ``i`` starts at ``starts[i]`` (samples) and is ``length`` long (the last is cut at ``total``); each
    overlaps the next by at least ``overlap``. Over the last ``overlap`` of each window the next one takes over:
    it is first brought to the earlier window's level there (both render the same passage of the input, so the
    difference is the model's, not the music's; the gain returns to 1 over the rest of the window, so it never
    builds up), then the two cross over :func:`matched_crossfade` between ``margin`` from either edge (a
    window's first and last samples are the least sure of their context). ``emit(first sample, audio)``
    receives each stretch once nothing later can change it.
    """

    def __init__(
        self,
        starts: Sequence[int],
        length: int,
        total: int,
        overlap: int,
        margin: int,
        emit: Callable[[int, np.ndarray], None],
    ) -> None:
        if len(starts) > 1 and not 0 <= 2 * margin < overlap:
            raise ValueError(f"join: margin {margin} leaves no crossfade in an overlap of {overlap} samples")
        self.starts, self.length, self.total = list(starts), int(length), int(total)
        self.overlap, self.margin, self.emit = int(overlap), int(margin), emit
        self.held: np.ndarray | None = None  # the part of the joined signal that the next window may still change
        self.at = 0  # its first sample

    def crossfade(self, i: int) -> tuple[int, int]:
        """Where window ``i`` (i > 0) takes over from the one before: first and last-plus-one sample."""
        end = self.starts[i - 1] + self.length
        return end - self.overlap + self.margin, end - self.margin

    def add(self, i: int, audio: np.ndarray) -> None:
        """Window ``i``'s audio, (samples, channels), in order from ``i = 0``."""
        s = self.starts[i]
        audio = np.asarray(audio, dtype=np.float64)[: self.total - s]
        if self.held is None:
            self.held, self.at = audio, s
        else:
            x0, x1 = self.crossfade(i)
            assert self.at == x0, "windows are added in order"
            before, new = self.held[: x1 - x0], audio[x0 - s : x1 - s]
            have, want = rms(new), rms(before)
            gain = np.where((have > SILENT_RMS) & (want > SILENT_RMS), want / np.maximum(have, 1e-300), 1.0)
            gain = np.clip(gain, 1 / MAX_JOIN_GAIN, MAX_JOIN_GAIN)
            ramp = np.clip((np.arange(len(audio)) - (x1 - s)) / max(len(audio) - (x1 - s), 1), 0.0, 1.0)[:, None]
            audio = audio * (gain[None, :] + (1.0 - gain[None, :]) * ramp)
            new = audio[x0 - s : x1 - s]
            fade_in, fade_out = matched_crossfade(x1 - x0, correlation(before, new))
            self.held = np.concatenate([before * fade_out + new * fade_in, audio[x1 - s :]])
        if i + 1 < len(self.starts):
            keep = self.crossfade(i + 1)[0] - self.at
        else:
            keep = len(self.held)
        done, self.held = self.held[:keep], self.held[keep:]
        self.emit(self.at, done)
        self.at += keep


def edge_fades(audio: np.ndarray, rate: int, *, start: bool, end: bool) -> np.ndarray:
    """Raised-cosine fades of :data:`~audioldm_daw.engine.output.FADE_MS` at the start and/or end of a
    clip that is finished in stretches (:func:`~audioldm_daw.engine.output.fade`'s, one stretch at a time)."""
    n = min(int(rate * FADE_MS / 1000), len(audio) // 2)
    if n <= 0 or not (start or end):
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))).astype(np.float32)
    out = np.array(audio, dtype=np.float32)
    shape = (n,) + (1,) * (out.ndim - 1)
    if start:
        out[:n] *= ramp.reshape(shape)
    if end:
        out[-n:] *= ramp[::-1].reshape(shape)
    return out
