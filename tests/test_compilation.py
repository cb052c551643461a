"""``--compile``: the UNet and the decode stage through torch.compile give the clip the plain modules give,
compiled where the caller waits (one-shot commands) or in the background while the plain modules serve
(``serve``), one shape at a time, a failure leaving that shape uncompiled.

On the CPU this runs inductor's C++ code generation (g++, which scripts/setup.sh installs); the speed it buys
is a GPU matter, measured by benchmarks/bench_gpu.py (variant ``compiled``, parts ``decode_torch_compiled`` and
``serve_compiled``). The tests of this module share one inductor cache, so the later ones also show a second
compilation of a shape reading what the first one wrote (as a restart of ``serve`` does).

Inductor writes scalar C++ here (``TORCHINDUCTOR_VEC_ISA_OK=0``, set by conftest.py: the reason is there).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.compilation import BACKGROUND_NICE, CallKey, ShapeCompiled
from audioldm_daw.engine.decode import TorchDecoder

#: serve's line when nothing has been met to compile yet (no warm-up: the default off CUDA).
NO_WARM_UP_LINE = "compile: each new clip length compiles in the background after its first clip"
REQ = GenerateRequest("a glassy bell", duration=1.37, steps=2, seed=11, normalize_db=None)


@pytest.fixture(scope="module", autouse=True)
def inductor_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("inductor")  # not the user's cache
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHINDUCTOR_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def plain_audio(tiny_model_dir: Path) -> np.ndarray:
    return Engine.load(tiny_model_dir, device="cpu").generate(REQ).audio


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> bool:
    """Within ``tol`` of the clip's peak (the tiny random models' clips are quiet: an absolute bound says little);
    fp32 compiled against plain differs by about 3e-6 of the peak there, fp16 by 4e-3."""
    return a.shape == b.shape and bool(np.max(np.abs(a - b)) <= tol * float(np.max(np.abs(a))))


def test_compiled_unet_and_decoder_give_the_same_clip(tiny_model_dir: Path, plain_audio: np.ndarray) -> None:
    plain = Engine.load(tiny_model_dir, device="cpu")
    fast = Engine.load(tiny_model_dir, device="cpu", compile_unet=True, compile_decode=True)
    assert isinstance(fast.decoder, TorchDecoder) and fast.decoder.compiled
    assert not isinstance(plain.decoder, TorchDecoder) or not plain.decoder.compiled
    b = fast.generate(REQ).audio
    assert np.isfinite(b).all() and _close(plain_audio, b)
    assert [(c.name, len(c.ready), c.failed) for c in fast.compilers] == [("UNet", 1, {}), ("decoder", 1, {})]


def test_a_compiled_4_level_unet_in_fp16_gives_the_same_clip(tiny4_engine: Engine) -> None:
    """What the 3-level fp32 test above cannot show: a 4-level UNet, whose three downsamplings the latent length
    (35 cells for 1.37 s) does not divide, in half precision, where inductor's fused kernels round in another
    order than the plain modules."""
    folder = tiny4_engine.model.path
    plain = Engine.load(folder, device="cpu", dtype="fp16").generate(REQ).audio
    fast = Engine.load(folder, device="cpu", dtype="fp16", compile_unet=True, compile_decode=True)
    b = fast.generate(REQ).audio
    assert [(c.name, len(c.ready), c.failed) for c in fast.compilers] == [("UNet", 1, {}), ("decoder", 1, {})]
    assert [k.label() for k in fast.compilers[0].ready] == ["(2, 4, 35, 16) float16"]
    assert np.isfinite(b).all() and _close(plain, b, tol=2e-2)


class CountingCalls:
    """A module or function seen through a counter of its direct calls (attribute reads pass through)."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fn, name)


def test_background_compilation_serves_the_plain_modules_then_switches(
    tiny_model_dir: Path, plain_audio: np.ndarray
) -> None:
    """The server's mode: the first clip comes from the plain modules at once (exactly the plain clip), the
    shapes it met compile on the compile thread after it, and the next clip runs only compiled code, the code
    compiled there: its calls from the engine's thread match the compiled entry's guards (the same modes as the
    compile thread's example call), so dynamo never compiles again in the caller (which would take the request a
    minute, or break a CUDA graph capture on a GPU)."""
    from torch._dynamo.utils import counters

    events: list[str] = []
    eng = Engine.load(tiny_model_dir, device="cpu", compile_unet=True, compile_decode=True, compile_in_background=True)
    for c in eng.compilers:
        c.on_event = events.append
    first = eng.generate(REQ).audio
    assert np.array_equal(first, plain_audio)  # the plain modules, untouched
    assert eng.wait_compiled(timeout=900), events
    unet, decoder = eng.compilers
    assert (len(unet.ready), len(decoder.ready), unet.failed, decoder.failed) == (1, 1, {}, {}), events
    assert unet.version == decoder.version == 1 and unet.pending == decoder.pending == 0
    assert sorted(e.split(" for ")[0] for e in events) == ["compiled the UNet", "compiled the decoder"], events
    assert "(2, 4, 69, 32) float32" in " ".join(events)  # guided batch of 2, the shape of a 1.37 s clip
    unet.plain = counted_unet = CountingCalls(unet.plain)
    decoder.plain = counted_decode = CountingCalls(decoder.plain)
    frames = dict(counters["frames"])  # what dynamo has compiled in this process so far
    again = eng.generate(REQ).audio
    assert (counted_unet.calls, counted_decode.calls) == (0, 0)  # both ran their compiled code
    assert dict(counters["frames"]) == frames and frames.get("ok", 0) >= 2, frames  # ... compiled on the thread
    assert _close(plain_audio, again)
    longer = eng.generate(GenerateRequest("a glassy bell", duration=2.0, steps=2, seed=11, normalize_db=None))
    assert counted_unet.calls == 2 and counted_decode.calls == 1  # a new length: plain, and queued
    assert np.isfinite(longer.audio).all()
    assert eng.wait_compiled(timeout=900) and len(unet.ready) == 2


def twin(tag: float, fail: bool = False) -> Any:
    """A stand-in for torch.compile: the 'compiled' function adds ``tag`` (so its answers are told apart)."""

    def compile_fn(fn: Any) -> Any:
        def fast(x: torch.Tensor, **kw: Any) -> torch.Tensor:
            if fail:
                raise RuntimeError("inductor: no C++ compiler\nmore lines")
            return fn(x, **kw) + tag

        return fast

    return compile_fn


def plain_fn(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return x * scale


def test_each_shape_compiles_once_where_first_called_up_to_the_limit() -> None:
    events: list[str] = []
    sc = ShapeCompiled(plain_fn, name="f", background=False, limit=2, compile_fn=twin(100.0), on_event=events.append)
    a, b, c = torch.ones(2, 3), torch.ones(2, 5), torch.ones(4, 5)
    assert float(sc(a)[0, 0]) == 101.0 and float(sc(a)[0, 0]) == 101.0
    assert float(sc(b, scale=2.0)[0, 0]) == 102.0  # another shape (and keyword): compiled too
    assert float(sc(c)[0, 0]) == 1.0  # past the limit: the plain function
    assert len(sc.ready) == 2 and sc.version == 2 and len(events) == 2
    assert events[0].startswith("compiled the f for (2, 3) float32 in ")
    with_grad = CallKey.of((a,), {})
    with torch.no_grad():  # dynamo guards on grad mode: another key (past the limit here)
        assert CallKey.of((a,), {}) != with_grad
        assert float(sc(a)[0, 0]) == 1.0


def test_a_failed_compilation_leaves_that_shape_plain_and_says_why() -> None:
    events: list[str] = []
    sc = ShapeCompiled(plain_fn, name="UNet", background=False, compile_fn=twin(100.0, fail=True))
    sc.on_event = events.append
    x = torch.ones(3)
    assert torch.equal(sc(x), x) and torch.equal(sc(x), x)  # the second call does not try again
    assert len(events) == 1 and not sc.ready and len(sc.failed) == 1
    assert "compiling the UNet for (3,) float32 failed (RuntimeError: inductor: no C++ compiler)" in events[0]
    assert "that shape runs uncompiled" in events[0]
    y, z = torch.ones(4), torch.ones(5)
    assert torch.equal(sc(y), y) and torch.equal(sc(z), z) and torch.equal(sc(z), z)
    assert len(sc.failed) == 2 and len(events) == 2  # two failures: the third shape is not tried
    assert events[1].endswith("no further shapes are tried (every UNet call runs uncompiled)")


def test_background_mode_waits_for_start_then_compiles_on_the_compile_thread() -> None:
    """...at a lowered CPU priority (a DAW shares the machine), while the callers' own stays as it was."""
    threads: list[str] = []
    nice: list[int] = []

    def compile_fn(fn: Any) -> Any:
        def fast(x: torch.Tensor) -> torch.Tensor:
            threads.append(threading.current_thread().name)
            nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return fn(x) + 100.0

        return fast

    made: list[str] = []

    def make(fn: Any) -> Any:  # torch.compile's stand-in: made on the compile thread, not where serve starts
        made.append(threading.current_thread().name)
        return compile_fn(fn)

    sc = ShapeCompiled(plain_fn, name="f", background=True, compile_fn=make)
    x = torch.ones(2, 2)
    assert float(sc(x)[0, 0]) == 1.0 and sc.pending == 1
    time.sleep(0.2)
    assert sc.pending == 1 and not sc.ready and not threads and not made  # nothing compiles before start()
    sc.start()
    assert sc.wait(timeout=30) and len(sc.ready) == 1 and sc.version == 1
    assert threads == ["compile"] and made == ["compile"]  # the example call, on the compile thread
    assert float(sc(x)[0, 0]) == 101.0 and threads == ["compile", "MainThread"]
    assert nice[0] >= BACKGROUND_NICE and nice[1] == os.getpriority(os.PRIO_PROCESS, 0)  # the caller keeps its own
    assert float(sc(torch.ones(3))[0]) == 1.0 and sc.wait(timeout=30) and len(sc.ready) == 2  # started: at once


def test_the_compiled_stand_in_reads_attributes_through(tiny_engine: Engine) -> None:
    unet = tiny_engine.model.unet
    sc = ShapeCompiled(unet, name="UNet", background=True, compile_fn=lambda fn: fn)
    assert sc.config is unet.config and sc.dtype == unet.dtype and sc.plain is unet


def test_compile_option_decodes_in_torch_unless_another_backend_is_named() -> None:
    """``--compile`` with ``--decoder auto`` skips the torch-vs-ONNX measurement (that compares the uncompiled
    torch stage) and decodes in compiled torch; ``--decoder onnx`` named outright still wins."""
    from audioldm_daw.bridge.cli import options

    seen: dict[str, object] = {}

    class FakeEngine:
        @staticmethod
        def load(model: str, **kw: object) -> str:
            seen.update(kw)
            return "engine"

    import audioldm_daw.engine.engine as engine_module

    p = argparse.ArgumentParser()
    options.add_model_options(p)
    mp = pytest.MonkeyPatch()
    mp.setattr(engine_module, "Engine", FakeEngine)
    try:
        options.load_engine(p.parse_args(["--model", "m", "--compile"]))
        assert seen["decoder_factory"] is None and seen["compile_decode"] is True and seen["compile_unet"] is True
        options.load_engine(p.parse_args(["--model", "m", "--compile", "--decoder", "onnx"]))
        assert seen["decoder_factory"] is not None and seen["compile_decode"] is True
        options.load_engine(p.parse_args(["--model", "m"]))
        assert seen["decoder_factory"] is not None and seen["compile_decode"] is False
    finally:
        mp.undo()


def test_serve_compile_is_ready_at_once_and_switches_each_length_when_compiled(
    tiny_model_dir: Path, tmp_path: Path, inductor_cache: Path
) -> None:
    """``serve --compile`` driven by a python-osc client: the first clip of a length comes from the plain
    modules, serve says when that length's UNet and decoder are compiled, and the next clip (from the
    compiled code) is the same clip."""
    import soundfile as sf
    from osc_helpers import Client, Serve, free_udp_port, serve_env

    env = serve_env(TORCHINDUCTOR_CACHE_DIR=str(inductor_cache), OMP_NUM_THREADS="2")
    server = Serve(tiny_model_dir, tmp_path / "clips", free_udp_port(), ["--no-audition", "--compile"], env)
    args = ("a glassy bell", "duration", 1.37, "steps", 2, "seed", 11, "normalize", "off")
    try:
        server.wait_for(lambda lines: NO_WARM_UP_LINE in lines, 60)
        client = Client(server.address)
        try:
            client.send("/audioldm/generate", "first", *args)
            first = client.replies.job("first", timeout=120)[-1]
            assert first[0] == "/audioldm/done", first
            server.wait_for(lambda lines: sum(line.startswith("compile: compiled the ") for line in lines) >= 2, 600)
            client.send("/audioldm/generate", "second", *args)
            second = client.replies.job("second", timeout=120)[-1]
        finally:
            client.close()
    finally:
        code = server.stop()
    assert first[0] == second[0] == "/audioldm/done", (first, second, server.output())
    compiled = [line for line in server.lines if line.startswith("compile: compiled the ")]
    assert [line.split(" for ")[0] for line in compiled] == [
        "compile: compiled the UNet",
        "compile: compiled the decoder",
    ]
    a, b = (sf.read(str(m[1][1]), dtype="float32")[0] for m in (first, second))
    assert _close(a, b) and np.abs(a).max() > 0
    assert code == 0 and not any("failed" in line for line in server.lines if line.startswith("compile:"))


class FakeCompiler:
    def __init__(self, pending: int, seconds: float) -> None:
        self.pending, self.seconds = pending, seconds

    def wait(self) -> None:
        time.sleep(self.seconds)
        self.pending = 0


class FakeEngine:
    def __init__(self, *compilers: FakeCompiler) -> None:
        self.compilers = list(compilers)

    def wait_compiled(self) -> bool:
        for c in self.compilers:
            c.wait()
        return True


def test_compile_wait_holds_ready_and_background_reports_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    from audioldm_daw.bridge.cli.progress import Stopwatch
    from audioldm_daw.bridge.cli.serve import watch_compilation

    watch_compilation(FakeEngine(FakeCompiler(2, 0.2), FakeCompiler(2, 0.1)), Stopwatch(), wait=True)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.startswith("compiled 4 shape(s) before serving, ") and float(out.split(", ")[1].split()[0]) >= 0.3
    watch_compilation(FakeEngine(FakeCompiler(1, 0.3)), Stopwatch(), wait=False)  # type: ignore[arg-type]
    assert capsys.readouterr().out.startswith("compile: 1 shape(s) compiling in the background;")
    said = ""
    deadline = time.monotonic() + 30
    while not said and time.monotonic() < deadline:  # the watching thread's line, once the wait ends
        time.sleep(0.1)
        said = capsys.readouterr().out
    assert said.startswith("compile: the warm-up shapes are compiled, ")
    assert float(said.split(", ")[1].split()[0]) >= 0.3


def test_compile_wait_with_no_compile_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "serve", "--model", str(tmp_path / "none")]
    r = subprocess.run(
        [*cmd, "--no-compile", "--compile-wait", "--port", "0", "--clips", str(tmp_path / "clips")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "--compile-wait waits for --compile's compilation: drop --no-compile or --compile-wait" in r.stderr
    assert "loading model" not in r.stdout, r.stdout


def test_serve_warms_up_then_listens_then_compiles(tiny_model_dir: Path, tmp_path: Path, inductor_cache: Path) -> None:
    """The compile thread holds the GIL for most of each compilation, so it starts once serve listens: the
    warm-up's shapes are queued, the listening line comes first, and nothing compiles before it."""
    from osc_helpers import Serve, free_udp_port, serve_env

    env = serve_env(TORCHINDUCTOR_CACHE_DIR=str(inductor_cache), OMP_NUM_THREADS="2")
    server = Serve(tiny_model_dir, tmp_path / "clips", free_udp_port(), ["--no-audition", "--compile", "--warmup"], env)
    queued_line = (
        "compile: 4 shape(s) compiling in the background; clips of those lengths run uncompiled until each is done"
    )
    try:
        server.wait_for(lambda lines: queued_line in lines, 60)
    finally:
        code = server.stop()
    queued = server.lines.index(queued_line)
    assert code == 0, server.output()  # stopped mid-compilation: the compile thread does not hold the exit up
    listening = next(i for i, line in enumerate(server.lines) if line.startswith("listening on udp://"))
    warmed = next(i for i, line in enumerate(server.lines) if line.startswith("warmed up in "))
    assert warmed < listening < queued, server.output()
    assert not any(line.startswith("compile: compiled the ") for line in server.lines[:listening]), server.output()


@pytest.mark.parametrize(
    ("argv", "device", "triton", "want"),
    [
        ([], "cuda", True, (True, "compile: on, the default with a CUDA GPU (--no-compile turns it off)")),
        ([], "cuda", False, (False, "Triton")),
        ([], "cpu", True, (False, None)),
        ([], "mps", True, (False, None)),
        (["--no-compile"], "cuda", True, (False, None)),
        (["--compile"], "cpu", False, (True, None)),
    ],
)
def test_serve_compiles_by_default_on_a_cuda_gpu_with_triton(
    argv: list[str], device: str, triton: bool, want: tuple[bool, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve's ``--compile`` default: on with a CUDA GPU that torch.compile can generate code for (Triton), off
    elsewhere; what was said wins. The one-shot commands compile only when asked."""
    import importlib.util

    from audioldm_daw.bridge.cli import options
    from audioldm_daw.engine import model as model_module

    p = argparse.ArgumentParser()
    options.add_model_options(p)
    args = p.parse_args(argv)
    monkeypatch.setattr(model_module, "pick_device", lambda d, t: (torch.device(device), torch.float16))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (object() if triton else None) if name == "triton" else real_find_spec(name, *a),
    )
    on, said = options.compile_choice(args, server=True)
    assert on is want[0]
    assert said == want[1] if want[1] is None or want[0] else (said is not None and want[1] in said)
    assert options.compile_choice(args, server=False)[0] is (argv == ["--compile"])
