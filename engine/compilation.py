"""``torch.compile`` as the engine uses it: one compilation per input shape, made where the caller waits or in
the background while the plain module serves, and inductor's cache where a reboot keeps it.

Compiling fuses the many small kernels of a UNet step or of the decode stage (normalisations, activations,
residual adds) and, under CUDA graphs, leaves little but the matrix and convolution kernels (what it gains on a
GPU: docs/benchmarks.md). But each new shape compiles once, for a long time on a full-size UNet, which a server
cannot spend before it says it is ready, nor on the request that first asks for a new clip
length. :class:`ShapeCompiled` therefore compiles each shape the first time it is seen, and in the background
mode does so on its own thread while the callers of that shape go on with the plain module; the shape switches
to the compiled code once it is built (the engine then captures its CUDA graphs again, :attr:`ShapeCompiled.version`
telling them the code changed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch

from audioldm_daw.engine.cuda_graphs import CAPTURE_LOCK

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])

#: Shapes compiled per module at most (dynamo keeps one entry per shape, up to its recompile limit, set to at
#: least this): a session uses a handful of clip lengths, and the graph caches keep 8 of them.
MAX_SHAPES = 6
#: Failed compilations after which no new shape is tried: a machine without a working compiler (no Triton for
#: this GPU, no C++ compiler) fails every shape alike, and each try costs the caller seconds.
MAX_FAILURES = 2


def compiled(fn: F) -> F:
    """``torch.compile(fn)`` for fixed shapes (one compilation per latent length, as the graphs are kept), with
    inductor's cache in the user's cache folder: its default lives in the temporary folder, which a reboot
    empties, and a restart should reuse what an earlier run compiled."""
    from platformdirs import user_cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(user_cache_dir("audioldm-daw")) / "inductor"))
    import torch._dynamo

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, MAX_SHAPES + 2)
    return torch.compile(fn, dynamic=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class TensorSpec:
    """What dynamo's guards read of a tensor argument (so an example built from it compiles the same entry)."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: str
    requires_grad: bool
    inference: bool

    @classmethod
    def of(cls, t: torch.Tensor) -> TensorSpec:
        return cls(tuple(t.shape), tuple(t.stride()), t.dtype, str(t.device), t.requires_grad, t.is_inference())

    def example(self) -> torch.Tensor:
        """A tensor of this spec, zeros: values do not matter to a compilation, and drawing random ones would move
        the global generators under the callers (whose clips use seeded generators of their own anyway)."""
        with torch.inference_mode(self.inference):
            t = torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=self.device).zero_()
        return t.requires_grad_(self.requires_grad) if self.requires_grad else t


def _spec(value: object) -> Hashable:
    if isinstance(value, torch.Tensor):
        return TensorSpec.of(value)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_spec(v) for v in value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return ("value", value)
    raise TypeError(f"no compile key for an argument of type {type(value).__name__}")


def _example(spec: Hashable) -> object:
    if isinstance(spec, TensorSpec):
        return spec.example()
    kind, value = cast(tuple[str, Any], spec)
    if kind == "value":
        return value
    items = [_example(v) for v in value]
    return tuple(items) if kind == "tuple" else items


@dataclass(frozen=True)
class CallKey:
    """One call's shapes and the modes dynamo guards on: one compiled entry serves every call with this key."""

    args: tuple[Hashable, ...]
    kwargs: tuple[tuple[str, Hashable], ...]
    grad: bool

    @classmethod
    def of(cls, args: tuple[object, ...], kwargs: dict[str, object]) -> CallKey:
        return cls(
            tuple(_spec(a) for a in args),
            tuple(sorted((k, _spec(v)) for k, v in kwargs.items())),
            torch.is_grad_enabled(),
        )

    def label(self) -> str:
        """The first tensor's shape and dtype, which is what tells two clip lengths apart."""
        first = next((s for s in self.args if isinstance(s, TensorSpec)), None)
        if first is None:
            return "no tensor input"
        return f"{tuple(first.shape)} {str(first.dtype).replace('torch.', '')}"

    def call(self, fn: Callable[..., object]) -> None:
        """Run ``fn`` once on example inputs of this key, under the same grad mode (this compiles it)."""
        args = [_example(a) for a in self.args]
        kwargs = {k: _example(v) for k, v in self.kwargs}
        with torch.set_grad_enabled(self.grad):
            fn(*args, **kwargs)


class ShapeCompiled:
    """``fn`` (a module or a function) with a ``torch.compile``-d twin that each input shape switches to once it
    is compiled for that shape.

    ``background=False``: a new shape compiles in the calling thread, on its first call (the one-shot CLI, the
    benchmarks). ``background=True``: a new shape's calls run ``fn`` itself, and the shape is queued for a
    compile thread (one per process, one shape at a time) once :meth:`start` is called (the engine does so
    after its first clip, so that compiling never holds up the graph captures of the warm-up). A failed
    compilation leaves that shape on ``fn`` with a warning; at most ``limit`` shapes are compiled. Attribute
    reads go to ``fn`` (a UNet's ``config``, ``dtype``), so the engine can hold this where it held the module.

    ``on_event(line)`` hears each shape compiled or failed, in words (the server prints them).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        background: bool,
        limit: int = MAX_SHAPES,
        compile_fn: Callable[[Callable[..., Any]], Callable[..., Any]] = compiled,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.plain = fn
        self._compile_fn = compile_fn
        # A server's start does not pay for importing dynamo and inductor (seconds): in the background mode the
        # compiled twin is made on the compile thread, with the first shape it compiles.
        self._fast: Callable[..., Any] | None = None if background else compile_fn(fn)
        self.name = name
        self.background = background
        self.limit = limit
        self.on_event = on_event
        self.version = 0  # counts shapes switched to compiled code: CUDA graphs of an older version are re-captured
        self.ready: dict[CallKey, float] = {}  # compiled shapes, with the seconds each took
        self.failed: dict[CallKey, str] = {}
        self._queued: set[CallKey] = set()  # queued or compiling (background mode)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._held: list[CallKey] = []  # queued before start()
        self._started = False

    def __getattr__(self, attr: str) -> Any:
        if attr in ("plain", "_fast"):  # not set yet (during unpickling or a failed __init__): no recursion
            raise AttributeError(attr)
        return getattr(self.plain, attr)

    @property
    def fast(self) -> Callable[..., Any]:
        """The ``torch.compile``-d twin (made on first use in the background mode: see ``__init__``)."""
        if self._fast is None:
            with self._lock:
                if self._fast is None:
                    self._fast = self._compile_fn(self.plain)
        return self._fast

    # -- calls -------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = CallKey.of(args, kwargs)
        if key in self.ready:
            return self.fast(*args, **kwargs)
        if (
            key in self.failed
            or key in self._queued
            or len(self.ready) + len(self._queued) >= self.limit
            or len(self.failed) >= MAX_FAILURES
        ):
            return self.plain(*args, **kwargs)
        if not self.background:
            return self._compile_here(key, args, kwargs)
        if not _capturing():  # a key is taken from a call outside a capture (the capture's warm-up runs)
            self._enqueue(key)
        return self.plain(*args, **kwargs)

    def _compile_here(self, key: CallKey, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ok, out = self._attempt(key, lambda: self.fast(*args, **kwargs))
        return out if ok else self.plain(*args, **kwargs)

    def _attempt(self, key: CallKey, first_call: Callable[[], Any]) -> tuple[bool, Any]:
        """The compiled twin's first call for ``key`` (which compiles it), recorded as compiled, with its
        seconds, or as failed: (whether it compiled, what the call returned)."""
        t0 = time.perf_counter()
        try:
            out = first_call()
        except Exception as exc:  # inductor or a backend compiler failing: the plain module still works
            self._failed(key, exc)
            return False, None
        self._compiled(key, time.perf_counter() - t0)
        return True, out

    # -- the background thread ---------------------------------------------------------------------
    def _enqueue(self, key: CallKey) -> None:
        with self._lock:
            if key in self._queued or key in self.ready or key in self.failed:
                return
            self._queued.add(key)
            if not self._started:
                self._held.append(key)
                return
        _WORKER.put(self, key)

    def start(self) -> None:
        """Hand what is queued, and what later calls queue, to the compile thread (background mode;
        idempotent)."""
        with self._lock:
            if not self.background or self._started:
                return
            self._started = True
            held, self._held = self._held, []
        for key in held:
            _WORKER.put(self, key)

    def compile_now(self, key: CallKey) -> None:
        """Compile ``key`` on example inputs (on the compile thread: this takes a minute for a real UNet)."""

        def first_call() -> None:
            with _quiet_gpu(key):
                key.call(self.fast)

        try:
            self._attempt(key, first_call)
        finally:
            with self._lock:
                self._queued.discard(key)
                self._idle.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or compiling (True), or ``timeout`` seconds pass (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._queued, timeout)

    @property
    def pending(self) -> int:
        """Shapes queued or compiling."""
        return len(self._queued)

    # -- outcomes ----------------------------------------------------------------------------------
    def _compiled(self, key: CallKey, seconds: float) -> None:
        with self._lock:
            self.ready[key] = seconds
            self.version += 1
        self._say(f"compiled the {self.name} for {key.label()} in {seconds:.1f} s")

    def _failed(self, key: CallKey, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        with self._lock:
            self.failed[key] = reason
            last = len(self.failed) == MAX_FAILURES
        then = (
            f"no further shapes are tried (every {self.name} call runs uncompiled)"
            if last
            else "that shape runs uncompiled"
        )
        self._say(f"compiling the {self.name} for {key.label()} failed ({reason}); {then}")

    def _say(self, line: str) -> None:
        log.info("%s", line)
        if self.on_event is not None:
            self.on_event(line)


class _CompileThread:
    """The one thread that compiles, for every :class:`ShapeCompiled` of the process, one shape at a time:
    dynamo's tracing state is not made for two compilations at once, and on a GPU each holds
    :data:`CAPTURE_LOCK` anyway. Started on the first shape handed to it; a daemon, so that a server stopping
    mid-compilation exits."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[ShapeCompiled, CallKey]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, owner: ShapeCompiled, key: CallKey) -> None:
        self._queue.put((owner, key))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True, name="compile")
                self._thread.start()

    def _work(self) -> None:
        _lower_priority()
        while True:
            owner, key = self._queue.get()
            owner.compile_now(key)


_WORKER = _CompileThread()

#: The compile thread's nice value at least (Linux): a background compilation takes minutes of every core it can
#: get, on a machine where a DAW is playing; a DAW's threads of normal priority come first, and its audio threads
#: (real-time scheduled) are not touched either way.
BACKGROUND_NICE = 10


def _lower_priority() -> None:
    """Lower this thread's CPU priority to :data:`BACKGROUND_NICE`, and so that of the compile workers inductor
    starts from it (a child inherits its thread's nice value). Linux only, where a nice value is per thread;
    elsewhere the compilation runs at normal priority."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), BACKGROUND_NICE))
    except OSError as exc:  # a sandbox that forbids it: compile at normal priority
        log.info("compile thread: priority left as is (%s)", exc)


def _capturing() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


@contextlib.contextmanager
def _quiet_gpu(key: CallKey) -> Iterator[None]:
    """On a CUDA device: hold :data:`CAPTURE_LOCK` and run on a stream of this thread's own while compiling, so
    that no CUDA graph capture of the engine's (which then runs that clip uncaptured) overlaps the first run of
    the new code, its kernel loading and the allocations it makes."""
    devices = {s.device for s in (*key.args, *(v for _, v in key.kwargs)) if isinstance(s, TensorSpec)}
    cuda = next((torch.device(d) for d in devices if d.startswith("cuda")), None)
    if cuda is None:
        yield
        return
    with CAPTURE_LOCK, torch.cuda.stream(torch.cuda.Stream(cuda)):
        yield
        torch.cuda.current_stream(cuda).synchronize()
