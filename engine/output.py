"""From the vocoder's waveform to a finished clip on disk: rate, length, level, fades, atomic writes.

A clip and its JSON sidecar are written in full (and fsync'd) under hidden temporary names, then renamed
into place, sidecar first and WAV last: a program watching the folder for WAVs never sees a partial file,
and every WAV it sees already has its recall data beside it. A crash can leave hidden ``.part`` files, or
(between the two renames) a sidecar whose complete WAV is still hidden; :func:`recover_clips` removes the
first and completes the second, in the clips folder and the subfolders below it, and runs before anything
is written into a clips folder. A write that fails (disk full or out of inodes, a quota used up, folder
gone or read-only, a path too long) raises :class:`OutputError` with a sentence that says which folder,
what happened and what to do, and leaves nothing behind. A clip of the clips folder is written only
inside it: its folder is resolved, links included, when the path is chosen and again at the write.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from audioldm_daw.engine.errors import AudioLibraryError, EngineError, InvalidRequest, OutputError
from audioldm_daw.engine.names import not_reserved

log = logging.getLogger(__name__)

FADE_MS = 5.0
SUBTYPES = {"float32": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}


LOWPASS_WIDTH = 6  # torchaudio's defaults: zero crossings of the sinc on each side, and the roll-off
ROLLOFF = 0.99
MAX_KERNEL_ELEMENTS = 1 << 20  # torchaudio's table beyond this (8 MB as float64) takes the streaming path
CHUNK_ELEMENTS = 1 << 18  # outputs x taps per chunk of the streaming path (2 MB per float64 temporary)


def load_soundfile() -> ModuleType:
    """soundfile, or :class:`AudioLibraryError` saying that libsndfile failed to load and how to repair it.

    Imported on first use, so a broken install is a sentence at the request that needs it, not a
    traceback at import (or libsndfile's words passed off as a disk problem).
    """
    try:
        import soundfile
    except (ImportError, OSError) as exc:
        raise AudioLibraryError.failed("soundfile (libsndfile)", "soundfile", exc) from exc
    return soundfile


def _torchaudio_functional() -> ModuleType:
    try:
        import torchaudio.functional as AF
    except (ImportError, OSError, RuntimeError) as exc:  # a torchaudio built for another torch fails to link
        raise AudioLibraryError.failed("torchaudio", "torchaudio", exc) from exc
    return AF


def torchaudio_kernel_elements(sr_in: int, sr_out: int) -> int:
    """Size of the table torchaudio builds for this pair of rates: (sr_out/g) x (sr_in/g + 2 width).

    It grows with the rates divided by their common factor g: 16 -> 48 kHz needs 3 x 15 entries, an
    input at 11,127 Hz (no factor shared with 16 kHz) 16,000 x 11,139, about 1.4 GB in float64.
    """
    g = math.gcd(int(sr_in), int(sr_out))
    orig, new = sr_in // g, sr_out // g
    width = math.ceil(LOWPASS_WIDTH * orig / (min(orig, new) * ROLLOFF))
    return new * (orig + 2 * width)


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (a no-op at equal rates), within a fixed memory bound for any pair of rates.

    Rates with a large common factor (every output rate from the model's 16 kHz, and the usual input
    rates) go through torchaudio exactly as before, so recorded clips regenerate sample for sample.
    Rates whose torchaudio table would be large (an input at 11,127 or 44,101 Hz) take
    :func:`resample_streaming`, the same windowed sinc evaluated per output sample in chunks.
    """
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    if torchaudio_kernel_elements(sr_in, sr_out) > MAX_KERNEL_ELEMENTS:
        return resample_streaming(audio, sr_in, sr_out)
    import torch

    AF = _torchaudio_functional()
    return AF.resample(torch.as_tensor(np.asarray(audio, dtype=np.float32)), sr_in, sr_out).numpy()


def resample_streaming(audio: np.ndarray, sr_in: int, sr_out: int, chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """torchaudio's Hann-windowed sinc resampler (width 6, roll-off 0.99), computed per output sample.

    Output ``m`` at time m/sr_out sums the inputs within 6 zero crossings of the low-pass filter
    (cutoff 0.99 x the lower rate): about 12 x sr_in / min(sr_in, sr_out) taps, 13 when upsampling and
    291 from 384 kHz. Chunks hold at most ``chunk_elements`` outputs x taps, so beyond the input and
    output arrays the memory used is a few chunk-sized float64 temporaries (under 16 MB at the default),
    whatever the rates; the values equal torchaudio's to float rounding.
    """
    x = np.asarray(audio, dtype=np.float64)
    n_in = len(x)
    n_out = math.ceil(sr_out * n_in / sr_in)
    base = min(sr_in, sr_out) * ROLLOFF  # Hz
    reach = LOWPASS_WIDTH / base  # seconds on each side of an output sample
    half = math.ceil(reach * sr_in) + 1
    taps = 2 * half + 1
    out = np.empty(n_out, dtype=np.float32)
    step = max(1, chunk_elements // taps)
    offsets = np.arange(-half, half + 1, dtype=np.int64)
    scale = base / sr_in
    for start in range(0, n_out, step):
        m = np.arange(start, min(n_out, start + step), dtype=np.int64)
        centre = (m * sr_in) // sr_out  # the input sample at or before each output's time, exactly
        n = centre[:, None] + offsets[None, :]
        t = (n / sr_in - (m / sr_out)[:, None]) * base  # the sinc's argument, in zero crossings
        np.clip(t, -LOWPASS_WIDTH, LOWPASS_WIDTH, out=t)
        w = np.cos(t * (math.pi / LOWPASS_WIDTH / 2)) ** 2
        w *= np.sinc(t)
        valid = (n >= 0) & (n < n_in)
        samples = np.where(valid, x[np.clip(n, 0, max(n_in - 1, 0))], 0.0) if n_in else np.zeros_like(t)
        out[start : start + len(m)] = np.einsum("ij,ij->i", samples, w) * scale
    return out


def resample_periodic(audio: np.ndarray, n_out: int) -> np.ndarray:
    """Band-limited resampling of one period of a loop to exactly ``n_out`` samples (FFT, so the result
    is periodic too: its last sample flows into its first). Also adjusts a loop whose model period is a
    few milliseconds off the requested length, at the cost of a pitch change of the same ratio."""
    spec = np.fft.rfft(np.asarray(audio, dtype=np.float64))
    n_in = len(audio)
    keep = min(len(spec), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out[:keep] = spec[:keep]
    if n_out % 2 == 0 and keep == n_out // 2 + 1 and n_out < n_in:
        out[-1] = out[-1].real  # the Nyquist bin of an even-length real signal is real
    return (np.fft.irfft(out, n_out) * (n_out / n_in)).astype(np.float32)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), dtype=audio.dtype)])


def fade(audio: np.ndarray, sr: int, ms: float = FADE_MS) -> np.ndarray:
    """Raised-cosine fade in and out against clicks at the clip's edges."""
    n = min(int(sr * ms / 1000), len(audio) // 2)
    if n <= 0:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))).astype(np.float32)
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def normalize_peak(audio: np.ndarray, db: float | None) -> np.ndarray:
    """Scale so the peak sits at ``db`` dBFS (None: leave the level as the model made it)."""
    if db is None:
        return audio
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak < 1e-9:
        return audio
    return (audio * (10.0 ** (db / 20.0) / peak)).astype(np.float32)


def finish(
    audio: np.ndarray,
    sr_in: int,
    sr_out: int,
    duration: float,
    *,
    normalize_db: float | None,
    loop: bool,
    extend: Callable[[np.ndarray, bool], np.ndarray] | None = None,
) -> np.ndarray:
    """Native waveform -> delivered clip: resample, exact length, fades (not for loops), peak level.

    ``extend(audio, periodic)``, where given, adds the band above the model's to the resampled audio (the
    bandwidth extension, engine/bandwidth.py) before the fades and the peak level; ``periodic`` for a loop."""
    audio = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise EngineError("the model produced non-finite audio (NaN/inf); try another seed or fp32")
    n_out = round(duration * sr_out)
    if loop:
        audio = resample_periodic(audio, n_out)  # one period in, one period of exactly n_out samples out
        if extend is not None:
            audio = extend(audio, True)
    else:
        audio = resample(audio, sr_in, sr_out)
        if extend is not None:
            audio = extend(audio, False)
        audio = fade(fit_length(audio, n_out), sr_out)
    return normalize_peak(audio, normalize_db).astype(np.float32)


_STEM_BAD = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_stem(name: str, fallback: str = "clip") -> str:
    """A file-name stem from user text (a prompt, a name): no folders, no dots at the start or end, no odd
    characters, and none of Windows' device names (a prompt "con" gives "con_"), so the file can be
    written, and later opened, on every system."""
    stem = _STEM_BAD.sub("_", os.path.basename(str(name).replace("\\", "/"))).strip(" ._")
    stem = re.sub(r"\.wav$", "", stem, flags=re.IGNORECASE)
    stem = stem[:80].rstrip(" .")  # Windows drops trailing dots and spaces, so "a." and "a" would collide
    return not_reserved(stem) or fallback


def path_in_folder(folder: Path, stem: str, suffix: str = ".wav", *, root: Path | None = None) -> Path:
    """A path for ``stem`` inside ``folder`` that exists nowhere yet; never outside ``folder``.

    With ``root`` (the clips folder; ``folder`` is it or a subfolder of it), the folder is created (one
    level) and then resolved, links included, and must lie inside ``root``: a ``folder`` that is a link
    out of the clips folder is refused before any work is spent on the clip. :func:`write_clip` checks
    the same again when it writes. The first call for a folder in this process also repairs what an
    earlier crash left there (:func:`recover_clips`), so the CLI writing into the clips folder cleans
    up as ``serve`` does.
    """
    if root is not None:
        folder = confined_folder(folder, root)
    folder = folder.resolve()
    recover_once(folder)
    base = safe_stem(stem)
    candidate = folder / f"{base}{suffix}"
    n = 1
    while candidate.exists() or candidate.with_suffix(".json").exists():
        n += 1
        candidate = folder / f"{base}-{n}{suffix}"
    if candidate.resolve().parent != folder:
        raise InvalidRequest(f"name: {stem!r} would leave the clips folder")
    if root is not None:
        _confine(candidate, Path(root).resolve())
    return candidate


_confined: collections.OrderedDict[Path, Path] = collections.OrderedDict()  # path_in_folder's paths -> root
MAX_CONFINED = 4096  # paths chosen but not yet written (jobs queued); the oldest are forgotten first


def _confine(path: Path, root: Path) -> None:
    """Remember that ``path`` (chosen by :func:`path_in_folder`) must be written inside ``root``."""
    with _recovered_lock:
        _confined[path] = root
        _confined.move_to_end(path)
        while len(_confined) > MAX_CONFINED:
            _confined.popitem(last=False)


def _confined_root(path: Path) -> Path | None:
    with _recovered_lock:
        return _confined.pop(path, None)


def inside(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or lies below it (both already resolved: a comparison of names only)."""
    return path == root or root in path.parents


def confined_folder(folder: Path, root: Path) -> Path:
    """``folder`` (``root`` or one of its subfolders) created if missing, resolved, and checked to lie
    inside ``root``; :class:`OutputError` in words otherwise (a link out of the clips folder, a folder
    that cannot be created)."""
    root = Path(root).resolve()
    folder = Path(folder)
    if folder != root and not folder.is_dir():
        try:
            folder.mkdir(exist_ok=True)  # one level: the clips folder itself must exist
        except OSError as exc:
            raise OutputError(describe_write_failure(folder, exc, 0)) from exc
    try:
        real = folder.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop
        raise OutputError(_outside(folder, root)) from exc
    if not inside(real, root):
        raise OutputError(_outside(folder, root))
    return real


def _outside(folder: Path, root: Path) -> str:
    return (
        f"folder: {folder.name!r} leads outside the clips folder {root} (it is a link to another place); the "
        "engine writes only inside the clips folder: remove the link or choose another folder name"
    )


# -- writing a clip, and repairing what a crash left -----------------------------------------------------
# Temporary names: ".<stem>.<pid>-<8 hex>.<wav|json>.part" (older versions wrote no pid). Hidden, so a
# watcher ignores them; the pid tells a crashed writer's leftovers from a live writer's work in progress.
_PART = re.compile(r"^\.(?P<stem>.+)\.(?:(?P<pid>\d+)-)?(?P<tag>[0-9a-f]{8})\.(?P<kind>wav|json)\.part$")
RECOVER_DEPTH = 4  # subfolder levels below the clips folder searched for leftovers (``folder`` makes one)
MAX_RECOVER_FOLDERS = 10_000  # folders searched at most, whatever else the clips folder holds
STALE_PART_S = 600.0  # a write takes well under a second: a part this old is a leftover whoever wrote it
WAV_HEADER_BYTES = 4096  # header, chunks and file-system slack, on top of the samples
BYTES_PER_SAMPLE = {"float32": 4, "pcm24": 3, "pcm16": 2}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; renames stay atomic
        _fsync(folder)


def clip_bytes(n_samples: int, sample_format: str, sidecar_text: str = "") -> int:
    """Disk space a clip needs: its samples, a WAV header and its sidecar."""
    return n_samples * BYTES_PER_SAMPLE.get(sample_format, 4) + WAV_HEADER_BYTES + len(sidecar_text.encode())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the disk holding ``folder`` (None if unknown).
    shutil asks each system its own way (statvfs's f_bavail, Windows' bytes free to the caller)."""
    import shutil

    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _existing_ancestor(folder: Path) -> Path | None:
    """The nearest folder on the way to ``folder`` that exists (``folder`` itself if it does)."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                return candidate
        except OSError:
            return None
    return None


def out_of_inodes(folder: Path) -> bool:
    """The disk holding ``folder`` has no file slots (inodes) left for an unprivileged writer, though it
    may have bytes free: a disk of many small files, or a small tmpfs. File systems without a fixed
    count report no total (``f_files == 0``); those never run out this way, nor do Windows' (no statvfs)."""
    if not hasattr(os, "statvfs"):
        return False
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_files > 0 and st.f_favail == 0


def describe_write_failure(folder: Path, exc: BaseException | None, needed: int, what: str = "the clip") -> str:
    """A sentence for a failed write into ``folder``: what happened and what to do, no exception names.

    libsndfile reports every failure as "System error", so the folder itself is examined: gone, not a
    folder, read-only, not writable, out of file slots (inodes), full; the errno of an OSError decides
    between a full disk and a full quota, and names a path too long. A folder that does not exist yet
    (a new ``folder`` subfolder) is judged by the nearest folder that does: a read-only disk says so
    instead of "no longer exists".
    """
    code = getattr(exc, "errno", None)
    restart = "restart the engine with another clips folder (--clips or $AUDIOLDM_DAW_CLIPS)"
    hint = f"free some space or {restart}"
    if code == errno.ENAMETOOLONG or getattr(exc, "winerror", None) == 206:  # Windows: ERROR_FILENAME_EXCED_RANGE
        return (
            f"could not write {what}: the path in {folder} is longer than the file system allows; use a "
            "shorter name or folder, or a clips folder with a shorter path"
        )
    try:
        st = folder.stat()
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        return (
            f"could not write {what}: a file stands where a folder is expected on the way to {folder}; move the "
            f"file away or {restart}"
        )
    except OSError as e:
        why = (e.strerror or "no reason given").lower()
        return (
            f"could not write {what}: the folder {folder} cannot be reached ({why}); check the drive and its "
            "connection, then send the request again"
        )
    import stat as _stat

    creating = ""
    target: Path | None = folder
    if st is None:
        target = _existing_ancestor(folder.parent)
        if code in (None, errno.ENOENT) or target is None:
            return (
                f"could not write {what}: the folder {folder} no longer exists (deleted, renamed, or its drive was "
                "unmounted); create it again or restart the engine with an existing clips folder"
            )
        creating = f"could not create the folder {folder} for {what}"
    elif not _stat.S_ISDIR(st.st_mode):
        return f"could not write {what}: {folder} is a file, not a folder; move the file away or {restart}"
    assert target is not None
    lead = creating or f"could not write {what}"
    try:  # Windows has no statvfs: a read-only drive shows as EROFS or EACCES there
        read_only = hasattr(os, "statvfs") and bool(os.statvfs(target).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only or code == errno.EROFS:
        return f"{lead}: the folder {target} is on a read-only disk; remount it writable or {restart}"
    if code in (errno.EACCES, errno.EPERM) or not os.access(target, os.W_OK | os.X_OK):
        return f"{lead}: you have no permission to write in {target}; change its permissions or {restart}"
    if code == errno.EDQUOT:
        return (
            f"{lead}: your disk quota on the drive holding {target} is used up (the disk itself may have room); "
            f"delete files of yours on that drive, ask its administrator for a larger quota, or {restart}"
        )
    if out_of_inodes(target):
        return (
            f"{lead}: the disk holding {target} cannot take any more files (it is out of inodes, the slots each "
            f"file needs, though it may have bytes free); delete some files there, especially many small ones, or "
            f"{restart}"
        )
    free = free_bytes(target)
    if code == errno.ENOSPC or (free is not None and free < needed):
        shown = "unknown" if free is None else _mb(free)
        return f"disk full: {what} needs about {_mb(needed)} and {shown} is free in {target}; {hint}"
    if isinstance(exc, OSError) and exc.strerror:
        reason = f"the disk reported: {exc.strerror.lower()}"
    else:
        reason = "the write failed and the audio library gave no reason"
    return f"{lead} into {target}: {reason}; check the disk and the folder, then send the request again"


def write_clip(
    path: Path,
    audio: np.ndarray,
    sr: int,
    sidecar: dict[str, Any],
    sample_format: str = "float32",
    tempo: dict[str, Any] | None = None,
    *,
    subtype: str | None = None,
) -> Path:
    """Write ``path`` (WAV) and ``path.with_suffix('.json')``; returns the WAV path.

    Both are written in full and fsync'd under hidden names, then renamed: the sidecar first, the WAV
    last, so a WAV never appears without its sidecar and never half-written. Enough free space is
    checked first; any failure raises :class:`OutputError` (a sentence) and removes what it wrote.
    ``tempo`` (keywords of :func:`audioldm_daw.engine.wav_chunks.with_tempo_chunks`) adds the ACID and
    ``smpl`` chunks DAWs read a loop's tempo and length from, before the WAV becomes visible. ``subtype``
    (a soundfile WAV subtype) overrides ``sample_format``: an edit of a take is written as the take was.
    ``audio`` is (samples,) or (samples, channels), or audio delivered in blocks (it has ``write_wav``: an edit
    of a long take, engine/takes.py), which writes itself without being held whole.
    """
    if sample_format not in SUBTYPES:
        raise InvalidRequest(f"format: expected one of {', '.join(SUBTYPES)}, got {sample_format!r}")
    given = Path(path).absolute()
    root = _confined_root(given)
    try:
        path = given.resolve() if root is None else given
    except (OSError, RuntimeError):
        path = given
    folder = path.parent
    text = json.dumps(sidecar, indent=2, sort_keys=True) + "\n"
    needed = clip_bytes(int(np.size(audio)), sample_format, text)
    wav_subtype = subtype or SUBTYPES[sample_format]
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_wav = folder / f".{path.stem}.{tag}.wav.part"
    tmp_json = folder / f".{path.stem}.{tag}.json.part"
    side = path.with_suffix(".json")
    try:
        if not folder.is_dir() and not (folder.exists() or folder.is_symlink()):
            folder.mkdir(parents=True, exist_ok=True)  # --out into a new folder; a folder that is a file fails
        if root is not None:  # a clip of the clips folder: where it lands now, links resolved, must lie inside
            folder = confined_folder(folder, root)
            path = folder / path.name
            tmp_wav, tmp_json, side = (folder / p.name for p in (tmp_wav, tmp_json, side))
        free = free_bytes(folder)
        if free is not None and free < needed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if tempo is None:
            write_wav = getattr(audio, "write_wav", None)  # audio delivered in blocks (engine/takes.py)
            if write_wav is not None:
                write_wav(tmp_wav, sr, wav_subtype)
            else:
                load_soundfile().write(tmp_wav, audio, sr, subtype=wav_subtype, format="WAV")
        else:  # the chunks go in before the one write of the hidden file, not by rewriting it
            from audioldm_daw.engine.wav_chunks import with_tempo_chunks

            buf = io.BytesIO()
            load_soundfile().write(buf, audio, sr, subtype=wav_subtype, format="WAV")
            tmp_wav.write_bytes(with_tempo_chunks(buf.getvalue(), **tempo))
        _fsync(tmp_wav)
        tmp_json.write_text(text)
        _fsync(tmp_json)
        os.replace(tmp_json, side)  # a crash here is completed by recover_clips: the WAV part is whole
        os.replace(tmp_wav, path)
        _fsync_dir(folder)
    except (OSError, RuntimeError) as exc:  # libsndfile's own error is a RuntimeError
        for t in (tmp_wav, tmp_json):
            _unlink_quietly(t)
        if side.exists() and not path.exists():
            _unlink_quietly(side)  # the sidecar made it, the WAV did not: take it back
        if isinstance(exc, OutputError):
            raise
        raise OutputError(describe_write_failure(folder, exc, needed)) from exc
    finally:
        for t in (tmp_wav, tmp_json):
            _unlink_quietly(t)
    return path


def _unlink_quietly(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink(missing_ok=True)


@dataclass
class Recovery:
    """What :func:`recover_clips` did in one folder."""

    folder: Path
    removed: list[Path] = field(default_factory=list)  # half-written temporary files of a dead writer
    completed: list[Path] = field(default_factory=list)  # WAVs a crash left hidden beside their sidecar
    kept: list[Path] = field(default_factory=list)  # parts of a writer that is still running
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.removed or self.completed or self.errors)

    def summary(self) -> str:
        """One line for a person: what was repaired, where."""
        parts = []
        if self.completed:
            parts.append(f"completed {len(self.completed)} clip(s) a crash left between its two renames")
        if self.removed:
            parts.append(f"removed {len(self.removed)} half-written temporary file(s)")
        if self.errors:
            parts.append(f"could not repair {len(self.errors)}: {'; '.join(self.errors[:3])}")
        return f"{self.folder}: " + ("; ".join(parts) if parts else "nothing to repair")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def recover_clips(
    folder: Path, *, at_start: bool = False, now: float | None = None, depth: int = RECOVER_DEPTH
) -> Recovery:
    """Remove the temporary files a crashed writer left in ``folder`` and in its subfolders (the
    ``folder`` option's, up to ``depth`` levels down), and complete interrupted commits.

    A part is a leftover when its writer is gone (its pid is not running), when it is older than
    ``STALE_PART_S``, or, ``at_start`` (a server that has not written anything yet), when it carries this
    process's own pid (a restarted container reuses pids). A hidden WAV part whose sidecar was already
    renamed into place (and whose own sidecar part is gone) was complete when the crash came: it is renamed
    to its final name. Parts of a writer still at work are left alone. The walk never follows a link (a
    link to another drive is not the clips folder's business) nor enters a hidden folder, and stops after
    ``MAX_RECOVER_FOLDERS`` folders, so a clips folder on a huge tree costs a bounded start.
    """
    folder = Path(folder)
    rec = Recovery(folder)
    now = time.time() if now is None else now
    todo: list[tuple[Path, int]] = [(folder, 0)]
    seen = 0
    while todo and seen < MAX_RECOVER_FOLDERS:
        here, level = todo.pop()
        seen += 1
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        names = []
        for entry in entries:
            names.append(entry.name)
            if level < depth and not entry.name.startswith("."):
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        todo.append((Path(entry.path), level + 1))
        _recover_in(here, names, rec, at_start, now)
    return rec


def _recover_in(folder: Path, names: list[str], rec: Recovery, at_start: bool, now: float) -> None:
    """:func:`recover_clips` for the entries ``names`` of one folder."""
    present = set(names)
    changed = False
    for name in sorted(names):
        m = _PART.match(name)
        if m is None:
            continue
        part = folder / name
        pid = int(m["pid"]) if m["pid"] else None
        try:
            age = now - part.lstat().st_mtime
        except OSError:
            continue
        own = pid == os.getpid()
        live = pid is not None and _pid_alive(pid) and not (own and at_start)
        if live and age < STALE_PART_S:
            rec.kept.append(part)
            continue
        stem, kind = m["stem"], m["kind"]
        prefix = f".{stem}.{m['pid']}-{m['tag']}" if m["pid"] else f".{stem}.{m['tag']}"
        try:
            if kind == "wav" and f"{prefix}.json.part" not in present:
                final, side = folder / f"{stem}.wav", folder / f"{stem}.json"
                if side.exists() and not final.exists() and _readable_wav(part):
                    os.replace(part, final)
                    rec.completed.append(final)
                    changed = True
                    continue
            part.unlink()
            rec.removed.append(part)
            changed = True
        except OSError as exc:
            rec.errors.append(f"{part.name}: {exc.strerror or 'no reason given'}")
    if changed:
        _fsync_dir(folder)


def _readable_wav(path: Path) -> bool:
    try:
        info = load_soundfile().info(str(path))
    except Exception:
        return False
    return info.frames > 0


_recovered: set[Path] = set()
_recovered_lock = threading.Lock()


def recover_once(folder: Path, *, at_start: bool = False) -> Recovery | None:
    """:func:`recover_clips` the first time this process writes into ``folder``; what it did is logged."""
    folder = Path(folder)
    with _recovered_lock:
        if folder in _recovered:
            return None
        _recovered.add(folder)
    rec = recover_clips(folder, at_start=at_start)
    if rec:
        log.warning("crash leftovers: %s", rec.summary())
    return rec


def mark_recovered(folder: Path) -> None:
    """Tell :func:`recover_once` that ``folder`` was already repaired (a server does it at start)."""
    with _recovered_lock:
        _recovered.add(Path(folder))


def read_sidecar(path: Path) -> dict[str, Any]:
    """Load a clip's sidecar (accepts the .json or the .wav path)."""
    p = Path(path)
    if p.suffix.lower() == ".wav":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise InvalidRequest(f"sidecar: {p} does not exist (expected the .json written beside a clip)")
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise InvalidRequest(f"sidecar: {p} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or "request" not in data:
        raise InvalidRequest(f"sidecar: {p} has no 'request' section (not written by audioldm-daw?)")
    return data


def default_clips_dir() -> Path:
    """Per-user data folder for clips (``$AUDIOLDM_DAW_CLIPS`` overrides), never the working directory."""
    env = os.environ.get("AUDIOLDM_DAW_CLIPS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("audioldm-daw")) / "clips"
