"""The distribution installs one import root, ``audioldm_daw``, from both an editable install and a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_editable_install_imports_from_the_top_level_folders() -> None:
    import os

    import audioldm_daw.bridge
    import audioldm_daw.engine
    import audioldm_daw.export

    # The strict editable install imports through a link tree under build/: the same files, other paths.
    for pkg, folder in (
        (audioldm_daw.engine, "engine"),
        (audioldm_daw.bridge, "bridge"),
        (audioldm_daw.export, "export"),
    ):
        assert os.path.samefile(pkg.__file__, ROOT / folder / "__init__.py"), (pkg.__file__, folder)


def test_engine_imports_neither_export_nor_bridge() -> None:
    import re

    pattern = re.compile(r"^\s*(from|import)\s+audioldm_daw\.(export|bridge)\b", re.MULTILINE)
    for path in (ROOT / "engine").rglob("*.py"):
        assert not pattern.search(path.read_text()), path


def test_wheel_has_one_import_root_and_imports(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("audioldm_daw-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"audioldm_daw"}
    for sub in ("engine/engine.py", "bridge/cli.py", "export/__init__.py"):
        assert f"audioldm_daw/{sub}" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "audioldm-daw = audioldm_daw.bridge.cli:main" in entry
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = "import audioldm_daw.engine as e, audioldm_daw.bridge.cli as c; print(e.__file__); print(c.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    ).stdout.split()
    assert all(p.startswith(str(target)) for p in out), out
