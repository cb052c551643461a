"""Checkpoints that resume exactly: accelerate's full state plus the loop's own position.

``Accelerator.save_state`` writes every prepared model, optimizer, LR schedule, gradient scaler and the RNG
states of every process; ``trainer.json`` beside it adds the step and the running loss. Batches and noise
are functions of (seed, step) (see :mod:`.data` and :func:`step_seed`), so restoring this much makes the
loss sequence after a resume equal to the uninterrupted run's. Checkpoints are written to a temporary
folder and renamed, so a run killed mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "step-"
STATE_FILE = "trainer.json"


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def resolve_resume(run_dir: Path, resume: str | bool | None) -> Path | None:
    """``True``/"latest" -> the newest checkpoint of ``run_dir`` (None when there is none yet, so the same
    command line starts or continues a run); a path -> that checkpoint folder."""
    if not resume:
        return None
    if resume is True or resume == "latest":
        found = list_checkpoints(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"resume: {path} is not a checkpoint folder (no {STATE_FILE})")
    return path


def save_checkpoint(
    accelerator: Any,
    run_dir: Path,
    step: int,
    state: dict[str, Any],
    keep: int = 2,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write checkpoint ``step`` (all processes call this), keep the newest ``keep``; returns its folder.

    ``extra(folder)`` writes more files into the checkpoint (main process) before it is renamed into place."""
    root = checkpoints_dir(run_dir)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if extra is not None:
            extra(tmp)
        (tmp / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if keep > 0:
            for old in list_checkpoints(run_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: Path) -> dict[str, Any]:
    """Restore everything ``save_checkpoint`` wrote; returns the loop state (``step`` and friends)."""
    accelerator.load_state(str(path))
    return dict(json.loads((Path(path) / STATE_FILE).read_text()))
