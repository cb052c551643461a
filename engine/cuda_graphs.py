"""CUDA graphs by shape: capture a fixed tensor program once, replay it for every later call of that shape.

A 10.24 s clip at 200 steps launches some 200,000 small kernels; a graph replays each step's with one launch,
which is where a small UNet's time goes on a fast GPU. The engine keeps two caches of these (the denoising
step and the decode stage), each bounded, most recently used kept, and each sharing one memory pool among
its graphs: only one graph of a cache runs at a time (one generation at a time per engine), so their
intermediate buffers can share memory while every graph's own inputs and outputs stay allocated.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")


class CaptureError(RuntimeError):
    """A program could not be captured (an operation that CUDA graphs do not allow): run it uncaptured."""


def capture(run: Callable[[], object], device: torch.device, reset: Callable[[], object], pool: Any) -> Any:
    """A CUDA graph of ``run`` (which reads and writes buffers allocated before this call).

    ``run`` first goes twice on a side stream, as the capture rules ask (lazy initialisation of cuBLAS and
    cuDNN, a compiled UNet's first call); ``reset`` then puts the buffers back before the capture. Only this
    thread is held to the capture's rules: the server's other threads (input checks, audition) go on."""
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


class GraphCache(Generic[T]):
    """Captured programs by key, at most ``capacity`` of them, the least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._pool: Any = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pool(self) -> Any:
        """The memory pool this cache's graphs share (made on first use: it needs a CUDA context)."""
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        return self._pool

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        item = self._items.get(key)
        if item is None:
            item = make()
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        self._items.move_to_end(key)
        return item
