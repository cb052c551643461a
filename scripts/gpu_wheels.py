"""The wheels an offline GPU machine lacks, at the versions installed in .venv, and a check that a folder of them
is complete. Used by ``scripts/gpu_wheels.sh``.

    .venv/bin/python scripts/gpu_wheels.py plan                        # NAME==VERSION per line: what to download
    .venv/bin/python scripts/gpu_wheels.py check DIR                   # every Requires-Dist of DIR's wheels is met
    .venv/bin/python scripts/gpu_wheels.py manifest DIR STAMP          # DIR/wheels.json: what gpu_check installs
    .venv/bin/python scripts/gpu_wheels.py ort-pieces DIR WHEEL        # DIR/MANIFEST.json for WHEEL's pieces
    .venv/bin/python scripts/gpu_wheels.py ort-kept VERSION            # exit 0 when .whl-ort holds it, complete

The machine (no internet) has CPython 3.12 with :data:`GPU_HAS` and their own dependencies; the engine also
needs :data:`NEEDED`. Dependencies are read from .venv's installed metadata, with markers evaluated for the
machine (CPython 3.12, Linux x86_64), so the list follows version bumps without editing this file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import re
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

#: What the GPU machine has installed (its own dependencies come with them).
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
)
#: What the engine and its tests need beyond that (pyproject.toml's dependencies the machine lacks).
NEEDED = ("diffusers", "python-osc", "soundfile", "cffi", "pycparser", "platformdirs", "sounddevice")
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


def manifest(folder: Path, stamp: str) -> dict[str, object]:
    """What ``benchmarks/gpu_check.sh`` installs: NEEDED and this project always (at these versions), the rest
    only where the machine lacks the distribution (a second copy on the path would shadow one its own packages
    were installed with)."""
    always = {canonicalize_name(n) for n in (*NEEDED, "audioldm-daw")}
    names = {p.name: _wheel_metadata(p)[0] for p in sorted(folder.glob("*.whl"))}
    return {
        "always": [w for w, n in names.items() if n in always],
        "if_missing": {w: n for w, n in names.items() if n not in always},
        "source_stamp": stamp,
    }


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
    if argv[:1] == ["plan"]:
        print("\n".join(plan()))
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        problems = check(Path(argv[1]))
        for p in problems:
            print(f"gpu_wheels: {p}", file=sys.stderr)
        return 1 if problems else 0
    if argv[:1] == ["manifest"] and len(argv) == 3:
        folder = Path(argv[1])
        (folder / "wheels.json").write_text(json.dumps(manifest(folder, argv[2]), indent=2) + "\n")
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
