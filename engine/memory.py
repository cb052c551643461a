"""The C heap between jobs: an engine serves a whole session, so what one long edit needed must not stay held.

torch and numpy free a render's work (a UNet pass, a decode, a take's window) when it ends, but glibc's
allocator keeps freed pages in its arenas, and after the first large block is freed it raises its own mmap
threshold, so later large tensors are carved out of the heap and fragment it: a long window's UNet pass then
leaves the process about twice as large as the pass itself needed (measured in docs/benchmarks.md, "Edits of
long takes"). Both settings are glibc's; elsewhere (macOS, Windows, musl) these functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

LARGE_BLOCK_BYTES = 4 * 2**20  # blocks from here up get their own mapping, returned to the system when freed
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)
_LIBC: Any = None  # glibc once looked up; False where there is none


def _glibc() -> Any:
    global _LIBC
    if _LIBC is None:
        _LIBC = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.malloc_trim  # noqa: B018 - glibc has it; musl does not
                libc.mallopt  # noqa: B018
                _LIBC = libc
            except (OSError, AttributeError):
                pass
    return _LIBC


def keep_large_blocks_apart() -> None:
    """Give every block of :data:`LARGE_BLOCK_BYTES` or more its own mapping (a fixed mmap threshold), so that
    freeing it returns it at once instead of leaving a hole in the heap. Process-wide; called at model load."""
    libc = _glibc()
    if libc:
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


def give_back_freed_memory() -> None:
    """Return the heap's freed pages to the system (``malloc_trim``): called after each job."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
