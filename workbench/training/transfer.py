"""A training run moved to a GPU machine lent for a few minutes, and its results brought back, in a few tens of MiB.

Such a machine has PyTorch but not fluidsynth and espeak-ng, which render the synthetic dataset, and it takes
in and gives back only a few tens of MiB, while the dataset is about 200 MB of 16-bit WAV. So the dataset is
rendered here and packed to a byte budget (:func:`pack_dataset`), unpacked there into the layout
``scripts/train_bundled.sh`` reads (:func:`unpack_dataset`), and what the run makes comes back as archives whose
float32 weights travel as float16 (:func:`pack_tree`) and are widened again here (:func:`unpack_tree`).

Each clip of the packed dataset is stored either losslessly (FLAC, bit-exact 16-bit PCM) or as Ogg Vorbis at one
of a few qualities. One choice for all clips together makes the log-mel that every stage learns from (the
training front end, :mod:`audioldm_daw.engine.mel`) as close to the original's as the budget allows: clips that
FLAC packs small (beeps, knocking, drums, sweeps) stay exact, and the others lose least where Vorbis spends
the fewest bytes per unit of error (error: the mean absolute difference of the log-mels). FLAC alone does not fit
the default dataset in the budget; rounding to fewer bits before FLAC does, but its noise fills the quiet bins,
which the log floor otherwise keeps silent, and costs more error per byte saved than Vorbis. So the only choices
are exact FLAC and Vorbis at a few of soundfile's quality levels, mixed per clip, which on the default dataset
errs less than any one Vorbis level for all clips, and less than the small VAE's own reconstruction error.

Command line (scripts/pack_gpu_training.sh, scripts/gpu_train.sh and scripts/unpack_gpu_training.sh use it)::

    python -m audioldm_daw.workbench.training.transfer pack-data DATA OUT.tar.gz --budget BYTES
    python -m audioldm_daw.workbench.training.transfer unpack-data OUT.tar.gz DATA
    python -m audioldm_daw.workbench.training.transfer pack ROOT OUT.tar.gz PATH...   (PATHs relative to ROOT)
    python -m audioldm_daw.workbench.training.transfer unpack OUT.tar.gz ROOT
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LOSSLESS = "flac"
LOSSY = "vorbis"
# soundfile's compression level for Vorbis: 0 is its best quality, 1 its smallest files. Past 0.6 the error
# grows faster than the size shrinks (measured on the default dataset).
VORBIS_LEVELS = (0.0, 0.2, 0.4, 0.6)
PACK_FILE = "pack.json"  # in a packed dataset: how each clip was stored
HALF_FILE = "float16.json"  # in a packed tree: the tensors that travel as float16, by file
SKIPPED_FOLDERS = frozenset({"cache", "checkpoints"})  # a run folder's bulk, rebuilt or not needed elsewhere
FLOAT16_MAX = 65504.0
FORMAT = 1


class PackError(ValueError):
    """A dataset or run cannot be packed or unpacked as asked; the message says what was expected."""


@dataclass(frozen=True)
class Option:
    """One way to store a clip: codec, Vorbis level, the encoded bytes and the log-mel error they decode to."""

    codec: str
    level: float | None
    data: bytes = field(repr=False)
    error: float

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def suffix(self) -> str:
        return ".flac" if self.codec == LOSSLESS else ".ogg"


# -- one clip -----------------------------------------------------------------------------------------------


def encode(pcm: np.ndarray, sample_rate: int, codec: str, level: float | None = None) -> bytes:
    """16-bit samples as FLAC (exact) or Ogg Vorbis at soundfile's compression ``level``."""
    import soundfile as sf

    buf = io.BytesIO()
    if codec == LOSSLESS:
        sf.write(buf, pcm, sample_rate, format="FLAC", subtype="PCM_16", compression_level=1.0)
    else:
        sf.write(buf, pcm, sample_rate, format="OGG", subtype="VORBIS", compression_level=level)
    return buf.getvalue()


def decode(data: bytes, codec: str, samples: int) -> np.ndarray:
    """The clip again, exactly ``samples`` long: int16 from FLAC (bit-exact), float32 in [-1, 1] from Vorbis
    (written to WAV the way the dataset renderer writes its float clips)."""
    import soundfile as sf

    if codec == LOSSLESS:
        audio, _ = sf.read(io.BytesIO(data), dtype="int16")
    else:
        audio, _ = sf.read(io.BytesIO(data), dtype="float32")
        audio = np.clip(audio, -1.0, 1.0)
    if audio.ndim != 1:
        raise PackError(f"decode: expected mono audio, got {audio.shape[1]} channels")
    if len(audio) >= samples:
        return np.ascontiguousarray(audio[:samples])
    return np.pad(audio, (0, samples - len(audio)))


def _as_float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio.astype(np.float32)


def clip_options(pcm: np.ndarray, sample_rate: int, lossy: bool) -> list[Option]:
    """FLAC, and (with ``lossy``) Vorbis at every level of :data:`VORBIS_LEVELS` with its mean log-mel error."""
    options = [Option(LOSSLESS, None, encode(pcm, sample_rate, LOSSLESS), 0.0)]
    if not lossy:
        return options
    import torch

    from audioldm_daw.engine.mel import log_mel

    with torch.no_grad():
        reference = log_mel(torch.from_numpy(_as_float(pcm)))
        for level in VORBIS_LEVELS:
            data = encode(pcm, sample_rate, LOSSY, level)
            decoded = decode(data, LOSSY, len(pcm))
            error = float((log_mel(torch.from_numpy(decoded)) - reference).abs().mean())
            options.append(Option(LOSSY, level, data, error))
    return options


# -- choosing for all clips at once -------------------------------------------------------------------------


def choose(options: Sequence[Sequence[Option]], budget: int) -> list[Option]:
    """One option per clip, their sizes summing to at most ``budget`` bytes and their errors to little.

    Each clip takes the option that minimises ``error + lam * size`` for the smallest ``lam`` whose picks fit
    (a Lagrangian relaxation of the knapsack: optimal for the budget it lands on), then the bytes left over
    buy the upgrades that remove the most error per byte. Raises :class:`PackError` when even the smallest
    option of every clip does not fit.
    """

    def pick(lam: float) -> list[Option]:
        return [min(opts, key=lambda o: (o.error + lam * o.size, o.size)) for opts in options]

    def total(picks: Sequence[Option]) -> int:
        return sum(o.size for o in picks)

    exact = pick(0.0)
    if total(exact) <= budget:
        return exact
    smallest = [min(opts, key=lambda o: (o.size, o.error)) for opts in options]
    if total(smallest) > budget:
        raise PackError(
            f"the clips need at least {total(smallest) / 2**20:.1f} MiB at the smallest Vorbis level, "
            f"more than the {budget / 2**20:.1f} MiB left for them"
        )
    lo, hi = 0.0, 1e-9
    while total(pick(hi)) > budget and hi < 1e6:
        lo, hi = hi, hi * 2
    if total(pick(hi)) > budget:
        return smallest
    for _ in range(60):
        mid = (lo + hi) / 2
        if total(pick(mid)) > budget:
            lo = mid
        else:
            hi = mid
    picks = pick(hi)
    slack = budget - total(picks)
    while True:
        best: tuple[float, int, Option] | None = None
        for i, opts in enumerate(options):
            for o in opts:
                extra = o.size - picks[i].size
                gain = picks[i].error - o.error
                if gain > 0 and extra <= slack and (best is None or gain / max(extra, 1) > best[0]):
                    best = (gain / max(extra, 1), i, o)
        if best is None:
            return picks
        _, i, o = best
        slack -= o.size - picks[i].size
        picks[i] = o


# -- the dataset ---------------------------------------------------------------------------------------------


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _threads(jobs: int) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    """``map`` on ``jobs`` threads (soundfile and torch release the GIL), one torch thread each."""

    def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if jobs <= 1:
                return [fn(x) for x in items]
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                return list(pool.map(fn, items))
        finally:
            torch.set_num_threads(before)

    return run


def pack_dataset(
    data: Path, out: Path, budget: int, jobs: int = 1, split: str = "train", log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Pack ``data``'s ``split`` (WAVs, ``metadata.jsonl``) and its ``dataset.json``/``labels.json`` into the
    gzip'd tar ``out`` of at most ``budget`` bytes; returns the report that is also stored in it as pack.json.

    The other split and the held-out prompts stay behind: they serve the evaluation, which runs here.
    """
    import soundfile as sf

    data, out = Path(data), Path(out)
    meta_path = data / split / "metadata.jsonl"
    if not (data / "dataset.json").is_file() or not meta_path.is_file():
        raise PackError(
            f"pack-data: {data} is not a rendered dataset (expected dataset.json and {split}/metadata.jsonl)"
        )
    rows = [json.loads(line) for line in meta_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise PackError(f"pack-data: {meta_path} lists no clips")
    side = {"dataset.json": (data / "dataset.json").read_bytes(), f"{split}/metadata.jsonl": meta_path.read_bytes()}
    if (data / "labels.json").is_file():
        side["labels.json"] = (data / "labels.json").read_bytes()

    def read(row: dict[str, Any]) -> tuple[np.ndarray, int]:
        path = data / split / row["file"]
        info = sf.info(str(path))
        if info.channels != 1 or info.subtype != "PCM_16":
            raise PackError(f"pack-data: {path} is {info.channels}-channel {info.subtype}; expected mono PCM_16")
        pcm, sr = sf.read(str(path), dtype="int16")
        return pcm, int(sr)

    run = _threads(jobs)
    clips = run(read, rows)
    wav_bytes = sum((data / split / r["file"]).stat().st_size for r in rows)
    options = run(lambda c: clip_options(c[0], c[1], lossy=False), clips)
    lossless = sum(o[0].size for o in options)
    log(f"pack-data: {len(rows)} clips, {wav_bytes / 2**20:.2f} MiB as WAV, {lossless / 2**20:.2f} MiB as FLAC")
    # The archive's size is known only once written (headers add to it, gzip takes a little off), so the audio's
    # budget starts from an estimate and is corrected until the archive fills the budget to within 0.5%.
    audio_budget = budget - sum(len(b) for b in side.values()) // 3 - 600 * len(rows) - 65536
    lossy = False
    best: dict[str, Any] | None = None
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(8):
        if lossless > audio_budget and not lossy:
            log(f"pack-data: FLAC does not fit in {audio_budget / 2**20:.2f} MiB; measuring Vorbis levels")
            options = run(lambda c: clip_options(c[0], c[1], lossy=True), clips)
            lossy = True
        picks = choose(options, audio_budget)
        report = _report(rows, clips, picks, options, wav_bytes, budget, split)
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            for name, blob in side.items():
                _tar_add(tar, name, blob)
            _tar_add(tar, PACK_FILE, json.dumps(report, indent=1).encode())
            for row, o in zip(rows, picks, strict=True):
                _tar_add(tar, f"{split}/{Path(row['file']).stem}{o.suffix}", o.data)
        size = tmp.stat().st_size
        if size > budget:
            tmp.unlink()
            audio_budget -= size - budget + 16384
            continue
        os.replace(tmp, out)
        best = {**report, "archive_bytes": size}
        if budget - size < budget // 200 or all(o.codec == LOSSLESS for o in picks):
            break
        audio_budget += (budget - size) * 9 // 10
    if best is None:
        raise PackError(f"pack-data: could not fit the archive in {budget} bytes")
    log(f"pack-data: {best['archive_bytes'] / 2**20:.2f} MiB written to {out}")
    return best


def _report(
    rows: Sequence[dict[str, Any]],
    clips: Sequence[tuple[np.ndarray, int]],
    picks: Sequence[Option],
    options: Sequence[Sequence[Option]],
    wav_bytes: int,
    budget: int,
    split: str,
) -> dict[str, Any]:
    """What was stored how, and what the alternatives would have cost (pack.json)."""
    alternatives: dict[str, dict[str, float]] = {}
    for k, o in enumerate(options[0]):
        if all(len(opts) > k for opts in options):
            name = o.codec if o.level is None else f"{o.codec} level {o.level:g}"
            chosen = [opts[k] for opts in options]
            alternatives[name] = {
                "mib": round(sum(c.size for c in chosen) / 2**20, 3),
                "mean_log_mel_error": round(float(np.mean([c.error for c in chosen])), 4),
            }
    counts: dict[str, int] = {}
    for o in picks:
        name = o.codec if o.level is None else f"{o.codec} level {o.level:g}"
        counts[name] = counts.get(name, 0) + 1
    return {
        "format": FORMAT,
        "split": split,
        "budget_bytes": budget,
        "wav_mib": round(wav_bytes / 2**20, 3),
        "audio_mib": round(sum(o.size for o in picks) / 2**20, 3),
        "mean_log_mel_error": round(float(np.mean([o.error for o in picks])), 4),
        "stored_as": counts,
        "alternatives": alternatives,
        "clips": [
            {
                "file": row["file"],
                "stored": f"{Path(row['file']).stem}{o.suffix}",
                "codec": o.codec,
                "level": o.level,
                "samples": len(pcm),
                "sample_rate": sr,
                "log_mel_error": round(o.error, 5),
            }
            for row, (pcm, sr), o in zip(rows, clips, picks, strict=True)
        ],
    }


def unpack_dataset(archive: Path, dest: Path, jobs: int = 1) -> dict[str, Any]:
    """Write the packed split back as 16-bit WAVs under their own names, with its metadata, into ``dest`` (the
    dataset folder ``scripts/train_bundled.sh`` reads as WORK_DIR/data); returns the pack report."""
    import soundfile as sf

    dest = Path(dest)
    with tarfile.open(archive, "r:*") as tar:
        blobs: dict[str, bytes] = {}
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                blobs[member.name] = f.read()
    if PACK_FILE not in blobs:
        raise PackError(f"unpack-data: {archive} is not a packed dataset (no {PACK_FILE} in it)")
    report = json.loads(blobs[PACK_FILE])
    split = report["split"]
    (dest / split).mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        if name.endswith(".json") or name.endswith(".jsonl"):
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise PackError(f"unpack-data: {archive} holds a path outside its folder: {name}")
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(blob)

    def write(clip: dict[str, Any]) -> None:
        blob = blobs.get(f"{split}/{clip['stored']}")
        if blob is None:
            raise PackError(f"unpack-data: {archive} lacks {split}/{clip['stored']}")
        audio = decode(blob, clip["codec"], int(clip["samples"]))
        sf.write(str(dest / split / clip["file"]), audio, int(clip["sample_rate"]), subtype="PCM_16", format="WAV")

    _threads(jobs)(write, report["clips"])
    return report


# -- run and model folders ------------------------------------------------------------------------------------


def _files(root: Path, paths: Sequence[str]) -> Iterator[tuple[Path, str]]:
    """(file, name in the archive) under ``root/path`` for each path, in order, without cache/ and
    checkpoints/ folders."""
    for rel in paths:
        p = root / rel
        if p.is_file():
            yield p, Path(rel).as_posix()
        elif p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_FOLDERS)
                for name in sorted(filenames):
                    f = Path(dirpath) / name
                    yield f, f.relative_to(root).as_posix()
        else:
            raise PackError(f"pack: {p} does not exist (expected a file or folder under {root})")


def _halve(path: Path) -> tuple[bytes, list[str]]:
    """The safetensors file with its float32 tensors as float16 (those beyond float16's range stay), and the
    names of the tensors converted."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    halved: list[str] = []
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        for name in f.keys():  # noqa: SIM118 (a safetensors handle is not a mapping)
            t = f.get_tensor(name)
            if t.dtype == torch.float32 and (t.numel() == 0 or float(t.abs().max()) <= FLOAT16_MAX):
                t = t.half()
                halved.append(name)
            tensors[name] = t
    return save(tensors, metadata=metadata), halved


def pack_tree(root: Path, out: Path, paths: Sequence[str], half: bool = True) -> dict[str, Any]:
    """Archive ``root/path`` for each of ``paths`` (files, or folders less their cache/ and checkpoints/) as the
    gzip'd tar ``out``, names relative to ``root``. With ``half``, the float32 tensors of safetensors files
    travel as float16 (half the bytes; a weight changes by at most 2**-11 of itself) and are listed in
    float16.json, so :func:`unpack_tree` widens exactly those again."""
    root, out = Path(root), Path(out)
    manifest: dict[str, list[str]] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    count = 0
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        for f, name in _files(root, paths):
            if half and f.suffix == ".safetensors":
                blob, halved = _halve(f)
                manifest[name] = halved
                _tar_add(tar, name, blob)
            else:
                tar.add(str(f), arcname=name, recursive=False)
            count += 1
        if manifest:
            _tar_add(tar, HALF_FILE, json.dumps(manifest, indent=1).encode())
    os.replace(tmp, out)
    return {"archive": str(out), "files": count, "bytes": out.stat().st_size, "halved_files": len(manifest)}


def unpack_tree(archive: Path, dest: Path) -> dict[str, Any]:
    """Extract a :func:`pack_tree` archive into ``dest`` and widen its float16 tensors back to float32, so the
    folders are as the run wrote them up to float16 rounding (and load like any other model folder)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            if Path(m.name).is_absolute() or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                raise PackError(f"unpack: {archive} holds {m.name!r}; expected plain files inside its folder")
        wanted = [m for m in members if m.name != HALF_FILE]
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(dest, members=wanted, filter="data")
        else:
            tar.extractall(dest, members=wanted)  # every member was checked above
        f = tar.extractfile(HALF_FILE) if HALF_FILE in tar.getnames() else None
        manifest: dict[str, list[str]] = json.loads(f.read()) if f is not None else {}
    for name, halved in manifest.items():
        path = dest / name
        with safe_open(str(path), framework="pt") as st:
            metadata = st.metadata()
            tensors = {k: st.get_tensor(k) for k in st.keys()}  # noqa: SIM118
        for k in halved:
            tensors[k] = tensors[k].float()
        save_file(tensors, str(path), metadata=metadata)
    return {"archive": str(archive), "files": sum(m.isfile() for m in members), "widened_files": len(manifest)}


# -- command line --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``pack-data``/``unpack-data`` for the dataset, ``pack``/``unpack`` for run and model folders."""
    parser = argparse.ArgumentParser(prog="python -m audioldm_daw.workbench.training.transfer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack-data", help="a rendered dataset's training split, packed to a byte budget")
    p.add_argument("data", type=Path, help="dataset folder (dataset.json, train/)")
    p.add_argument("out", type=Path, help="archive to write (.tar.gz)")
    p.add_argument("--budget", type=int, required=True, help="most bytes the archive may take")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="threads (default: one per core)")
    p.add_argument("--report", type=Path, default=None, help="also write the report (JSON) here")
    p = sub.add_parser("unpack-data", help="a packed dataset back as 16-bit WAVs")
    p.add_argument("archive", type=Path)
    p.add_argument("dest", type=Path, help="dataset folder to write")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p = sub.add_parser("pack", help="files and folders under ROOT, weights as float16")
    p.add_argument("root", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("paths", nargs="+", help="files or folders, relative to ROOT")
    p.add_argument("--full-precision", action="store_true", help="keep float32 weights as they are")
    p = sub.add_parser("unpack", help="a pack archive into ROOT, weights widened to float32")
    p.add_argument("archive", type=Path)
    p.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "pack-data":
            report = pack_dataset(args.data, args.out, args.budget, jobs=args.jobs)
            if args.report:
                args.report.write_text(json.dumps(report, indent=1) + "\n")
            summary = {k: v for k, v in report.items() if k != "clips"}
        elif args.command == "unpack-data":
            report = unpack_dataset(args.archive, args.dest, jobs=args.jobs)
            summary = {"dest": str(args.dest), "clips": len(report["clips"]), "stored_as": report["stored_as"]}
        elif args.command == "pack":
            summary = pack_tree(args.root, args.out, args.paths, half=not args.full_precision)
        else:
            summary = unpack_tree(args.archive, args.root)
    except PackError as exc:
        print(f"transfer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
