"""``audioldm-daw models``: list the models this machine has, pull a public checkpoint, choose the default.

The listing itself is engine/models_catalog.py (the OSC server's ``/audioldm/models`` answers from the same
code); this module is its command line. ``pull`` is huggingface_hub's ``snapshot_download``: it resumes an
interrupted download and shows a bar per file. Nothing here loads a model, so every action answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HELP = "list the models on this machine, pull a public AudioLDM checkpoint, or choose the default model"

EPILOG = """\
examples:
  audioldm-daw models                                 the models here, their size, licence and what they know
  audioldm-daw models --json                          the same as one JSON object
  audioldm-daw models pull cvssp/audioldm-s-full-v2   download a public checkpoint into the Hugging Face cache
  audioldm-daw models default s-full-v2               use it whenever no --model is given
  audioldm-daw models default --clear                 back to the bundled model

where models are found: the bundled model, the user's models folder (one model folder per subfolder:
put converted or trained folders there) and the Hugging Face cache. $AUDIOLDM_DAW_MODEL, when set,
wins over the default chosen here.
"""

NO_NETWORK = (
    "models pull: the Hugging Face Hub cannot be reached from here (no network, or HF_HUB_OFFLINE is set), "
    "so nothing was downloaded and nothing on this machine was changed."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--json", action="store_true", help="print the list as one JSON object")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    pull = sub.add_parser(
        "pull",
        help="download a public AudioLDM checkpoint (resumes an interrupted download)",
        description="Download a public AudioLDM checkpoint into the Hugging Face cache; its licence is shown first.",
    )
    pull.add_argument("name", help="a hub id such as cvssp/audioldm-s-full-v2, or its short name (s-full-v2)")
    pull.add_argument("--quiet", action="store_true", help="no progress bars")
    default = sub.add_parser(
        "default",
        help="choose the model used when no --model is given",
        description="Choose the model used when no --model is given ($AUDIOLDM_DAW_MODEL still wins).",
    )
    default.add_argument("name", nargs="?", help="a name from 'audioldm-daw models', a model folder or a hub id")
    default.add_argument("--clear", action="store_true", help="forget the choice: the bundled model again")


def run(args: argparse.Namespace) -> int:
    if args.action == "pull":
        return pull(args.name, quiet=args.quiet)
    if args.action == "default":
        return choose_default(args.name, clear=args.clear)
    return show(as_json=args.json)


def _size(n_bytes: int) -> str:
    """Bytes as people read them (decimal units, as file managers show sizes)."""
    n = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def show(as_json: bool = False) -> int:
    """Print the catalog: one line per model (``*`` marks the default), or one JSON object."""
    from audioldm_daw.engine import models_catalog as catalog

    entries = catalog.list_models()
    env = os.environ.get("AUDIOLDM_DAW_MODEL")
    if as_json:
        record = {
            "models": [e.to_json() for e in entries],
            "default": next((e.name for e in entries if e.default), None),
            "default_from": "AUDIOLDM_DAW_MODEL" if env else ("config" if catalog.configured_default() else "bundled"),
            "user_models_dir": str(catalog.user_models_dir()),
            "config_file": str(catalog.config_file()),
        }
        print(json.dumps(record))
        return 0
    for e in entries:
        mark = "*" if e.default else " "
        knows = ", ".join(e.knows) if e.knows else "-"
        note = "" if e.complete else "  (incomplete: run 'audioldm-daw models pull' to finish it)"
        print(f"{mark} {e.name}  [{e.source}]  {_size(e.size_bytes)}  licence: {e.licence or 'not stated'}{note}")
        print(f"    knows: {knows}")
        if e.source != catalog.HUB:
            print(f"    {e.path}")
    if not any(e.default for e in entries):
        chosen = env or catalog.configured_default()
        if chosen:
            print(f"default: {chosen} (not among the models listed here)")
    print(f"(* the default; put your own model folders in {catalog.user_models_dir()})")
    return 0


def _cached(repo: str) -> Path | None:
    """The repo's folder in the hub cache, if any of it is there."""
    from huggingface_hub import constants

    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else constants.HF_HUB_CACHE
    )
    folder = Path(cache) / ("models--" + repo.replace("/", "--"))
    return folder if folder.exists() else None


def pull(name: str, quiet: bool = False) -> int:
    """Download ``name`` with snapshot_download; the licence first, one plain sentence when offline."""
    from audioldm_daw.engine import models_catalog as catalog

    repo = catalog.public_id(name) or name
    if repo.count("/") != 1:
        print(
            f"models pull: {name!r} is not a hub id; expected one of {', '.join(catalog.PUBLIC_MODELS)} "
            "(or its short name, e.g. s-full-v2), or another owner/name on the Hugging Face Hub.",
            file=sys.stderr,
        )
        return 2
    licence = catalog.KNOWN_LICENCES.get(repo)
    if licence:
        print(f"{repo}: licence {licence}; read it before you use the model or what you make with it.")
    else:
        print(f"{repo}: licence not known here; read its model card on the Hugging Face Hub before you use it.")
    if not quiet and "huggingface_hub" not in sys.modules:
        os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # the command line quiets them for other commands
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    before = _cached(repo)
    try:
        folder = Path(snapshot_download(repo))
    except RepositoryNotFoundError:
        print(f"models pull: there is no model {repo!r} on the Hugging Face Hub; check the name.", file=sys.stderr)
        return 2
    except Exception as exc:  # offline, no route, a dropped connection, a full disk: said plainly below
        if before is None and _cached(repo) is None:
            print(NO_NETWORK, file=sys.stderr)
        else:
            print(
                f"models pull: the download of {repo} stopped ({exc.__class__.__name__}); what it got is kept, "
                "and running the same command again resumes it.",
                file=sys.stderr,
            )
        return 1
    licence_here, _kinds = catalog.describe(folder, repo)
    print(f"{repo} is in the Hugging Face cache: {folder}")
    print(f"use it with --model {repo}, or make it the default with 'audioldm-daw models default {repo}'")
    if licence_here and licence_here != licence:
        print(f"its model card states the licence {licence_here}")
    return 0


def choose_default(name: str | None, clear: bool = False) -> int:
    """Set or clear the default model; a name from the list, a model folder or a hub id."""
    from audioldm_daw.engine import models_catalog as catalog

    if clear:
        had = catalog.clear_default()
        print("default: the bundled model again" + ("" if had else " (no other default was set)"))
        return 0
    if not name:
        print("models default: expected a model name (see 'audioldm-daw models'), or --clear.", file=sys.stderr)
        return 2
    entry = catalog.find(name, catalog.list_models())
    if entry is not None:
        model = entry.model
    elif Path(name).expanduser().is_dir():
        model = str(Path(name).expanduser().resolve())
    elif (catalog.public_id(name) or name).count("/") == 1 and not name.startswith((".", "/", "~")):
        model = catalog.public_id(name) or name  # a hub id not downloaded yet: fetched at first use
    else:
        print(
            f"models default: {name!r} is neither a model listed by 'audioldm-daw models', a folder, nor a hub id; "
            "pick a name from that list.",
            file=sys.stderr,
        )
        return 2
    path = catalog.set_default(model)
    print(f"default: {model} (kept in {path})")
    if os.environ.get("AUDIOLDM_DAW_MODEL"):
        print("note: AUDIOLDM_DAW_MODEL is set in this environment and wins over this default while it is.")
    return 0
