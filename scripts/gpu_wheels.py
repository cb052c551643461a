"""The wheels an offline GPU machine lacks, at the versions installed in .venv: which, fetching them, checking that
a folder of them is complete, and installing what the machine lacks there. One list for both jobs that travel to
that machine: the GPU check (``scripts/gpu_wheels.sh`` -> .whl/) and the training run
(``scripts/pack_gpu_training.sh`` -> .gpu-train/whl/).

    .venv/bin/python scripts/gpu_wheels.py plan                        # NAME==VERSION per line: what to download
    .venv/bin/python scripts/gpu_wheels.py gather DIR [--stamp S]      # download them and build this project's
                                                # wheel into DIR, check the set and write DIR/wheels.json
    .venv/bin/python scripts/gpu_wheels.py check DIR                   # every Requires-Dist of DIR's wheels is met
    .venv/bin/python scripts/gpu_wheels.py manifest DIR STAMP          # DIR/wheels.json: what to install
    python3 scripts/gpu_wheels.py install DIR SITE     # on the GPU machine: DIR's wheels that it lacks, into SITE
    .venv/bin/python scripts/gpu_wheels.py download DIR SPEC...        # pip download for the machine's tags
    .venv/bin/python scripts/gpu_wheels.py ort-pieces DIR WHEEL        # DIR/MANIFEST.json for WHEEL's pieces
    .venv/bin/python scripts/gpu_wheels.py ort-kept VERSION            # exit 0 when .whl-ort holds it, complete

The machine (no internet) has CPython 3.12 with :data:`GPU_HAS` and their own dependencies; the engine also needs
:data:`NEEDED` (both jobs take the same set: training leaves python-osc and sounddevice unused, 80 kB). Dependencies
are read from .venv's installed metadata, with markers evaluated for the machine (CPython 3.12, Linux x86_64), so
the list follows version bumps without editing this file. Wheels of packages the machine may already have are
installed there only where it lacks them (``wheels.json``'s ``if_missing``): a second copy on the path would shadow
the one its own packages were installed with.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

#: What the GPU machine has installed (its own dependencies come with them): the packages this project's
#: dependencies touch, from the image's package list as read on 2026-11-17.
GPU_HAS = (
    "torch",
    "torchaudio",
    "transformers",
    "accelerate",
    "safetensors",
    "huggingface-hub",
    "tokenizers",
    "numpy",
    "scipy",
    "onnx",
    "onnxruntime",
    "pytest",
    "pytest-timeout",
    "tqdm",
    "pillow",
    "requests",
    "certifi",
    "charset-normalizer",
    "urllib3",
    "idna",
    "zipp",
    "filelock",
    "regex",
    "pyyaml",
    "packaging",
    "typing-extensions",
    "httpx",
)
#: What the engine needs beyond that (pyproject.toml's dependencies the machine lacks).
NEEDED = ("diffusers", "python-osc", "soundfile", "cffi", "pycparser", "platformdirs", "sounddevice")
#: The machine's wheel tags: CPython 3.12 on manylinux x86_64 (pure-Python wheels match as well).
DOWNLOAD = [
    *("-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"),
    *("--implementation", "cp"),
    *(
        arg
        for tag in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014", "manylinux1")
        for arg in ("--platform", f"{tag}_x86_64")
    ),
]
#: What of the checkout goes into this project's wheel (the files that travel: tracked, or untracked and not
#: ignored).
PROJECT = ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "importroot", "engine", "bridge", "export", "workbench")
ROOT = Path(__file__).resolve().parent.parent
#: Requirements a wheel may leave unmet there, and why that is fine.
OPTIONAL = {"onnxruntime-gpu": "the machine's CPU onnxruntime serves; `gpu_wheels.sh --ort` adds the GPU build"}
#: .venv holds the GPU build of onnxruntime under another distribution name.
ALIASES = {"onnxruntime": "onnxruntime-gpu"}
MACHINE = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}


def _requires(lines: list[str] | None) -> list[Requirement]:
    """The requirements that apply on the machine (no extras)."""
    out = []
    for line in lines or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(MACHINE):
            out.append(req)
    return out


def _dist(name: str) -> md.Distribution:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return md.distribution(ALIASES[name])


def closure(names: tuple[str, ...]) -> set[str]:
    """``names`` and everything they require on the machine, by .venv's installed metadata."""
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = _dist(name)
        except (md.PackageNotFoundError, KeyError):
            continue  # not in .venv: nothing known about its dependencies
        todo += [canonicalize_name(r.name) for r in _requires(dist.requires)]
    return seen


def plan() -> list[str]:
    """NAME==VERSION of NEEDED and of what they require that the machine lacks, at .venv's versions."""
    missing = sorted(closure(NEEDED) - closure(GPU_HAS))
    return [f"{name}=={_dist(name).version}" for name in missing]


def _wheel_metadata(path: Path) -> tuple[str, Version, list[str]]:
    """(name, version, Requires-Dist lines) read from a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        text = zf.read(meta).decode("utf-8")
    headers = text.split("\n\n", 1)[0].splitlines()
    field = {k: v for k, _, v in (h.partition(": ") for h in headers) if k in ("Name", "Version")}
    requires = [h.partition(": ")[2] for h in headers if h.startswith("Requires-Dist: ")]
    return canonicalize_name(field["Name"]), Version(field["Version"]), requires


def check(folder: Path) -> list[str]:
    """Problems with the wheels in ``folder``: two versions of one package, or a requirement neither another
    wheel there nor the machine meets."""
    wheels = {}
    problems = []
    for path in sorted(folder.glob("*.whl")):
        name, version, requires = _wheel_metadata(path)
        if name in wheels:
            problems.append(f"{name}: two wheels ({wheels[name][0]} and {version})")
        wheels[name] = (version, requires)
    machine = closure(GPU_HAS)
    for name, (_, requires) in wheels.items():
        for req in _requires(requires):
            dep = canonicalize_name(req.name)
            if dep in wheels:
                if not req.specifier.contains(wheels[dep][0], prereleases=True):
                    problems.append(f"{name} requires {req}, the wheel here is {dep} {wheels[dep][0]}")
            elif dep not in machine and dep not in OPTIONAL:
                problems.append(f"{name} requires {req}: neither a wheel here nor on the GPU machine")
    return problems


def manifest(folder: Path, stamp: str | None) -> dict[str, object]:
    """What :func:`selection` installs: NEEDED and this project always (at these versions), the rest only where
    the machine lacks the distribution."""
    always = {canonicalize_name(n) for n in (*NEEDED, "audioldm-daw")}
    names = {p.name: _wheel_metadata(p)[0] for p in sorted(folder.glob("*.whl"))}
    return {
        "always": [w for w, n in names.items() if n in always],
        "if_missing": {w: n for w, n in names.items() if n not in always},
        "source_stamp": stamp,
    }


def selection(folder: Path) -> tuple[list[Path], list[str]]:
    """(the wheels of ``folder`` to install on this machine, "NAME VERSION" of those skipped as already here), by
    its ``wheels.json``. Runs on the GPU machine."""
    m = json.loads((folder / "wheels.json").read_text())
    wheels, present = [folder / w for w in m["always"]], []
    for wheel, dist in m["if_missing"].items():
        try:
            present.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            wheels.append(folder / wheel)
    return wheels, present


def install_command(wheels: list[Path], site: Path) -> list[str]:
    """pip installing ``wheels`` offline into ``site`` (a folder put on PYTHONPATH), as the device notes advise."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir"]
    return [*cmd, "--upgrade", "--target", str(site), *map(str, wheels)]


def download(folder: Path, specs: list[str]) -> None:
    """``pip download`` of ``specs`` for the machine's tags into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", *DOWNLOAD, "-d", str(folder), *specs], check=True)


def build_project(folder: Path) -> None:
    """This project's wheel into ``folder``, built from the files of the checkout that travel (not from the
    editable install's build/)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *PROJECT],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for name in filter(None, listed.split("\0")):
            if (ROOT / name).is_file():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, src / name)
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(folder)]
        subprocess.run([*cmd, str(src)], check=True, stdout=subprocess.DEVNULL)


def gather(folder: Path, stamp: str | None) -> list[str]:
    """Fill ``folder`` with what the engine needs on the machine: the planned wheels, this project's, and the
    ``wheels.json`` that says what to install; the problems :func:`check` finds (none when it is complete)."""
    want = plan()
    print(f"gpu_wheels: downloading {' '.join(want)}", flush=True)
    download(folder, want)
    build_project(folder)
    problems = check(folder)
    (folder / "wheels.json").write_text(json.dumps(manifest(folder, stamp), indent=2) + "\n")
    return problems


def ort_pieces(folder: Path, wheel: str) -> dict[str, object]:
    """The onnxruntime-gpu wheel's name, size, sha256 and pieces (``split`` output), for joining it there."""
    data = (folder / wheel).read_bytes()
    return {
        "wheel": wheel,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "pieces": sorted(p.name for p in folder.glob(wheel + ".part*")),
    }


def ort_kept(version: str, folder: Path = Path(".whl-ort")) -> bool:
    """Whether ``folder`` already holds every piece of onnxruntime-gpu ``version`` (no second download)."""
    try:
        m = json.loads((folder / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return False
    same = str(m["wheel"]).startswith(f"onnxruntime_gpu-{version}-")
    return same and all((folder / p).is_file() for p in m["pieces"])


def main(argv: list[str]) -> int:
    stamp = None
    if "--stamp" in argv and argv.index("--stamp") + 1 < len(argv):
        i = argv.index("--stamp")
        stamp, argv = argv[i + 1], argv[:i] + argv[i + 2 :]
    if argv[:1] == ["plan"] and len(argv) == 1:
        print("\n".join(plan()))
        return 0
    if argv[:1] in (["check"], ["gather"]) and len(argv) == 2:
        folder = Path(argv[1])
        problems = gather(folder, stamp) if argv[0] == "gather" else check(folder)
        for p in problems:
            print(f"gpu_wheels: {p}", file=sys.stderr)
        return 1 if problems else 0
    if argv[:1] == ["manifest"] and len(argv) == 3:
        folder = Path(argv[1])
        (folder / "wheels.json").write_text(json.dumps(manifest(folder, argv[2]), indent=2) + "\n")
        return 0
    if argv[:1] == ["install"] and len(argv) == 3:
        wheels, present = selection(Path(argv[1]))
        if present:
            print(f"gpu_wheels: already here, kept: {', '.join(present)}")
        if wheels and subprocess.run(install_command(wheels, Path(argv[2]))).returncode != 0:
            print(f"gpu_wheels: pip could not install the wheels of {argv[1]} (see above)", file=sys.stderr)
            return 1
        print(f"gpu_wheels: installed {len(wheels)} wheels into {argv[2]}")
        return 0
    if argv[:1] == ["download"] and len(argv) >= 3:
        download(Path(argv[1]), argv[2:])
        return 0
    if argv[:1] == ["ort-pieces"] and len(argv) == 3:
        folder = Path(argv[1])
        (folder / "MANIFEST.json").write_text(json.dumps(ort_pieces(folder, argv[2]), indent=2) + "\n")
        return 0
    if argv[:1] == ["ort-kept"] and len(argv) == 2:
        return 0 if ort_kept(argv[1]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
