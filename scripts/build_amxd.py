#!/usr/bin/env python3
"""Build the Max for Live device ``max_patch/device/AudioLDM.amxd`` from its source patch ``AudioLDM.maxpat``.

An unfrozen ``.amxd`` is a small binary header followed by the patcher JSON (the layout public devices use):

    b"ampf" u32le 4 b"aaaa"      container, then the device type: aaaa audio effect, mmmm MIDI, iiii instrument
    b"meta" u32le 4 u32le 1      a 4-byte meta block (1 in unfrozen public devices)
    b"ptch" u32le N              N bytes of patcher JSON, UTF-8, ending in a newline and a NUL byte

The device JSON also carries a ``project`` block whose ``amxdtype`` is the device type read as a
little-endian integer. The JavaScript the device loads (``audioldm_node.js``, ``audioldm_core.js``,
``audioldm_live.js``) stays beside the ``.amxd``: Max finds files in the device's own folder.

    python scripts/build_amxd.py            # write the .amxd
    python scripts/build_amxd.py --check    # exit 1 if the .amxd is not what the source builds (CI)
    python scripts/build_amxd.py --package DIR   # also lay out a Max package (patchers/, javascript/) in DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_DIR = ROOT / "max_patch" / "device"
SOURCE = DEVICE_DIR / "AudioLDM.maxpat"
TARGET = DEVICE_DIR / "AudioLDM.amxd"
SCRIPTS = ("audioldm_node.js", "audioldm_core.js", "audioldm_live.js")
TYPES = {"audio": b"aaaa", "midi": b"mmmm", "instrument": b"iiii"}
PROJECT_DATE = 3900000000  # fixed (seconds since 1904, Max's epoch), so a build is reproducible


def project_block(device_type: bytes) -> dict:
    return {
        "version": 1,
        "creationdate": PROJECT_DATE,
        "modificationdate": PROJECT_DATE,
        "viewrect": [0.0, 0.0, 300.0, 500.0],
        "autoorganize": 1,
        "hideprojectwindow": 1,
        "showdependencies": 1,
        "autolocalize": 0,
        "contents": {"patchers": {}, "code": {}},
        "layout": {},
        "searchpath": {},
        "detailsvisible": 0,
        "amxdtype": struct.unpack("<I", device_type)[0],
        "readonly": 0,
        "devpathtype": 0,
        "devpath": ".",
        "sortmode": 0,
        "viewmode": 0,
        "includepackages": 0,
    }


def build(source: Path = SOURCE, device_type: bytes = TYPES["audio"]) -> bytes:
    """The bytes of the .amxd for a source patch."""
    patch = json.loads(source.read_text(encoding="utf-8"))
    patch["patcher"]["project"] = project_block(device_type)
    body = (json.dumps(patch, indent="\t", ensure_ascii=False) + "\n").encode("utf-8") + b"\0"
    head = b"ampf" + struct.pack("<I", 4) + device_type + b"meta" + struct.pack("<II", 4, 1)
    return head + b"ptch" + struct.pack("<I", len(body)) + body


def unpack(data: bytes) -> tuple[bytes, dict]:
    """(device type, patcher JSON) of an unfrozen .amxd; raises ValueError for anything else."""
    if data[:4] != b"ampf" or data[12:16] != b"meta":
        raise ValueError("not an .amxd (no ampf/meta header)")
    device_type = data[8:12]
    meta_len = struct.unpack_from("<I", data, 16)[0]
    at = 20 + meta_len
    if data[at : at + 4] != b"ptch":
        raise ValueError("no ptch chunk (a frozen device?)")
    n = struct.unpack_from("<I", data, at + 4)[0]
    body = data[at + 8 : at + 8 + n]
    if len(body) != n or not body.endswith(b"\0"):
        raise ValueError("ptch chunk is truncated or not NUL-terminated")
    return device_type, json.loads(body[:-1].decode("utf-8"))


def lay_out_package(dest: Path) -> Path:
    """A Max package folder: Max lists it under Packages when it is in Documents/Max 9/Packages."""
    pkg = dest / "audioldm-daw"
    for sub in ("patchers", "javascript", "docs"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
    for name in ("audioldm.maxpat", "audioldm.pd"):
        shutil.copy2(ROOT / "max_patch" / name, pkg / "patchers" / name)
    shutil.copy2(SOURCE, pkg / "patchers" / SOURCE.name)
    shutil.copy2(TARGET, pkg / "patchers" / TARGET.name)
    for name in SCRIPTS:
        shutil.copy2(DEVICE_DIR / name, pkg / "javascript" / name)
    shutil.copy2(ROOT / "max_patch" / "README.md", pkg / "docs" / "README.md")
    info = {"name": "audioldm-daw", "displayname": "AudioLDM DAW", "author": "audioldm-daw", "version": "0.3",
            "description": "OSC clients of the local AudioLDM engine: Max patch, Max for Live device"}  # fmt: skip
    (pkg / "package-info.json").write_text(json.dumps(info, indent=1) + "\n")
    return pkg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail if the .amxd differs from what the source builds")
    p.add_argument("--package", type=Path, help="also lay out a Max package in this folder")
    args = p.parse_args(argv)
    data = build()
    if args.check:
        if not TARGET.is_file() or TARGET.read_bytes() != data:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/build_amxd.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_bytes(data)
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(data)} bytes)")
    if args.package:
        print(f"laid out {lay_out_package(args.package)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
