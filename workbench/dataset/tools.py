"""Locating the external programs the synthetic dataset renders with.

The dataset leans on Debian packages (``fluidsynth`` with a GM soundfont, ``espeak-ng``) instead of
bundled samples so the repository stays small and the licences stay simple. When one is missing we fail
early, before any rendering, with the apt package to install: a half-written dataset is worse than none.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Preferred first: TimGM6mb is 6 MB and loads in a few milliseconds; FluidR3 (140 MB) sounds better but
# costs most of a second per fluidsynth start.
SOUNDFONT_CANDIDATES: tuple[tuple[Path, str], ...] = (
    (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
    (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "fluid-soundfont-gm"),
)

TOOL_PACKAGES: dict[str, str] = {"fluidsynth": "fluidsynth", "espeak-ng": "espeak-ng"}


class MissingToolError(RuntimeError):
    """Raised when a program or soundfont that a requested category needs is not installed."""


def require_tool(name: str) -> str:
    """Return the absolute path of executable ``name`` or raise naming the apt package that provides it."""
    path = shutil.which(name)
    if path is None:
        package = TOOL_PACKAGES.get(name, name)
        raise MissingToolError(
            f"'{name}' was not found on PATH; the synthetic dataset needs it. "
            f"Install it with: apt-get install -y {package}"
        )
    return path


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """Resolve the GM soundfont to render MIDI with: the given path, else the first Debian one installed."""
    if soundfont is not None:
        path = Path(soundfont)
        if not path.is_file():
            raise MissingToolError(f"soundfont {path} does not exist")
        return path
    for path, _package in SOUNDFONT_CANDIDATES:
        if path.is_file():
            return path
    packages = " or ".join(package for _path, package in SOUNDFONT_CANDIDATES)
    raise MissingToolError(
        "no General MIDI soundfont found under /usr/share/sounds/sf2; install one with: "
        f"apt-get install -y {packages} (or pass soundfont=PATH)"
    )
