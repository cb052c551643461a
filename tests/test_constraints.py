"""constraints.txt (the versions tested together) agrees with pyproject.toml (the ranges the code accepts).

A setup months from now installs constraints.txt's versions, so each pin must be one that pyproject.toml allows,
every dependency the package declares must be pinned (else a new release of it reaches users untested), and the
environment these tests run in must be the one the file describes (else the pins are not what was tested).
"""

from __future__ import annotations

import os
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def read_pins(text: str) -> dict[NormalizedName, Version]:
    """``name==version`` lines, comments and blank lines skipped; anything else is an error."""
    pins: dict[NormalizedName, Version] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"line {number}: {raw!r} is not name==version"
        assert req.marker is None and not req.extras, f"line {number}: {raw!r}: a pin carries no markers or extras"
        name = canonicalize_name(req.name)
        assert name not in pins, f"line {number}: {req.name} is pinned twice"
        pins[name] = Version(specs[0].version)
    return pins


def declared_requirements() -> list[Requirement]:
    """The package's dependencies and its test extras, as pyproject.toml states them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]


PINS = read_pins((ROOT / "constraints.txt").read_text())


def test_every_declared_dependency_for_this_platform_is_pinned_within_its_range() -> None:
    checked = 0
    for req in declared_requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue  # onnxruntime (CPU) on Linux x86_64, where onnxruntime-gpu stands in
        name = canonicalize_name(req.name)
        assert name in PINS, f"{req.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(PINS[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={PINS[name]}, outside pyproject.toml's {req.specifier}"
        )
        checked += 1
    assert checked >= 20, f"only {checked} requirements checked: pyproject.toml's lists were not read"


def test_the_pins_are_installed_as_pinned() -> None:
    """The suite's own environment is the tested set: what setup installed is what constraints.txt says."""
    if os.environ.get("AUDIOLDM_DAW_UNPINNED") == "1":
        pytest.skip("AUDIOLDM_DAW_UNPINNED=1: setup took the newest versions; scripts/lock.sh pins them afterwards")
    installed = {name: version for name in PINS if (version := installed_version(name)) is not None}
    wrong = {  # a pin with nothing installed is for another platform or an extra not installed here
        str(name): f"installed {installed[name]}, pinned {pin}"
        for name, pin in PINS.items()
        if name in installed and installed[name] != pin
    }
    assert not wrong, f"the environment differs from constraints.txt (run bash scripts/setup.sh): {wrong}"
    missing = [
        str(r.name)
        for r in declared_requirements()
        if (r.marker is None or r.marker.evaluate()) and installed_version(r.name) is None
    ]
    assert not missing, f"declared but not installed: {missing}"


def installed_version(name: str) -> Version | None:
    """The installed version, None if absent. metadata.version reads the copy an import would find first
    (setuptools' own vendored packages, which it puts on sys.path once imported, come later and are not the
    environment's)."""
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("torch>=2.11\n", "not name==version"),
        ("torch==2.11.0\nTorch==2.11.0\n", "pinned twice"),
        ("numpy==2.4.6 ; sys_platform == 'linux'\n", "no markers"),
    ],
)
def test_a_loose_duplicate_or_conditional_pin_is_refused(text: str, problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        read_pins(text)
