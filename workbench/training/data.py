"""Training data: a folder of audio files, cached once as 16 kHz mono, cut into seeded random crops.

Any file soundfile can read counts (WAV, FLAC, OGG, AIFF, ... at any rate and channel count); anything it
cannot read, or that is empty or holds non-finite samples, is skipped and counted, never fatal, because a
user's sample folder always has a few such files. Captions are optional (only CLAP training needs them):
``metadata.jsonl`` / ``captions.jsonl`` (``{"file": ..., "caption": ...}``, the dataset generator's format) or
``captions.csv`` / ``metadata.csv`` (``file,caption`` header) anywhere in the tree, paths relative to that
file, or one explicit captions file.

The decoded audio is written once to ``cache_dir`` (one float32 file plus an index keyed by every file's
path, size and mtime), so later stages and resumed runs reuse it. Which clip and crop a batch slot gets is a
pure function of (seed, step, slot): a resumed run sees the same batches with no data-loader state to save.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from audioldm_daw.engine.architecture import SAMPLE_RATE

log = logging.getLogger(__name__)

CAPTION_FILES = ("metadata.jsonl", "captions.jsonl", "metadata.csv", "captions.csv")
# Side files that live next to audio in datasets: not audio, so not worth a "skipped" line.
NOT_AUDIO_SUFFIXES = frozenset(
    {".csv", ".json", ".jsonl", ".txt", ".md", ".yaml", ".yml", ".py", ".pt", ".npy", ".f32", ".safetensors", ".bin"}
)
CACHE_VERSION = 2
MIN_SAMPLES = 160  # one mel frame: anything shorter carries no spectrogram


class DataError(ValueError):
    """The data folder cannot be used at all (missing, or no readable audio)."""


@dataclass
class AudioFolder:
    """Every readable clip of a folder as 16 kHz mono float32, concatenated in one (memory-mapped) array."""

    root: Path
    files: list[str]
    offsets: np.ndarray
    lengths: np.ndarray
    audio: np.ndarray
    caption_sets: list[list[str]]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    @cached_property
    def captions(self) -> list[str | None]:
        """Each clip's caption: the first of its captions, ``None`` for an uncaptioned clip (derived once:
        the LDM stage looks it up per segment)."""
        return [c[0] if c else None for c in self.caption_sets]

    def wave(self, i: int) -> np.ndarray:
        """Clip ``i`` (a read-only view)."""
        o = int(self.offsets[i])
        return self.audio[o : o + int(self.lengths[i])]

    def summary(self) -> str:
        """One line for the log: how many clips, how much audio, how many files were skipped and why."""
        secs = float(self.lengths.sum()) / SAMPLE_RATE
        text = f"{len(self)} clips ({secs / 60:.1f} min) from {self.root}"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, why in self.skipped:
                key = why.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            detail = ", ".join(f"{n} {k}" for k, n in sorted(reasons.items()))
            text += f"; skipped {len(self.skipped)} file(s) ({detail})"
        return text

    def info(self) -> dict[str, object]:
        """Plain JSON for training metadata."""
        return {
            "root": str(self.root),
            "clips": len(self),
            "seconds": round(float(self.lengths.sum()) / SAMPLE_RATE, 2),
            "captioned": sum(c is not None for c in self.captions),
            "skipped": len(self.skipped),
            "skipped_files": [{"file": f, "reason": r} for f, r in self.skipped[:50]],
        }


def scan_folder(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Candidate audio files under ``root``, sorted (hidden files, known side files and the ``exclude``
    folders left out: a run folder inside the data folder must not feed its own cache back in)."""
    if not root.is_dir():
        raise DataError(f"data: {root} is not a folder")
    skip = {Path(p).resolve() for p in exclude}
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() in NOT_AUDIO_SUFFIXES:
                continue
            out.append(Path(dirpath) / name)
    return sorted(out)


def load_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read any soundfile-readable file as mono float32 at ``sample_rate`` (channels averaged).

    Raises ``ValueError`` with a short reason for files that must be skipped.
    """
    import soundfile as sf
    import torch
    import torchaudio.functional as AF

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError, TypeError)
        raise ValueError(f"unreadable: {type(exc).__name__}") from exc
    if data.size == 0:
        raise ValueError("empty: no samples")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise ValueError("invalid: non-finite samples")
    if sr != sample_rate:
        mono = AF.resample(torch.from_numpy(np.ascontiguousarray(mono)), int(sr), sample_rate).numpy()
    if len(mono) < MIN_SAMPLES:
        raise ValueError(f"too short: {len(mono)} samples at {sample_rate} Hz")
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_captions(root: Path, captions_file: Path | None = None) -> dict[Path, list[str]]:
    """Captions by resolved audio path, from an explicit file or the caption files found under ``root``.

    A clip may have several captions (as in Clotho or AudioCaps' evaluation splits): rows repeating the
    file, or a JSON row with a ``captions`` list. The first is the clip's caption; CLAP training draws one
    of them at every visit, so it learns what the phrasings share rather than one string per clip.
    """
    sources = [captions_file] if captions_file else [p for name in CAPTION_FILES for p in sorted(root.rglob(name))]
    out: dict[Path, list[str]] = {}
    for src in sources:
        if src is None:
            continue
        if not src.is_file():
            raise DataError(f"captions: {src} is not a file")
        for rel, caption in _caption_rows(src):
            if rel and caption:
                known = out.setdefault((src.parent / rel).resolve(), [])
                if str(caption) not in known:
                    known.append(str(caption))
    return out


def _caption_rows(src: Path) -> Iterable[tuple[str, str]]:
    def pick(row: dict[str, object], keys: Sequence[str]) -> str:
        for k in keys:
            if row.get(k):
                return str(row[k])
        return ""

    file_keys, text_keys = ("file", "path", "audio", "filename"), ("caption", "text", "description")
    if src.suffix.lower() == ".csv":
        with src.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield pick(row, file_keys), pick(row, text_keys)
        return
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            log.warning("captions %s line %d: not JSON, ignored", src, n)
            continue
        if isinstance(row, dict):
            yield pick(row, file_keys), pick(row, text_keys)
            extra = row.get("captions")
            if isinstance(extra, list):
                for caption in extra:
                    yield pick(row, file_keys), str(caption or "")


def _fingerprint(root: Path, files: list[Path], captions: dict[Path, list[str]]) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION} sr{SAMPLE_RATE}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}|{captions.get(p.resolve(), [])}\n".encode())
    return h.hexdigest()


def load_folder(
    root: Path,
    cache_dir: Path,
    captions_file: Path | None = None,
    quiet: bool = False,
    exclude: Sequence[Path] = (),
) -> AudioFolder:
    """Decode every audio file under ``root`` once into ``cache_dir`` (reused while the files are unchanged)."""
    root = Path(root).resolve()
    files = scan_folder(root, [cache_dir, *exclude])
    captions = read_captions(root, captions_file)
    key = _fingerprint(root, files, captions)
    index_file, audio_file = cache_dir / "audio.json", cache_dir / "audio.f32"
    try:
        index = json.loads(index_file.read_text())
        if index.get("key") != key:
            raise ValueError("stale")
    except (OSError, ValueError):
        index = _decode_all(root, files, captions, cache_dir, key, quiet)
    total = int(sum(index["lengths"]))
    audio = np.memmap(audio_file, dtype=np.float32, mode="r", shape=(total,)) if total else np.zeros(0, np.float32)
    folder = AudioFolder(
        root=root,
        files=list(index["files"]),
        offsets=np.asarray(index["offsets"], dtype=np.int64),
        lengths=np.asarray(index["lengths"], dtype=np.int64),
        audio=audio,
        caption_sets=[list(c or []) for c in index["captions"]],
        skipped=[(f, r) for f, r in index["skipped"]],
    )
    if not len(folder):
        raise DataError(f"data: no readable audio under {root} ({len(folder.skipped)} file(s) skipped)")
    return folder


def _decode_all(
    root: Path, files: list[Path], captions: dict[Path, list[str]], cache_dir: Path, key: str, quiet: bool
) -> dict[str, object]:
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f"audio.f32.{os.getpid()}.tmp"
    names, offsets, lengths, caps, skipped = [], [], [], [], []
    offset = 0
    with tmp.open("wb") as out:
        for p in tqdm(files, desc="reading audio", unit="file", disable=quiet or len(files) < 50, leave=False):
            rel = str(p.relative_to(root))
            try:
                wave = load_audio(p)
            except ValueError as exc:
                skipped.append((rel, str(exc)))
                log.info("skipping %s (%s)", rel, exc)
                continue
            out.write(wave.tobytes())
            names.append(rel)
            offsets.append(offset)
            lengths.append(len(wave))
            caps.append(captions.get(p.resolve(), []))
            offset += len(wave)
    os.replace(tmp, cache_dir / "audio.f32")
    index: dict[str, object] = {
        "key": key,
        "files": names,
        "offsets": offsets,
        "lengths": lengths,
        "captions": caps,
        "skipped": skipped,
    }
    tmp_index = cache_dir / f"audio.json.{os.getpid()}.tmp"
    tmp_index.write_text(json.dumps(index))
    os.replace(tmp_index, cache_dir / "audio.json")
    return index


# -- deterministic batches ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    """Which item each batch slot of each step gets: epochs of seeded permutations over ``n_items``.

    Step ``s`` (1-based) of process ``rank`` covers global positions ``((s-1)*world + rank)*batch ...`` of
    the endless stream ``perm(seed, 0) ++ perm(seed, 1) ++ ...``, so all processes together see every item
    once per epoch, and any step's batch can be recomputed from its number alone.
    """

    n_items: int
    batch_size: int
    seed: int
    world: int = 1
    rank: int = 0

    def items(self, step: int) -> list[int]:
        first = ((step - 1) * self.world + self.rank) * self.batch_size
        out = []
        perm: np.ndarray | None = None
        epoch = -1
        for pos in range(first, first + self.batch_size):
            e = pos // self.n_items
            if e != epoch:
                epoch = e
                perm = np.random.default_rng([self.seed, 7, e]).permutation(self.n_items)
            assert perm is not None
            out.append(int(perm[pos % self.n_items]))
        return out

    def rng(self, step: int) -> np.random.Generator:
        """A generator for this step's other random choices (crop offsets), per process."""
        return np.random.default_rng([self.seed, 11, step, self.rank])


def crop_start(length: int, crop: int, rng: np.random.Generator) -> int:
    """A uniformly random start for a ``crop``-long window in ``length``; 0 when the clip is shorter."""
    return int(rng.integers(0, length - crop + 1)) if length > crop else 0


def fit(x: np.ndarray, n: int, pad_value: float = 0.0) -> np.ndarray:
    """``x`` cut or padded (with ``pad_value``, at the end) to length ``n`` along the first axis."""
    if len(x) >= n:
        return np.asarray(x[:n])
    pad = [(0, n - len(x))] + [(0, 0)] * (x.ndim - 1)
    return np.pad(np.asarray(x), pad, constant_values=pad_value)


def plan_segments(lengths: Sequence[int], seg_len: int, per_clip: int, seed: int) -> list[tuple[int, int]]:
    """Fixed (clip, start) windows for stages that precompute per-window features (LDM latents, CLAP).

    A clip no longer than ``seg_len`` gives one window at 0; a longer one gives up to ``per_clip`` windows
    at seeded offsets (as many as it has non-overlapping room for), so precomputing stays exact.
    """
    out = []
    for i, n in enumerate(lengths):
        if n <= seg_len:
            out.append((i, 0))
            continue
        k = max(1, min(per_clip, -(-int(n) // seg_len)))
        rng = np.random.default_rng([seed, 13, i])
        starts = sorted({int(s) for s in rng.integers(0, int(n) - seg_len + 1, size=k)})
        out.extend((i, s) for s in starts)
    return out


# -- per-clip mels --------------------------------------------------------------------------------------


@dataclass
class ClipMels:
    """The log-mel of every whole clip (frames, 64), concatenated; crops are slices on the frame grid."""

    offsets: np.ndarray
    frames: np.ndarray
    mels: np.ndarray

    def mel(self, i: int) -> np.ndarray:
        o = int(self.offsets[i])
        return self.mels[o : o + int(self.frames[i])]

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin mean and std of the log-mel over every frame (for data-dependent initialisation)."""
        m = self.mels.astype(np.float64)
        return m.mean(axis=0).astype(np.float32), np.maximum(m.std(axis=0), 1e-3).astype(np.float32)


def clip_mels(folder: AudioFolder, cache_dir: Path, quiet: bool = False) -> ClipMels:
    """Compute (once, cached beside the audio) the log-mel of every clip with the paper's front end.

    One mel per clip is exact for frame-grid crops: the mel frames of a crop are the clip's frames (with real
    audio instead of reflect padding at the crop edges), so VAE and vocoder batches are slices, not STFTs.
    """
    import torch
    from tqdm import tqdm

    from audioldm_daw.engine.architecture import MEL_BINS
    from audioldm_daw.engine.mel import frames_for, log_mel

    index_file, data_file = cache_dir / "mels.json", cache_dir / "mels.f32"
    audio_key = json.loads((cache_dir / "audio.json").read_text())["key"]
    frames = np.asarray([frames_for(int(n)) for n in folder.lengths], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(np.int64)
    try:
        ok = json.loads(index_file.read_text()).get("key") == audio_key
    except (OSError, ValueError):
        ok = False
    if not ok:
        tmp = cache_dir / f"mels.f32.{os.getpid()}.tmp"
        with tmp.open("wb") as out, torch.no_grad():
            for i in tqdm(range(len(folder)), desc="mel spectrograms", disable=quiet or len(folder) < 50, leave=False):
                m = log_mel(torch.from_numpy(np.array(folder.wave(i))))
                out.write(m.numpy().astype(np.float32).tobytes())
        os.replace(tmp, data_file)
        index_file.write_text(json.dumps({"key": audio_key}))
    total = int(frames.sum())
    mels = np.memmap(data_file, dtype=np.float32, mode="r", shape=(total, MEL_BINS))
    return ClipMels(offsets=offsets, frames=frames, mels=mels)
