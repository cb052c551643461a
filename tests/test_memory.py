"""The engine gives memory back between jobs (engine/memory.py): what one long edit needed must not stay held by
a server that runs for a whole session. Measured on this process's resident memory, on glibc only."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only"
)

CHILD = r"""
import ctypes, sys
import numpy as np
from audioldm_daw.engine import memory

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

mode = sys.argv[1]
if mode == "apart":
    memory.keep_large_blocks_apart()
big = np.ones(16 * 2**20 // 8)  # a large block freed first: glibc would raise its mmap threshold to its size
del big
start = rss_mb()
size, count = (64 * 2**10, 3200) if mode == "trim" else (8 * 2**20, 25)  # 200 MB either way
blocks, keep = [], []
for _ in range(count):  # each block followed by a small one that stays: freed blocks leave holes, not a free top
    blocks.append(np.ones(size // 8))
    keep.append(np.ones(512))
held = rss_mb()
del blocks
freed = rss_mb()
memory.give_back_freed_memory() if mode == "trim" else None
print(held - start, freed - start, rss_mb() - start)
"""


def _run(mode: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    held, freed, after = (float(v) for v in out.stdout.split())
    return held, freed, after


@glibc
def test_freed_heap_pages_go_back_after_a_job() -> None:
    held, freed, after = _run("trim")
    assert held > 150, f"the blocks did not take memory ({held:.0f} MB): the test measures nothing"
    assert freed > 100, f"glibc gave the pages back on its own ({freed:.0f} MB left): the test measures nothing"
    assert after < 30, f"{after:.0f} MB still held after give_back_freed_memory (expected under 30)"


@glibc
def test_large_blocks_return_as_soon_as_freed() -> None:
    held, freed, _ = _run("plain")
    assert held > 150 and freed > 100, f"glibc's default kept {freed:.0f} MB: expected it to, or this test is moot"
    held, freed, _ = _run("apart")
    assert held > 150, f"the blocks did not take memory ({held:.0f} MB)"
    assert freed < 30, f"{freed:.0f} MB still held after freeing 8 MB blocks kept apart (expected under 30)"


def test_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    from audioldm_daw.engine import memory

    monkeypatch.setattr(memory, "_LIBC", False)
    memory.keep_large_blocks_apart()
    memory.give_back_freed_memory()  # nothing to call: must not raise
    assert memory._glibc() is False
