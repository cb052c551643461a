"""What a model knows: a prompt far from everything the model was trained on gets a warning, never a refusal.

A small model trained on a few kinds of sound maps any prompt onto one of them: "a dog barking" comes out as
speech, "rain on a tin roof" as a low rumble. A model folder may therefore declare what it was trained on in
``knows.json`` (written by the workbench's assemble step, and for the bundled model from the synthetic dataset's
caption templates)::

    {"format": 1,
     "kinds": ["piano", "strings", ...],        # what to name in the warning
     "captions": ["a piano softly plays ...", ...],  # a sample of the training captions
     "threshold": 0.948}                        # optional: below it a prompt warns (else DEFAULT_THRESHOLD)

The captions are embedded once per model (the model's own CLAP text tower, ``text_encoder/``, without the text
offset: both sides the same way), kept in memory by content hash and on disk in the user's cache (a plain array
keyed by the content hash and the captions, so a one-shot command does not run the text tower over them again);
a prompt's score is its best cosine similarity to them. Folders without the file (the public checkpoints) get no
warning: nothing is known to compare with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from audioldm_daw.engine import clap
from audioldm_daw.engine.errors import ModelLoadError

if TYPE_CHECKING:
    from audioldm_daw.engine.model import AudioLDMModel

log = logging.getLogger(__name__)

KNOWS_FILE = "knows.json"
FORMAT = 1
#: The bundled model's choice (benchmarks/bench_knowledge.py, docs/benchmarks.md); a folder's own
#: ``threshold`` wins, since another text tower spreads its similarities differently.
DEFAULT_THRESHOLD = 0.948

_EMBEDDED: dict[str, torch.Tensor] = {}  # content hash -> (N, D) float32 caption embeddings, on the CPU
_EMBEDDED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Knowledge:
    """A model's declared training material and its captions' embeddings."""

    kinds: tuple[str, ...]
    captions: tuple[str, ...]
    threshold: float
    embeddings: torch.Tensor  # (N, D) float32, L2-normalised, CPU

    def similarity(self, model: AudioLDMModel, prompt: str) -> float:
        """The prompt's best cosine similarity to the known captions."""
        e = _embed(model, [prompt])
        return float((e @ self.embeddings.T).max())

    def warning(self, model: AudioLDMModel, prompt: str) -> str | None:
        """A sentence naming what the model knows when ``prompt`` is far from all of it, else None."""
        if not prompt.strip():
            return None
        if self.similarity(model, prompt) >= self.threshold:
            return None
        known = ", ".join(self.kinds) if self.kinds else "only what its training captions describe"
        return (
            f"prompt: this model knows {known}; {prompt[:80]!r} is far from all of them, so expect one of those sounds"
        )


def read_knows(path: Path) -> dict[str, Any] | None:
    """The folder's ``knows.json`` checked, or None when it has none."""
    f = path / KNOWS_FILE
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        kinds = [str(k) for k in data.get("kinds", [])]
        captions = [str(c) for c in data["captions"] if str(c).strip()]
        threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"model folder {path}: {KNOWS_FILE} is unreadable ({type(exc).__name__}: {exc}); expected "
            '{"format": 1, "kinds": [names], "captions": [texts], "threshold": number}, or remove the file'
        ) from exc
    if not captions or not -1.0 <= threshold <= 1.0:
        raise ModelLoadError(
            f"model folder {path}: {KNOWS_FILE} needs at least one caption and a threshold between -1 and 1 "
            f"(a cosine similarity), got {len(captions)} captions and {threshold}; fix or remove the file"
        )
    return {"format": FORMAT, "kinds": kinds, "captions": captions, "threshold": threshold}


def write_knows(
    folder: Path, kinds: list[str], captions: list[str], threshold: float | None = None, about: str = ""
) -> Path:
    """Write ``folder/knows.json`` (kinds in the order given, captions deduplicated in order)."""
    record: dict[str, Any] = {"format": FORMAT}
    if about:
        record["about"] = about
    record["kinds"] = list(kinds)
    record["captions"] = list(dict.fromkeys(captions))
    if threshold is not None:
        record["threshold"] = round(float(threshold), 6)
    out = Path(folder) / KNOWS_FILE
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def load_knowledge(model: AudioLDMModel) -> Knowledge | None:
    """The model folder's knowledge with its captions embedded (once per content hash), or None without a file."""
    data = read_knows(model.path)
    if data is None:
        return None
    key = hashlib.sha256(json.dumps([model.content_hash, str(model.dtype), data["captions"]]).encode()).hexdigest()
    with _EMBEDDED_LOCK:
        embeddings = _EMBEDDED.get(key)
        if embeddings is None:
            embeddings = _read_cached(key, len(data["captions"]))
            if embeddings is None:
                embeddings = _embed(model, data["captions"])
                _write_cached(key, embeddings)
            _EMBEDDED[key] = embeddings
    return Knowledge(tuple(data["kinds"]), tuple(data["captions"]), data["threshold"], embeddings)


def _cache_file(key: str) -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("audioldm-daw")) / "knowledge" / f"{key}.npy"


def _read_cached(key: str, rows: int) -> torch.Tensor | None:
    """The embeddings cached on disk under ``key``, or None (absent, unreadable or of another shape)."""
    import numpy as np

    try:
        array = np.load(_cache_file(key), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.ndim != 2 or array.shape[0] != rows or array.dtype != np.float32:
        return None
    return torch.from_numpy(array)


def _write_cached(key: str, embeddings: torch.Tensor) -> None:
    """Write atomically (a temporary file renamed), so that a process reading at the same time sees all or none."""
    import numpy as np

    f = _cache_file(key)
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, embeddings.numpy(), allow_pickle=False)
        os.replace(tmp, f)
    except OSError:
        log.debug("could not write the knowledge cache %s", f)


@torch.no_grad()
def _embed(model: AudioLDMModel, texts: list[str]) -> torch.Tensor:
    """Float32 CPU text embeddings from the model's conditioning text tower, without its text offset."""
    return clap.embed_text(model.text_encoder, model.tokenizer, texts).float().cpu()
