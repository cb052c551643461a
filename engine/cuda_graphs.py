"""CUDA graphs by shape: capture a fixed tensor program once, replay it for every later call of that shape.

A 10.24 s clip at 200 steps launches some 200,000 small kernels; a graph replays each step's with one launch,
which is where a small UNet's time goes on a fast GPU. The engine keeps two caches of these (the denoising
step and the decode stage), each bounded, most recently used kept, and each sharing one memory pool among
its graphs: only one graph of a cache runs at a time (one generation at a time per engine), so their
intermediate buffers can share memory while every graph's own inputs and outputs stay allocated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")


class CaptureError(RuntimeError):
    """A program could not be captured (an operation that CUDA graphs do not allow): run it uncaptured."""


class CaptureBusy(CaptureError):
    """Not now: a compilation runs on the GPU (engine/compilation.py). Run this one call uncaptured and try
    again next time, rather than give up graphs as a real :class:`CaptureError` makes the engine do."""


#: Held by each capture, and by a background compilation while it first runs new code on the GPU: the two
#: never overlap, whatever a compiler's first run does (load kernels, allocate, synchronise the device).
CAPTURE_LOCK = threading.Lock()


def capture(run: Callable[[], object], device: torch.device, reset: Callable[[], object], pool: Any) -> Any:
    """A CUDA graph of ``run`` (which reads and writes buffers allocated before this call).

    ``run`` first goes twice on a side stream, as the capture rules ask (lazy initialisation of cuBLAS and
    cuDNN, a compiled UNet's first call); ``reset`` then puts the buffers back before the capture. Only this
    thread is held to the capture's rules: the server's other threads (input checks, audition) go on.
    Raises :class:`CaptureBusy` at once, without waiting, while a compilation holds :data:`CAPTURE_LOCK`."""
    if not CAPTURE_LOCK.acquire(blocking=False):
        raise CaptureBusy("a compilation is running on the GPU")
    try:
        return _capture(run, device, reset, pool)
    finally:
        CAPTURE_LOCK.release()


def _capture(run: Callable[[], object], device: torch.device, reset: Callable[[], object], pool: Any) -> Any:
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(2):
            reset()
            run()
    torch.cuda.current_stream(device).wait_stream(side)
    reset()
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
            run()
    except RuntimeError as exc:
        raise CaptureError(f"CUDA graph capture failed ({exc})") from exc
    return graph


def program_key(fn: object) -> Hashable:
    """What makes two callables the same captured program: a wrapper's ``cache_key`` (the circular UNet of a
    looping clip, made anew per request around the same UNet), else the object itself."""
    key = getattr(fn, "cache_key", None)
    return key if key is not None else ("object", id(fn))


def program_version(fn: object) -> int:
    """How many times ``fn``'s code has changed under the same key (a compiled module switching shapes to
    compiled code, engine/compilation.py): a graph captured at an older version is captured again."""
    return int(getattr(fn, "version", 0))


class GraphCache(Generic[T]):
    """Captured programs by key, at most ``capacity`` of them, the least recently used dropped first.

    Each is kept with the :func:`program_version` it was captured at; a newer version is captured in its
    place, and until that capture can be made (:class:`CaptureBusy`) the older graph goes on serving: it
    replays the same weights, only through the code of before."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, tuple[int, T]] = OrderedDict()
        self._pool: Any = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pool(self) -> Any:
        """The memory pool this cache's graphs share (made on first use: it needs a CUDA context)."""
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        return self._pool

    def versions(self) -> list[int]:
        """The program version each held graph was captured at, least recently used first."""
        return [version for version, _ in self._items.values()]

    def get(self, key: Hashable, make: Callable[[], T], version: int = 0) -> T:
        """The program for ``key`` captured at ``version``, made with ``make()`` when there is none."""
        held = self._items.get(key)
        if held is not None and held[0] == version:
            self._items.move_to_end(key)
            return held[1]
        try:
            item = make()
        except CaptureBusy:
            if held is None:
                raise
            self._items.move_to_end(key)
            return held[1]
        self._items[key] = (version, item)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return item
