"""The built wheel, installed into a clean virtual environment, does the main job with nothing but what pip brings.

Builds the wheel, makes a fresh venv, installs the wheel there, and from that venv (run outside the
checkout, so nothing is imported from it) runs ``generate`` with no ``--model`` in an empty folder (the bundled
model, carried by the wheel as package data, byte for byte the checkout's), builds a random tiny model, runs
``generate`` on it, and runs ``serve`` with a ``send`` round trip. PortAudio is made unavailable the way a machine
without ``libportaudio2`` lacks it (``import sounddevice`` raises OSError), so the main job is shown not to need it.

Two ways to get the dependencies into the clean venv:
- default: the third-party packages already installed in this checkout's .venv are linked in (a .pth file
  to a folder of symlinks), the wheel is installed with ``--no-deps``, and ``pip check`` proves every
  declared dependency is satisfied. No download; about a minute.
- ``AUDIOLDM_DAW_WHEEL_TEST=full``: ``pip install`` of the wheel from PyPI, dependencies and all at
  constraints.txt's versions, as a user on macOS or Windows would (several GB with torch; for CI with a network
  and a pip cache).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from audioldm_daw.engine.model import content_hash
from tests.osc_helpers import free_udp_port, serve_env

ROOT = Path(__file__).resolve().parent.parent
MODE = os.environ.get("AUDIOLDM_DAW_WHEEL_TEST", "reuse")
OWN = (
    "audioldm_daw",
    "audioldm-daw",
    "__editable__",
    "_audioldm_daw",
    "pip",
    "_distutils_hack",
    "distutils-precedence",
)


def sh(cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _link_dependencies(clean: Path, farm: Path) -> None:
    """The checkout's installed third-party packages, visible (read-only) in the clean venv."""
    here = Path(sysconfig.get_paths()["purelib"])
    farm.mkdir()
    for entry in here.iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth" or entry.name == "__pycache__":
            continue
        (farm / entry.name).symlink_to(entry)
    purelib = sh([str(clean / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    (Path(purelib.stdout.strip()) / "_checkout_deps.pth").write_text(str(farm) + "\n")


@pytest.mark.skipif(sys.platform == "win32", reason="the venv layout below is the POSIX one")
def test_wheel_in_a_clean_venv_generates_and_serves(tmp_path: Path, checkout_build_lock: Any) -> None:
    t0 = time.perf_counter()
    dist = tmp_path / "dist"
    # the sdist, then the wheel built from it: what the sdist carries is what a user's pip builds from
    with checkout_build_lock:  # the sdist is written from the checkout, as another test's wheel is
        sh([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    [wheel] = dist.glob("audioldm_daw-*.whl")
    [sdist] = dist.glob("audioldm_daw-*.tar.gz")
    bundled = ROOT / "models" / "audioldm-daw-mini"
    with tarfile.open(sdist) as tar:
        assert f"{sdist.name.removesuffix('.tar.gz')}/models/audioldm-daw-mini/knows.json" in tar.getnames()
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (p for p in bundled.rglob("*") if p.is_file()):  # every file of the model, its card and knows.json too
        assert f"audioldm_daw/models/audioldm-daw-mini/{f.relative_to(bundled)}" in names, f
    assert not any("audioldm-daw-mini-eval" in n for n in names)  # the evaluation's inputs stay in the checkout
    assert {"LICENSE", "NOTICE"} <= {n.rsplit("/", 1)[-1] for n in names if ".dist-info/licenses/" in n}
    clean = tmp_path / "clean"
    sh([sys.executable, "-m", "venv", str(clean)])
    pip = [str(clean / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    if MODE == "full":
        sh([*pip, "install", str(wheel), "-c", str(ROOT / "constraints.txt")], timeout=3600)  # as the README says
    else:
        _link_dependencies(clean, tmp_path / "deps")
        sh([*pip, "install", "--no-deps", "--no-index", str(wheel)])
        sh([*pip, "check"])  # every dependency the wheel declares is there, at a version it accepts
    t_install = time.perf_counter() - t0

    work = tmp_path / "work"
    work.mkdir()
    shim = tmp_path / "no-portaudio"
    shim.mkdir()
    (shim / "sounddevice.py").write_text('raise OSError("PortAudio library not found")\n')
    env = serve_env(PYTHONPATH=str(shim), AUDIOLDM_DAW_CLIPS=str(work / "clips"))
    exe = str(clean / "bin" / "audioldm-daw")

    where = sh([str(clean / "bin" / "python"), "-c", "import audioldm_daw; print(audioldm_daw.__file__)"], cwd=work)
    assert where.stdout.strip().startswith(str(clean)), where.stdout

    # The README's first command, with no --model, in an empty folder: the wheel's own bundled model.
    default_env = {k: v for k, v in env.items() if k != "AUDIOLDM_DAW_MODEL"}
    empty = tmp_path / "empty"
    empty.mkdir()
    r = sh([exe, "generate", "a piano plays a slow melody", "--steps", "3", "--duration", "1", "--json"],
           cwd=empty, env=default_env)  # fmt: skip
    clip = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(clip["path"]).is_file() and clip["seconds"] == 1.0 and clip["model"] == "audioldm-daw-mini"
    sidecar = json.loads(Path(clip["sidecar"]).read_text())
    assert sidecar["model"]["path"].startswith(str(clean)), sidecar["model"]  # installed, not the checkout's
    assert sidecar["model"]["hash"] == content_hash(bundled)  # the very same files
    assert clip["warnings"] == []  # a piano is one of the kinds it knows
    r = sh(
        [exe, "generate", "a dog barking", "--steps", "2", "--duration", "0.5", "--json"], cwd=empty, env=default_env
    )
    assert "is far from all of them" in json.loads(r.stdout.strip().splitlines()[-1])["warnings"][0]
    sh([exe, "build-random-model", str(work / "tiny"), "--preset", "tiny"], cwd=work, env=env)
    r = sh(
        [exe, "generate", "warm pad", "--model", "tiny", "--steps", "2", "--duration", "0.5", "--json"],
        cwd=work,
        env=env,
    )
    clip = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(clip["path"]).is_file() and clip["seconds"] == 0.5
    assert "loading model tiny" in r.stderr and "done in" in r.stderr

    port = free_udp_port()
    cmd = [exe, "serve", "--model", "tiny", "--device", "cpu", "--port", str(port), "--reply-port", "9"]
    server = subprocess.Popen(
        [*cmd, "--clips", str(work / "served"), "--no-audition"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in server.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("listening on udp://"):
                break
        else:
            raise AssertionError("serve did not start:\n" + "".join(lines[-40:]))
        r = sh(
            [exe, "send", "generate", "a kick", "--port", str(port), "--steps", "2", "--duration", "0.5", "--json"],
            cwd=work,
            env=env,
            timeout=120,
        )
        sent = json.loads(r.stdout)
        assert Path(sent["path"]).parent == (work / "served").resolve() and Path(sent["sidecar"]).is_file()
    finally:
        server.terminate()
        server.wait(60)
    print(f"wheel test ({MODE}): install {t_install:.1f} s, total {time.perf_counter() - t0:.1f} s")
