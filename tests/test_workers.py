"""How the suite spreads over pytest-xdist workers (conftest.py): a module whose fixture takes minutes runs whole on
one worker, so the fixture is built once; the other tests go to whichever worker is free.

Checked with a real ``pytest -n 2`` on a throwaway suite that uses this suite's conftest.py, since what matters is
what xdist does with it: its own way of grouping tests (``--dist loadgroup``) is silently ignored under pytest 9.2.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("module", "workers"), [("test_train_bundled.py", 1), ("test_convert.py", 1), ("test_engine.py", 2)]
)
def test_a_slow_fixture_module_runs_whole_on_one_worker(tmp_path: Path, module: str, workers: int) -> None:
    """Eight tests of one module on two workers: one worker for a module of conftest.ONE_WORKER_MODULES, both for
    any other (each test is a unit of its own, and each worker starts with one)."""
    pytest.importorskip("xdist")
    suite = tmp_path / "tests"
    suite.mkdir()
    shutil.copy(TESTS / "conftest.py", suite / "conftest.py")
    body = (
        "import time\nimport pytest\n\n\n@pytest.mark.parametrize('i', range(8))\ndef test_t(i):\n    time.sleep(0.1)\n"
    )
    (suite / module).write_text(body)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ran = re.findall(rf"^\[(gw\d)\] .*PASSED tests/{re.escape(module)}::", r.stdout, re.MULTILINE)
    assert len(ran) == 8, r.stdout[-3000:]
    assert len(set(ran)) == workers, ran


def test_the_one_worker_modules_are_this_suites() -> None:
    """A renamed module would silently lose the rule (its fixture built on every worker again)."""
    from tests.conftest import ONE_WORKER_MODULES

    assert ONE_WORKER_MODULES and all((TESTS.parent / m).is_file() for m in ONE_WORKER_MODULES), ONE_WORKER_MODULES


def test_the_fast_lane_selects_each_listed_test_and_nothing_else() -> None:
    """``scripts/test.sh --fast`` (``-m fast``): every test conftest lists is collected (a renamed one would silently
    leave the lane), every listed module gives tests, and no test outside the lists is marked."""
    from tests.conftest import FAST_MODULES, FAST_TESTS

    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "fast", "-p", "no:cacheprovider", "tests"],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ids = [line for line in r.stdout.splitlines() if "::" in line]
    modules = {i.partition("::")[0] for i in ids}
    assert modules >= FAST_MODULES, FAST_MODULES - modules
    bases = {i.partition("[")[0] for i in ids}
    assert bases >= FAST_TESTS, FAST_TESTS - bases
    strays = [i for i in ids if i.partition("::")[0] not in FAST_MODULES and i.partition("[")[0] not in FAST_TESTS]
    assert not strays, strays
