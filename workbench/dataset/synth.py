"""A deterministic synthetic captioned audio dataset standing in for AudioCaps.

The bundled small model needs captioned audio to train on and held-out prompts to be evaluated with,
without downloading anything. This module writes such a dataset from sources that are installed from
Debian (fluidsynth GM instruments and drums, espeak-ng speech) or made with numpy (sirens, beeps,
sweeps, coloured noise, knocking). Each clip is planned from a generator seeded by
``(seed, split, index)`` alone, so the same seed gives byte-identical files on every run and machine with
the same tool versions, and clip ``i`` does not depend on how many clips were asked for.

Layout::

    out_dir/labels.json                 ["piano", "strings", ...]
    out_dir/dataset.json                seed, sample rate, clip length, counts, soundfont
    out_dir/{train,test}/00000.wav      mono 16-bit PCM
    out_dir/{train,test}/metadata.jsonl {"file", "caption", "captions" (train:
    every train phrasing), "category", "attributes", "template", "source"}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .captions import SPLITS, caption_variants, make_caption
from .midi import MidiPart, render_parts
from .sources import (
    CATEGORIES,
    MIDI_CATEGORIES,
    SPEECH_CATEGORIES,
    ItemSpec,
    plan_item,
    render_procedural,
    render_speech,
)
from .tools import find_soundfont, require_tool

SPLIT_CODES = {"train": 0, "test": 1}
# Stream id for clips made outside a dataset (synthesize_clip), so they never alias dataset clips.
ADHOC_CODE = 2
# MIDI clips are rendered in batches of the clips among these many consecutive indices: one fluidsynth
# start per batch, and batches fixed by index so a clip's neighbours do not depend on the split size.
MIDI_BATCH_INDICES = 64
FORMAT_VERSION = 1
PEAK_LIMIT = 0.97


@dataclass(frozen=True)
class DatasetInfo:
    """What ``generate_dataset`` wrote, and where; also rebuilt from a folder by ``from_dir``."""

    root: Path
    seed: int
    sample_rate: int
    clip_seconds: float
    categories: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    soundfont: str | None = None

    @property
    def num_samples(self) -> int:
        """Samples per clip (every clip has exactly this many)."""
        return round(self.clip_seconds * self.sample_rate)

    def split_dir(self, split: str) -> Path:
        """Folder holding the WAVs and ``metadata.jsonl`` of ``split``."""
        return self.root / split

    def metadata_path(self, split: str) -> Path:
        """The JSON-lines metadata file of ``split``."""
        return self.split_dir(split) / "metadata.jsonl"

    def load_metadata(self, split: str) -> list[dict[str, Any]]:
        """The metadata records of ``split``, in file order."""
        with self.metadata_path(split).open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    @classmethod
    def from_dir(cls, root: str | Path) -> DatasetInfo:
        """Read back the description that ``generate_dataset`` stored in ``root/dataset.json``."""
        root = Path(root)
        data = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
        return cls(
            root=root,
            seed=int(data["seed"]),
            sample_rate=int(data["sample_rate"]),
            clip_seconds=float(data["clip_seconds"]),
            categories=tuple(data["categories"]),
            counts=dict(data["counts"]),
            soundfont=data.get("soundfont"),
        )


def item_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one dataset clip: a function of (seed, split, index) only."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def category_for(index: int, categories: Sequence[str]) -> str:
    """Categories go round-robin so every one appears once each ``len(categories)`` clips."""
    return categories[index % len(categories)]


def check_tools(categories: Iterable[str], soundfont: str | Path | None = None) -> Path | None:
    """Fail before rendering anything if a requested category lacks its program or soundfont."""
    cats = set(categories)
    font = None
    if cats & MIDI_CATEGORIES:
        require_tool("fluidsynth")
        font = find_soundfont(soundfont)
    if cats & SPEECH_CATEGORIES:
        require_tool("espeak-ng")
    return font


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (exact rational ratio, deterministic)."""
    if sr_in == sr_out:
        return audio
    g = gcd(sr_in, sr_out)
    return resample_poly(audio, sr_out // g, sr_in // g)


def gated_rms_db(audio: np.ndarray, sample_rate: int, gate_db: float = 25.0) -> float:
    """RMS in dBFS over the 20 ms frames within ``gate_db`` of the loudest one.

    Gating makes the level of sparse clips (a few knocks, speech with pauses) comparable to dense ones,
    so "loud" means the sound itself is loud, not that there is more of it.
    """
    frame = max(1, round(0.02 * sample_rate))
    usable = audio[: audio.size - audio.size % frame].reshape(-1, frame)
    power = np.mean(usable**2, axis=1) if usable.size else np.zeros(1)
    peak = power.max()
    if peak <= 0.0:
        return -np.inf
    active = power[power >= peak * 10 ** (-gate_db / 10)]
    return float(10 * np.log10(active.mean()))


def finish_clip(audio: np.ndarray, sr_in: int, sample_rate: int, clip_seconds: float, target_db: float) -> np.ndarray:
    """Resample, crop or pad to exactly the clip length, fade the edges, set the level, limit peaks."""
    audio = _resample(np.asarray(audio, dtype=np.float64), sr_in, sample_rate)
    n = round(clip_seconds * sample_rate)
    audio = audio[:n] if audio.size >= n else np.pad(audio, (0, n - audio.size))
    fade_in, fade_out = round(0.005 * sample_rate), round(0.03 * sample_rate)
    audio[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    audio[n - fade_out :] *= np.linspace(1.0, 0.0, fade_out)
    level = gated_rms_db(audio, sample_rate)
    if not np.isfinite(level):
        raise RuntimeError("rendered clip is silent")
    audio = audio * 10 ** ((target_db - level) / 20)
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK_LIMIT:
        audio *= PEAK_LIMIT / peak
    return audio.astype(np.float32)


def _render_specs(
    specs: Sequence[ItemSpec], sample_rate: int, clip_seconds: float, soundfont: str | Path | None
) -> list[np.ndarray]:
    """Render planned clips (MIDI ones together in one fluidsynth run) and finish them."""
    out: list[np.ndarray | None] = [None] * len(specs)
    midi_idx = [i for i, s in enumerate(specs) if s.midi is not None]
    parts: list[MidiPart] = [specs[i].midi for i in midi_idx]  # type: ignore[misc]
    for i, raw in zip(midi_idx, render_parts(parts, sample_rate, clip_seconds, soundfont), strict=True):
        out[i] = finish_clip(raw, sample_rate, sample_rate, clip_seconds, specs[i].target_db)
    for i, spec in enumerate(specs):
        if spec.speech is not None:
            raw, sr = render_speech(spec.speech)
            out[i] = finish_clip(raw, sr, sample_rate, clip_seconds, spec.target_db)
        elif spec.engine == "numpy":
            raw = render_procedural(spec, sample_rate, clip_seconds)
            out[i] = finish_clip(raw, sample_rate, sample_rate, clip_seconds, spec.target_db)
    missing = [i for i, clip in enumerate(out) if clip is None]
    if missing:
        raise RuntimeError(f"no renderer produced clips {missing}")
    return [clip for clip in out if clip is not None]


def synthesize_clip(
    category: str,
    attributes: Mapping[str, str] | None = None,
    seed: int = 0,
    index: int = 0,
    sample_rate: int = 16000,
    clip_seconds: float = 5.12,
    soundfont: str | Path | None = None,
) -> tuple[np.ndarray, ItemSpec]:
    """Make one clip of ``category`` outside a dataset, with some attributes pinned.

    Attributes not given are drawn from the seed; clips with the same seed and index that differ in one
    pinned attribute share everything else, which is what checks of "loud is louder" need.
    """
    check_tools([category], soundfont)
    rng = np.random.default_rng([seed, ADHOC_CODE, index, CATEGORIES.index(category)])
    spec = plan_item(category, rng, clip_seconds, attributes)
    return _render_specs([spec], sample_rate, clip_seconds, soundfont)[0], spec


def _write_pcm16(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV (no PEAK chunk and its timestamp, unlike float WAV, so bytes are stable)."""
    sf.write(str(path), audio, sample_rate, subtype="PCM_16", format="WAV")


def generate_dataset(
    out_dir: str | Path,
    n_train: int,
    n_test: int,
    seed: int = 0,
    sample_rate: int = 16000,
    clip_seconds: float = 5.12,
    soundfont: str | Path | None = None,
    *,
    categories: Sequence[str] | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetInfo:
    """Write ``n_train`` + ``n_test`` captioned clips under ``out_dir`` and return their description.

    ``categories`` restricts the sources (default: all of ``CATEGORIES``); the external tools are checked
    only for the categories asked for. ``workers`` > 1 renders batches on that many threads (the work is
    in subprocesses and numpy, which run outside the GIL); output is identical for any worker count.
    ``progress(done, total)`` is called after each batch.
    """
    cats = tuple(categories) if categories is not None else CATEGORIES
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown or not cats:
        raise ValueError(f"unknown categories {unknown}; choose from {CATEGORIES}")
    if n_train < 0 or n_test < 0:
        raise ValueError("n_train and n_test must be >= 0")
    font = check_tools(cats, soundfont)
    root = Path(out_dir)
    counts = {"train": int(n_train), "test": int(n_test)}

    # Plan everything first (cheap), then render in batches of consecutive indices.
    jobs: list[tuple[str, list[int], list[ItemSpec]]] = []
    records: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        # Clips of an earlier, larger run into the same folder would outlive their metadata: remove them.
        for stale in (root / split).glob("[0-9][0-9][0-9][0-9][0-9].wav"):
            if int(stale.stem) >= counts[split]:
                stale.unlink()
        records[split] = []
        specs: list[ItemSpec] = []
        for index in range(counts[split]):
            rng = item_rng(seed, split, index)
            spec = plan_item(category_for(index, cats), rng, clip_seconds)
            caption, template = make_caption(spec.category, spec.attributes, split, rng)
            # Train rows also list every train phrasing of the same attributes: CLAP draws one per visit.
            variants = {"captions": caption_variants(spec.category, spec.attributes, split)} if split == "train" else {}
            specs.append(spec)
            records[split].append(
                {
                    "file": f"{index:05d}.wav",
                    "caption": caption,
                    **variants,
                    "category": spec.category,
                    "attributes": spec.attributes,
                    "template": template,
                    "source": spec.source_info(),
                }
            )
        for start in range(0, counts[split], MIDI_BATCH_INDICES):
            idx = list(range(start, min(start + MIDI_BATCH_INDICES, counts[split])))
            jobs.append((split, idx, [specs[i] for i in idx]))

    total = n_train + n_test
    done = 0

    def run(job: tuple[str, list[int], list[ItemSpec]]) -> int:
        split, idx, specs = job
        clips = _render_specs(specs, sample_rate, clip_seconds, font)
        for i, clip in zip(idx, clips, strict=True):
            _write_pcm16(root / split / f"{i:05d}.wav", clip, sample_rate)
        return len(idx)

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for count in pool.map(run, jobs):
                done += count
                if progress:
                    progress(done, total)
    else:
        for job in jobs:
            done += run(job)
            if progress:
                progress(done, total)

    for split in SPLITS:
        lines = [json.dumps(r, sort_keys=False, ensure_ascii=False) + "\n" for r in records[split]]
        (root / split / "metadata.jsonl").write_text("".join(lines), encoding="utf-8")
    (root / "labels.json").write_text(json.dumps(list(cats), indent=1) + "\n", encoding="utf-8")
    info = DatasetInfo(
        root=root,
        seed=seed,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        categories=cats,
        counts=counts,
        soundfont=font.name if font else None,
    )
    description = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "sample_rate": sample_rate,
        "clip_seconds": clip_seconds,
        "num_samples": info.num_samples,
        "categories": list(cats),
        "counts": counts,
        "soundfont": info.soundfont,
    }
    (root / "dataset.json").write_text(json.dumps(description, indent=1) + "\n", encoding="utf-8")
    return info


def write_prompts_file(info_or_dir: DatasetInfo | str | Path, path: str | Path, split: str = "test") -> int:
    """Write the held-out captions as JSON lines ``{"prompt", "category", "attributes", "file"}``.

    This is the input of the evaluation command: prompts in wording the model was not trained on, with
    the category a classifier should recognise in the generated audio and the reference clip
    (``file``, relative to the dataset root). Returns the number of prompts written.
    """
    info = info_or_dir if isinstance(info_or_dir, DatasetInfo) else DatasetInfo.from_dir(info_or_dir)
    rows = [
        {
            "prompt": r["caption"],
            "category": r["category"],
            "attributes": r["attributes"],
            "file": f"{split}/{r['file']}",
        }
        for r in info.load_metadata(split)
    ]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m audioldm_daw.workbench.dataset OUT --n-train 200 --n-test 50``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--clip-seconds", type=float, default=5.12)
    parser.add_argument("--soundfont", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--prompts", type=Path, default=None, help="also write the held-out prompts here")
    args = parser.parse_args(argv)
    info = generate_dataset(
        args.out_dir,
        args.n_train,
        args.n_test,
        seed=args.seed,
        sample_rate=args.sample_rate,
        clip_seconds=args.clip_seconds,
        soundfont=args.soundfont,
        workers=args.workers,
    )
    if args.prompts is not None:
        write_prompts_file(info, args.prompts)
    print(json.dumps({"root": str(info.root), "counts": dict(info.counts)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
