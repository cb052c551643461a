"""A model's ``knows.json`` (engine/knowledge.py) from the synthetic dataset or from a training data folder.

The engine warns when a prompt is far from every caption a model's ``knows.json`` lists. For a model trained on
the synthetic dataset the file is written from the caption templates themselves: the 14 kinds of sound by name,
and a seeded sample of train-wording captions per kind. Prompts for choosing the warning's threshold come from
here too: captions the dataset can produce that are not in the file (the held-out wording, and other draws).

    python -m audioldm_daw.workbench.dataset.knows models/audioldm-daw-mini [--threshold T]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from audioldm_daw.engine.knowledge import KNOWS_FILE, write_knows
from audioldm_daw.workbench.dataset.captions import caption_variants
from audioldm_daw.workbench.dataset.sources import CATEGORIES, sample_attributes

#: What the warning calls each category.
KIND_NAMES: dict[str, str] = {
    "piano": "piano",
    "strings": "strings",
    "flute": "flute",
    "organ": "organ",
    "guitar": "acoustic guitar",
    "brass": "brass",
    "bass": "bass guitar",
    "drums": "drums",
    "speech": "speech",
    "siren": "sirens",
    "beeps": "beeps",
    "sweep": "sine sweeps",
    "noise": "noise",
    "knocking": "knocking",
}
PER_KIND = 4
ABOUT = "the synthetic dataset's 14 kinds of sound (workbench/dataset), in train wording"


def synthetic_captions(split: str, per_kind: int, seed: int) -> list[str]:
    """``per_kind`` distinct captions per category in ``split``'s wording, each from a fresh attribute draw and
    the templates in turn, so every template of the split appears."""
    out: list[str] = []
    for index, category in enumerate(CATEGORIES):
        rng = np.random.default_rng([seed, index])
        picked: list[str] = []
        for draw in range(per_kind * 20):
            if len(picked) == per_kind:
                break
            variants = caption_variants(category, sample_attributes(category, rng), split)
            caption = variants[draw % len(variants)]
            if caption not in picked:
                picked.append(caption)
        out.extend(picked)
    return out


def synthetic_knowledge(per_kind: int = PER_KIND, seed: int = 0) -> tuple[list[str], list[str]]:
    """(kinds, captions) for a model trained on the synthetic dataset."""
    return [KIND_NAMES[c] for c in CATEGORIES], synthetic_captions("train", per_kind, seed)


def heldout_inside(per_kind: int = 6, seed: int = 1) -> list[str]:
    """Captions the dataset produces that :func:`synthetic_knowledge` does not list: half in the held-out
    wording, half in train wording from other draws."""
    known = set(synthetic_knowledge()[1])
    test = synthetic_captions("test", per_kind // 2, seed)
    train = [c for c in synthetic_captions("train", per_kind, seed + 1000) if c not in known]
    return test + train[: len(test)]


def knowledge_from_records(records: Iterable[dict], per_kind: int = PER_KIND, seed: int = 0) -> tuple[list, list]:
    """(kinds, captions) from a data folder's caption records (``{"caption", "category"?}``): the categories
    named where the records have them, and a seeded sample of up to ``per_kind`` captions of each (48 in all
    without categories)."""
    by_kind: dict[str, list[str]] = {}
    for r in records:
        caption = str(r.get("caption") or "").strip()
        if caption:
            by_kind.setdefault(str(r.get("category") or ""), []).append(caption)
    rng = np.random.default_rng(seed)
    captions: list[str] = []
    for kind, texts in by_kind.items():
        unique = list(dict.fromkeys(texts))
        take = per_kind if kind else 12 * per_kind
        captions.extend(unique[i] for i in sorted(rng.permutation(len(unique))[:take]))
    kinds = [KIND_NAMES.get(k, k) for k in by_kind if k]
    return kinds, captions


def write_for_data(model_dir: Path, data: Path) -> Path | None:
    """Write ``model_dir/knows.json`` from the captioned clips of training folder ``data`` (its
    ``metadata.jsonl`` files, the dataset generator's format; the train split where there is one); None when
    the folder holds no captions, for a model whose training material cannot be named."""
    data = Path(data)
    files = [data / "train" / "metadata.jsonl"] if (data / "train" / "metadata.jsonl").is_file() else []
    files = files or sorted(data.rglob("metadata.jsonl"))
    records: list[dict] = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                records.append(row)
    kinds, captions = knowledge_from_records(records)
    if not captions:
        return None
    return write_knows(model_dir, kinds, captions, about=f"the captioned clips of {data.name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="the model folder to write knows.json into")
    p.add_argument("--threshold", type=float, default=None, help="the folder's own threshold (default: the engine's)")
    p.add_argument("--per-kind", type=int, default=PER_KIND, help="captions listed per kind of sound")
    args = p.parse_args(argv)
    kinds, captions = synthetic_knowledge(args.per_kind)
    out = write_knows(args.model, kinds, captions, args.threshold, about=ABOUT)
    print(f"wrote {out} ({len(kinds)} kinds, {len(captions)} captions); see {KNOWS_FILE} in docs/models.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
