"""Static tools can read the code: the import root resolves for a type checker, and the hints check clean.

``audioldm_daw.engine``/``.bridge``/``.export`` live in the top-level folders ``engine/``, ``bridge/`` and
``export/``. scripts/setup.sh installs the package in setuptools' strict editable mode: a tree of links
under ``build/`` that a ``.pth`` file puts on the path, which mypy, pyright and editors follow. An older
development install (the default editable mode, an import hook that static tools cannot follow) is
detected, and the check then runs on the same kind of link tree built here in ``tmp_path``, so the test
proves the checker and the hints either way; :func:`test_the_dev_install_is_visible_to_static_tools`
says which install it found.

Either way mypy runs for real (never skipped) with the project's ``[tool.mypy]`` configuration. Its cache
lives in ``build/mypy_cache``: the first run parses torch and friends (about a minute), later ones take
seconds.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"
CACHE = ROOT / "build" / "mypy_cache"
PACKAGES = ("engine", "bridge", "export", "workbench")

pytest.importorskip("mypy", reason="mypy is in the test extras: pip install -e '.[test]'")

PROBE = """\
from audioldm_daw.bridge.server.audition import Audition
from audioldm_daw.bridge.server.ports import AuditionPort, EnginePort
from audioldm_daw.engine.engine import Engine
from audioldm_daw.engine.request import GenerateRequest
from audioldm_daw.export.runtime import OrtDecoder


def engine_port(engine: Engine) -> EnginePort:
    return engine  # the engine satisfies what the OSC server and the job queue use


def audition_port(audition: Audition) -> AuditionPort:
    return audition


reveal_type(Engine.render)
reveal_type(GenerateRequest.typed_source)
reveal_type(OrtDecoder.decode)
"""


def _editable_pth_lines() -> list[str]:
    """The lines of the editable install's ``.pth`` file in the running interpreter's site-packages."""
    for sp in site.getsitepackages():
        for pth in sorted(Path(sp).glob("__editable__.audioldm_daw-*.pth")):
            return [line.strip() for line in pth.read_text().splitlines() if line.strip()]
    return []


def static_install_root() -> Path | None:
    """The folder a static tool finds ``audioldm_daw`` in through the install, or None when the install
    maps the package through an import hook only (setuptools' default editable mode) or is not editable."""
    for line in _editable_pth_lines():
        if not line.startswith(("import ", "import\t", "#")) and (Path(line) / "audioldm_daw").is_dir():
            return Path(line)
    return None


def _link_tree(dest: Path) -> Path:
    """``dest/audioldm_daw`` with the package's own files and links to the top-level folders."""
    pkg = dest / "audioldm_daw"
    pkg.mkdir(parents=True)
    for name in ("__init__.py", "py.typed"):
        shutil.copy2(ROOT / "importroot" / name, pkg / name)
    for name in PACKAGES:
        os.symlink(ROOT / name, pkg / name, target_is_directory=True)
    return dest


def _mypy(args: list[str], cwd: Path, tree: Path | None) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    if tree is not None:
        env["MYPYPATH"] = str(tree)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--cache-dir", str(CACHE), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)
    return proc, time.perf_counter() - t0


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """None with the strict editable install; otherwise a link tree for MYPYPATH."""
    if static_install_root() is not None:
        return None
    return _link_tree(tmp_path_factory.mktemp("typing") / "tree")


def test_the_dev_install_is_visible_to_static_tools(tree: Path | None) -> None:
    root = static_install_root()
    if root is None:
        print("editable install: import hook only (re-run scripts/setup.sh); checking on a link tree instead")
        return
    pkg = root / "audioldm_daw"
    for name in PACKAGES:
        for src in (ROOT / name).rglob("*.py"):
            if "__pycache__" in src.parts:
                continue
            linked = pkg / name / src.relative_to(ROOT / name)
            assert linked.exists(), f"{linked} is missing: a file added since the install; re-run scripts/setup.sh"
            assert os.path.samefile(linked, src), linked


def test_a_type_checker_resolves_every_import_of_the_three_packages(tree: Path | None, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    proc, wall = _mypy([str(probe)], cwd=tmp_path, tree=tree)
    print(f"mypy on the probe: {wall:.1f} s")
    out = proc.stdout + proc.stderr
    assert "import-not-found" not in out and "import-untyped" not in out, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
    # the names resolve to the project's own definitions, not to Any
    assert "def (self: audioldm_daw.engine.engine.Engine, request: audioldm_daw.engine.request.GenerateRequest" in out
    assert "-> audioldm_daw.engine.request.Source" in out, out[-3000:]
    assert "audioldm_daw.export.runtime.OrtDecoder" in out
    assert '"Any"' not in out, out[-3000:]


def test_mypy_passes_over_engine_bridge_and_export(tree: Path | None, tmp_path: Path) -> None:
    """The README's check: ``.venv/bin/python -m mypy`` from the repository root ([tool.mypy] names the packages)."""
    proc, wall = _mypy([], cwd=ROOT if tree is None else tmp_path, tree=tree)
    print(f"mypy over engine/, bridge/, export/: {wall:.1f} s")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Success: no issues found" in out, out[-3000:]
