"""The command line starts fast: ``--help`` and a refused argument never import torch and friends.

Why it matters: a DAW script or a user mistyping an option should get an answer at once, not after the
second and hundreds of MB that torch, diffusers and transformers cost. The lazy package namespaces
(engine/__init__.py, export/__init__.py) and the explicit command table (bridge/cli/__init__.py) make that so;
these tests keep it that way.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Top-level modules that must not be imported before a command needs a model.
HEAVY = {"torch", "torchaudio", "diffusers", "transformers", "accelerate", "onnx", "onnxruntime", "numpy", "scipy"}
# Generous: CI machines are shared. The measured time is printed (pytest -s, or -rP shows it).
WALL_LIMIT_S = 2.0


def _imported_modules(importtime_log: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name)
    return names


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["--help"], 0), (["generate", "--help"], 0), (["generate", "x", "--duration", "-1"], 2)],
    ids=["help", "generate-help", "refused-argument"],
)
def test_cli_answers_without_heavy_imports(argv: list[str], status: int, tmp_path: Path) -> None:
    cmd = [sys.executable, "-X", "importtime", "-m", "audioldm_daw.bridge.cli", *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    wall = time.perf_counter() - t0
    print(f"audioldm-daw {' '.join(argv)}: {wall:.2f} s (with -X importtime)")
    assert proc.returncode == status, proc.stderr[-2000:]
    modules = _imported_modules(proc.stderr)
    assert "audioldm_daw.engine.errors" in modules  # the log was read (main imports it)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"imported before any command ran: {heavy[:20]}"
    assert wall < WALL_LIMIT_S, f"{wall:.2f} s"


def test_building_the_parser_leaves_heavy_modules_unimported(tmp_path: Path) -> None:
    """The same through ``sys.modules``: ``-X importtime`` does not log modules imported by importlib calls."""
    code = (
        "import sys\n"
        "from audioldm_daw.bridge.cli import build_parser\n"
        "build_parser().parse_args(['generate', 'a prompt', '--seed', '1'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def _lazy_table(package: str) -> dict[str, str]:
    return importlib.import_module(package)._LAZY


def _type_checking_imports(init: Path) -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in a package's __init__.py."""
    found: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                for alias in imp.names:
                    found[alias.asname or alias.name] = imp.module
    return found


@pytest.mark.parametrize(("package", "folder"), [("audioldm_daw.engine", "engine"), ("audioldm_daw.export", "export")])
def test_every_lazy_name_resolves_and_is_listed(package: str, folder: str) -> None:
    mod: ModuleType = importlib.import_module(package)
    table = _lazy_table(package)
    assert sorted(mod.__all__) == sorted(table)
    assert set(table) <= set(dir(mod))
    # The static block for type checkers names the same things from the same modules.
    assert _type_checking_imports(ROOT / folder / "__init__.py") == table
    for name, module in table.items():
        value = getattr(mod, name)
        assert value is getattr(importlib.import_module(module), name), name
        exec(f"from {package} import {name}", {})  # the form users write
    with pytest.raises(AttributeError):
        _ = mod.no_such_name


def test_every_registered_command_imports_and_builds_its_parser() -> None:
    from audioldm_daw.bridge.cli import SUBCOMMANDS, build_parser, load_command

    for name in SUBCOMMANDS:
        cmd = load_command(name)  # an ImportError here names the broken module
        assert isinstance(cmd.HELP, str) and cmd.HELP, name
        assert callable(cmd.configure) and callable(cmd.run), name
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(SUBCOMMANDS)


def test_train_preset_names_match_the_architectures() -> None:
    from audioldm_daw.bridge.cli.train import DEFAULT_PRESET, PRESET_NAMES
    from audioldm_daw.engine.architecture import PRESETS

    assert set(PRESET_NAMES) == set(PRESETS)
    assert DEFAULT_PRESET in PRESETS
