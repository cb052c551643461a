"""The distribution installs one import root, ``audioldm_daw``, from both an editable install and a wheel, and the
packages under it import each other only along the design's arrows.

The arrows (../shared/DESIGN.md, "The house"): bridge -> workbench -> engine, bridge -> export -> engine, bridge ->
engine. The engine is the runtime a DAW talks to and imports none of the others; the export package builds on the
engine alone; the workbench (training, dataset, conversion, evaluation) builds on the engine (and may use the export
package) but never on the bridge, whose commands are its only callers.

Inside the bridge, the groups (bridge/__init__.py): cli -> server, cli -> clients, and all three -> the shared modules
at the top of bridge/ (protocol.py, the OSC contract; param_text.py). Nothing imports cli; server and clients never
import each other, since they meet only over the wire.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_editable_install_imports_from_the_top_level_folders() -> None:
    import os

    import audioldm_daw.bridge
    import audioldm_daw.engine
    import audioldm_daw.export
    import audioldm_daw.workbench

    # The strict editable install imports through a link tree under build/: the same files, other paths.
    for pkg, folder in (
        (audioldm_daw.engine, "engine"),
        (audioldm_daw.bridge, "bridge"),
        (audioldm_daw.export, "export"),
        (audioldm_daw.workbench, "workbench"),
    ):
        assert os.path.samefile(pkg.__file__, ROOT / folder / "__init__.py"), (pkg.__file__, folder)


#: The top-level packages (folder = subpackage name under ``audioldm_daw``) and what each may import besides itself
#: and the import root's own ``audioldm_daw/__init__.py``.
PACKAGES = ("engine", "export", "workbench", "bridge")
MAY_IMPORT = {
    "engine": set(),
    "export": {"engine"},
    "workbench": {"engine", "export"},
    "bridge": {"engine", "export", "workbench"},
}
#: Arrows that must exist: a package that no longer uses what the design says it builds on is a layout change
#: the design (and this test) should say out loud.
DESIGN_ARROWS = {("bridge", "workbench"), ("bridge", "engine"), ("bridge", "export"), ("workbench", "engine"),
                 ("export", "engine")}  # fmt: skip


def _module_name(path: Path) -> str:
    """``engine/model.py`` -> ``audioldm_daw.engine.model``; a package's ``__init__.py`` names the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["audioldm_daw", *parts])


def _is_module_path(text: str) -> bool:
    """Whether ``text`` is, as a whole, a dotted name under the import root (a sentence that mentions one is not)."""
    return text.startswith("audioldm_daw.") and all(part.isidentifier() for part in text.split("."))


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every ``audioldm_daw`` module that ``source`` (the module ``module``) refers to: ``import`` and ``from``
    statements anywhere (inside functions, ``TYPE_CHECKING`` blocks and ``try`` too), relative ones resolved, and
    strings that are whole dotted module paths (``importlib.import_module`` arguments, the lazy-export tables).
    ``from audioldm_daw import engine`` counts as ``audioldm_daw.engine``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_module_path(node.value):
            found.add(node.value)
    return {name for name in found if name == "audioldm_daw" or name.startswith("audioldm_daw.")}


def _top_package(name: str) -> str | None:
    """``audioldm_daw.engine.model`` -> ``engine``; None for the import root itself and for names below it that
    are no package (``audioldm_daw.lazy_exports``, ``audioldm_daw.__version__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else None


def package_arrows() -> dict[tuple[str, str], set[str]]:
    """(importing package, imported package) -> the modules whose imports make that arrow, over every module of
    the four top-level folders."""
    arrows: dict[tuple[str, str], set[str]] = {}
    for folder in PACKAGES:
        paths = [p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]
        assert paths, f"{folder}/ holds no modules: the layout this test knows is out of date"
        for path in paths:
            module = _module_name(path)
            for name in imported_modules(path.read_text(), module, path.name == "__init__.py"):
                target = _top_package(name)
                if target is not None and target != folder:
                    arrows.setdefault((folder, target), set()).add(module)
    return arrows


def test_the_import_walk_sees_lazy_relative_and_string_imports() -> None:
    """The walk the layout test relies on finds an import wherever a module can hide one."""
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
from . import sibling
from ..bridge import cli
if TYPE_CHECKING:
    from audioldm_daw.export.runtime import OrtDecoder
def later():
    import audioldm_daw.workbench.training.loop
    from audioldm_daw import bridge
    return importlib.import_module("audioldm_daw.workbench.convert")
TABLE = {"Engine": "audioldm_daw.engine.engine"}
DOC = "this mentions audioldm_daw.bridge in a sentence, which is no import"
"""
    found = imported_modules(source, "audioldm_daw.engine.model", is_package=False)
    assert {
        "audioldm_daw.engine.sibling",
        "audioldm_daw.bridge.cli",
        "audioldm_daw.export.runtime",
        "audioldm_daw.workbench.training.loop",
        "audioldm_daw.bridge",
        "audioldm_daw.workbench.convert",
        "audioldm_daw.engine.engine",
    } <= found, found
    assert {_top_package(n) for n in found} == {"engine", "bridge", "export", "workbench", None}


def test_packages_import_each_other_only_along_the_design_arrows() -> None:
    """engine/ and export/ import neither the workbench nor the bridge (lazy imports included), the workbench never
    imports the bridge, and the engine imports no other package at all."""
    arrows = package_arrows()
    wrong = {arrow: sorted(mods) for arrow, mods in arrows.items() if arrow[1] not in MAY_IMPORT[arrow[0]]}
    assert not wrong, f"imports against the design's arrows (importer, imported): {wrong}"
    for importer in ("engine", "export"):
        for banned in ("workbench", "bridge"):
            assert (importer, banned) not in arrows, arrows[(importer, banned)]
    assert ("workbench", "bridge") not in arrows
    missing = DESIGN_ARROWS - set(arrows)
    assert not missing, f"arrows the design names but no module makes: {sorted(missing)}"


#: The bridge's groups (subpackages) and what each may import of the bridge besides itself. ``shared`` is every module
#: directly in bridge/ (protocol.py, param_text.py): what all the groups read, importing none of them.
BRIDGE_GROUPS = ("cli", "server", "clients")
BRIDGE_MAY_IMPORT = {
    "cli": {"server", "clients", "shared"},
    "server": {"shared"},
    "clients": {"shared"},
    "shared": set(),
}
BRIDGE_DESIGN_ARROWS = {("cli", "server"), ("cli", "clients"), ("cli", "shared"), ("server", "shared"),
                        ("clients", "shared")}  # fmt: skip


def _bridge_group(name: str) -> str | None:
    """``audioldm_daw.bridge.server.jobs`` -> ``server``; ``audioldm_daw.bridge.protocol.osc_name`` -> ``shared``;
    None outside the bridge and for the bridge package itself (``from audioldm_daw.bridge import protocol`` names
    it beside the module it imports)."""
    parts = name.split(".")
    if parts[:2] != ["audioldm_daw", "bridge"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in BRIDGE_GROUPS else "shared"


def bridge_arrows(modules: list[tuple[str, str, bool]]) -> dict[tuple[str, str], set[str]]:
    """(importing group, imported group) -> the modules that make that arrow, over ``modules`` as (module name,
    source, is a package's ``__init__``), lazy imports and string module paths included."""
    arrows: dict[tuple[str, str], set[str]] = {}
    for module, source, is_package in modules:
        group = "shared" if module == "audioldm_daw.bridge" else _bridge_group(module)
        assert group is not None, f"{module} is not a bridge module"
        for name in imported_modules(source, module, is_package):
            target = _bridge_group(name)
            if target is not None and target != group:
                arrows.setdefault((group, target), set()).add(module)
    return arrows


def _bridge_modules() -> list[tuple[str, str, bool]]:
    paths = [p for p in (ROOT / "bridge").rglob("*.py") if "__pycache__" not in p.parts]
    for group in BRIDGE_GROUPS:
        assert any(p.parent == ROOT / "bridge" / group for p in paths), f"bridge/{group}/ holds no modules"
    return [(_module_name(p), p.read_text(), p.name == "__init__.py") for p in paths]


def wrong_bridge_arrows(arrows: dict[tuple[str, str], set[str]]) -> dict[tuple[str, str], list[str]]:
    return {arrow: sorted(mods) for arrow, mods in arrows.items() if arrow[1] not in BRIDGE_MAY_IMPORT[arrow[0]]}


def test_bridge_groups_import_each_other_only_along_the_design_arrows() -> None:
    """Inside bridge/: the command line may use the server, the clients and the shared modules; the server and the
    clients use only the shared modules (never each other, never the command line); the shared modules import no
    group; and every arrow the design names is still made by some module."""
    arrows = bridge_arrows(_bridge_modules())
    wrong = wrong_bridge_arrows(arrows)
    assert not wrong, f"imports against the bridge's arrows (importer group, imported group): {wrong}"
    assert not any(target == "cli" for _, target in arrows), "nothing in the bridge imports the command line"
    missing = BRIDGE_DESIGN_ARROWS - set(arrows)
    assert not missing, f"bridge arrows the design names but no module makes: {sorted(missing)}"


def test_the_bridge_check_catches_a_wrong_arrow_wherever_it_hides() -> None:
    """A server module reaching a client lazily, a client module importing the command line, the command line
    table naming a server module by string, and a shared module importing a group: the wrong ones are all found,
    the allowed one (cli -> server) is not."""
    modules = [
        ("audioldm_daw.bridge.server.jobs", "def f():\n    from audioldm_daw.bridge.clients import client\n", False),
        ("audioldm_daw.bridge.clients.inbox", "from ..cli.options import converter\n", False),
        ("audioldm_daw.bridge.cli", 'TABLE = {"serve": "audioldm_daw.bridge.server.osc_server"}\n', True),
        ("audioldm_daw.bridge.protocol", "from audioldm_daw.bridge import server\n", False),
    ]
    arrows = bridge_arrows(modules)
    assert wrong_bridge_arrows(arrows) == {
        ("server", "clients"): ["audioldm_daw.bridge.server.jobs"],
        ("clients", "cli"): ["audioldm_daw.bridge.clients.inbox"],
        ("shared", "server"): ["audioldm_daw.bridge.protocol"],
    }
    assert arrows[("cli", "server")] == {"audioldm_daw.bridge.cli"}


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory, checkout_build_lock: Any) -> Path:
    """The wheel built from the checkout, once for the module (builds from the checkout take turns)."""
    dist = tmp_path_factory.mktemp("dist")
    with checkout_build_lock:
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
            check=True,
            capture_output=True,
            cwd=dist,
        )
    return next(dist.glob("audioldm_daw-*.whl"))


def test_wheel_has_one_import_root_and_imports(tmp_path: Path, built_wheel: Path) -> None:
    wheel = built_wheel
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"audioldm_daw"}
    for sub in (
        "engine/engine.py",
        "bridge/protocol.py",
        "bridge/cli/__init__.py",
        "bridge/cli/__main__.py",  # python -m audioldm_daw.bridge.cli
        "bridge/server/osc_server.py",
        "bridge/clients/client.py",
        "export/__init__.py",
        "workbench/training/loop.py",
    ):
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


def _release(version: str) -> str:
    """``2.11.0+cpu`` -> ``2.11.0``: a local label names the wheel's build, not its release."""
    return version.split("+", 1)[0]


def test_pip_alone_picks_matching_torch_and_torchaudio_and_an_input_mode_runs(
    tmp_path: Path, tiny_model_dir: Path, built_wheel: Path
) -> None:
    """Without constraints.txt, pip's resolver still picks torch and torchaudio of one release for the wheel
    (pyproject.toml pins both to it): torchaudio's compiled library loads only with the torch it was built
    for, and a mismatched pair fails every input mode. The resolution is a dry run from PyPI (metadata only,
    nothing installed); the pair it picked must be the one this environment runs, and an input mode (a
    variation on a tiny model, which reads and resamples its input) must work with it."""
    import json
    from importlib.metadata import version

    import numpy as np
    import soundfile as sf

    wheel = built_wheel
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
    pip += ["--report", str(report), "--index-url", "https://pypi.org/simple", str(wheel)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no constraint or index from outside
    done = subprocess.run(pip, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    picked = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert _release(picked["torch"]) == _release(picked["torchaudio"]), picked
    here = {name: _release(version(name)) for name in ("torch", "torchaudio")}
    assert here == {"torch": _release(picked["torch"]), "torchaudio": _release(picked["torchaudio"])}, (here, picked)

    source = tmp_path / "in.wav"
    t = np.arange(22050) / 22050
    sf.write(source, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050)  # not the model's rate
    out = tmp_path / "variation.wav"
    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "variation", str(source), "--model", str(tiny_model_dir)]
    cmd += ["--device", "cpu", "--steps", "2", "--duration", "1", "--seed", "4", "--out", str(out)]
    ran = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=_offline())
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert sf.info(str(out)).frames > 0 and "libtorchaudio" not in ran.stderr


def _offline() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
