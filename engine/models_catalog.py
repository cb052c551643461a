"""The models this machine has, and which one is the default: the runtime side of ``audioldm-daw models``.

Three places hold models, and the catalog reads all three without loading any weights (no torch, no
diffusers: the command line and ``/audioldm/models`` answer at once):

- the bundled model (:func:`audioldm_daw.engine.model.bundled_model_dir`);
- the user's models folder, ``platformdirs.user_data_dir("audioldm-daw")/models``: one model folder per
  subfolder (converted checkpoints, models trained on your own samples); it need not exist;
- the Hugging Face hub cache (``huggingface_hub.scan_cache_dir``): repos whose ``model_index.json`` names an
  AudioLDM pipeline, or the public AudioLDM ids.

Each entry carries its size on disk, its licence (the card's front matter, else ``knows.json``'s ``licence``,
else :data:`KNOWN_LICENCES`) and what it knows (``knows.json``'s kinds). The default chosen with
``audioldm-daw models default NAME`` is kept in :func:`config_file` and read by
:func:`audioldm_daw.engine.model.default_model` after ``$AUDIOLDM_DAW_MODEL`` and before the bundled model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

APP = "audioldm-daw"
#: The licences of models whose folders do not say: the public checkpoints on the hub and the bundled model.
KNOWN_LICENCES = {
    "cvssp/audioldm-s-full-v2": "CC BY-NC-SA 4.0",
    "cvssp/audioldm-m-full": "CC BY-NC-SA 4.0",
    "cvssp/audioldm-l-full": "CC BY-NC-SA 4.0",
    "cvssp/audioldm": "CC BY-NC-SA 4.0",
    "bundled": "MIT",
}
#: The public AudioLDM checkpoints ``models pull`` knows by a short name as well as by hub id.
PUBLIC_MODELS = ("cvssp/audioldm-s-full-v2", "cvssp/audioldm-m-full", "cvssp/audioldm-l-full")
#: Licence ids of card front matter, as people write them.
_LICENCE_NAMES = {"mit": "MIT", "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0", "apache-2.0": "Apache 2.0"}
_KNOWS_FILE = "knows.json"  # engine/knowledge.py's file; read here for its kinds only, without importing torch
_PIPELINE_CLASSES = ("AudioLDMPipeline",)
BUNDLED, USER, HUB = "bundled", "user", "hub"


@dataclass(frozen=True)
class ModelEntry:
    """One model on this machine, as the catalog lists it."""

    name: str  # what people call it: the folder's name, or the hub id
    model: str  # what --model takes for it: a folder path, or the hub id
    source: str  # BUNDLED, USER or HUB
    path: str  # the folder (for a hub repo, its newest snapshot)
    size_bytes: int
    licence: str  # "" when nothing says
    knows: tuple[str, ...]  # knows.json's kinds; () when the folder declares nothing
    complete: bool  # every part of the diffusers layout is there (a hub download may have been cut short)
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``knows`` as a list)."""
        out = asdict(self)
        out["knows"] = list(self.knows)
        return out


def user_models_dir() -> Path:
    """The user's models folder: converted and trained model folders, one per subfolder (may not exist yet)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP)) / "models"


def config_file() -> Path:
    """The small JSON that remembers the default model chosen with ``audioldm-daw models default``."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP)) / "models.json"


def configured_default() -> str | None:
    """The default model set with ``models default``, or None; an unreadable file counts as none set."""
    try:
        data = json.loads(config_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("default") if isinstance(data, dict) else None
    return str(value) if value else None


def set_default(model: str) -> Path:
    """Remember ``model`` (a folder path or hub id) as the default; written whole, then renamed into place."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"default": model}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def clear_default() -> bool:
    """Forget the chosen default (the bundled model is the default again); False when none was set."""
    try:
        config_file().unlink()
    except FileNotFoundError:
        return False
    return True


def public_id(name: str) -> str | None:
    """The hub id of a public AudioLDM checkpoint named by id, by repo name or by its size part (``s-full-v2``)."""
    for repo in PUBLIC_MODELS:
        short = repo.split("/", 1)[1]
        if name in (repo, short, short.removeprefix("audioldm-")):
            return repo
    return None


def licence_name(text: str) -> str:
    """A licence id as people read it (``cc-by-nc-sa-4.0`` -> ``CC BY-NC-SA 4.0``)."""
    return _LICENCE_NAMES.get(text.strip().lower(), text.strip())


def _card_licence(folder: Path) -> str:
    """The ``license`` of the folder's README front matter (huggingface_hub reads the YAML), or ""."""
    readme = folder / "README.md"
    if not readme.is_file():
        return ""
    from huggingface_hub.repocard import metadata_load

    try:
        meta = metadata_load(readme) or {}
    except Exception:  # a card that is not YAML front matter says nothing about the licence
        return ""
    value = meta.get("license")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return licence_name(str(value)) if value else ""


def _knows(folder: Path) -> dict[str, Any]:
    """The folder's knows.json as a dict, or {} when it has none or it is unreadable (loading says why)."""
    try:
        data = json.loads((folder / _KNOWS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(folder: Path, known_as: str = "") -> tuple[str, tuple[str, ...]]:
    """(licence, kinds) of a model folder; ``known_as`` is the key into :data:`KNOWN_LICENCES`."""
    knows = _knows(folder)
    listed = knows.get("kinds")
    kinds = tuple(str(k) for k in listed if str(k).strip()) if isinstance(listed, list) else ()
    licence = _card_licence(folder)
    if not licence:
        value = knows.get("licence") or knows.get("license")
        licence = licence_name(str(value)) if value else ""
    return licence or KNOWN_LICENCES.get(known_as, ""), kinds


def _size(folder: Path) -> int:
    """Bytes of every file under ``folder`` (links followed once: a hub snapshot links into its blobs)."""
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            continue
    return total


def _complete(folder: Path) -> bool:
    from audioldm_daw.engine.model import REQUIRED_PARTS

    return (folder / "model_index.json").is_file() and all((folder / p).is_dir() for p in REQUIRED_PARTS)


def _folder_entry(folder: Path, source: str, known_as: str = "") -> ModelEntry:
    licence, kinds = describe(folder, known_as)
    return ModelEntry(folder.name, str(folder), source, str(folder), _size(folder), licence, kinds, _complete(folder))


def _is_audioldm(snapshot: Path, repo_id: str) -> bool:
    if repo_id in KNOWN_LICENCES:
        return True
    try:
        index = json.loads((snapshot / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and index.get("_class_name") in _PIPELINE_CLASSES


def hub_models() -> list[ModelEntry]:
    """AudioLDM repos in the Hugging Face hub cache (``HF_HOME``/``HF_HUB_CACHE``), newest snapshot of each."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    # the cache folder is taken from the environment now, not when huggingface_hub was imported
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else constants.HF_HUB_CACHE
    )
    try:
        info = scan_cache_dir(cache)
    except (CacheNotFound, OSError):
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        newest = max(repo.revisions, key=lambda r: r.last_modified)
        snapshot = Path(newest.snapshot_path)
        if not _is_audioldm(snapshot, repo.repo_id):
            continue
        licence, kinds = describe(snapshot, repo.repo_id)
        size = int(repo.size_on_disk)
        out.append(
            ModelEntry(repo.repo_id, repo.repo_id, HUB, str(snapshot), size, licence, kinds, _complete(snapshot))
        )
    return out


def user_models() -> list[ModelEntry]:
    """Model folders (those with a ``model_index.json``) in the user's models folder."""
    root = user_models_dir()
    if not root.is_dir():
        return []
    return [_folder_entry(p, USER) for p in sorted(root.iterdir()) if (p / "model_index.json").is_file()]


def effective_default() -> str | None:
    """What ``default_model()`` answers now, or None when there is no default at all."""
    from audioldm_daw.engine.errors import ModelLoadError
    from audioldm_daw.engine.model import default_model

    try:
        return default_model()
    except ModelLoadError:
        return None


def _same(entry: ModelEntry, model: str | None) -> bool:
    if not model:
        return False
    if model == entry.name and entry.source == HUB:
        return True
    path = Path(model).expanduser()
    return path.exists() and path.resolve() == Path(entry.path).resolve()


def list_models() -> list[ModelEntry]:
    """Every model this machine has: the bundled one, the user's folders, the hub cache's AudioLDM repos;
    the one ``default_model()`` picks is marked."""
    from audioldm_daw.engine.model import bundled_model_dir

    entries: list[ModelEntry] = []
    bundled = bundled_model_dir()
    if (bundled / "model_index.json").is_file():
        entries.append(_folder_entry(bundled, BUNDLED, "bundled"))
    entries += user_models()
    entries += hub_models()
    default = effective_default()
    return [replace(e, default=_same(e, default)) for e in entries]


def find(name: str, entries: list[ModelEntry]) -> ModelEntry | None:
    """The entry called ``name`` (its name, hub id, folder path, or a public checkpoint's short name)."""
    hub = public_id(name) or name
    for e in entries:
        if name in (e.name, e.model) or hub == e.name or _same(e, name):
            return e
    return None
