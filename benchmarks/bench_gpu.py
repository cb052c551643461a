"""GPU benchmark: this engine vs diffusers' AudioLDMPipeline on one real-size S-full model (random weights: speed
does not depend on them), fp16, in one run; every figure against its target, printed and written as JSON.

    python benchmarks/bench_gpu.py --json runs/bench_gpu.json            # CUDA GPU, fp16
    python benchmarks/bench_gpu.py --dry --json /tmp/bench.json          # CPU, tiny model, 1 s, 2 steps (smoke test)
    python benchmarks/bench_gpu.py --variants '[{"name": "eager", "kwargs": {"graphs": false}}]'

Figures: (a) a 10.24 s clip at 200 DDIM steps end to end, (b) the same at 25 DPM-Solver++ steps, (c) the decode
stage alone (torch with and without CUDA graphs, ONNX Runtime when it has the CUDA EP), (d) peak GPU memory of one
generation, (e) how long ``audioldm-daw serve`` takes to say it is listening. Engine variants are ``Engine.load``
keyword sets; a keyword this build's ``Engine.load`` does not take makes its variant "not available", so the
same benchmark runs before and after a keyword is added. Times are medians of runs after a warm-up, CUDA
synchronised, each engine run next to a pipeline run. The JSON is rewritten after every part, so a run stopped
part-way keeps what it measured; parts that would not fit in ``--budget-s`` are recorded as skipped.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import pipeline

PROMPT = "a dog barks"
#: name -> (target, unit, what it measures); each is judged on the variant named by --judge (default "default").
TARGETS: dict[str, tuple[float, str, str]] = {
    "end_to_end_s": (0.8, "s", "10.24 s clip, 200 DDIM steps, end to end"),
    "dpm_solver_s": (0.15, "s", "10.24 s clip, 25 DPM-Solver++ steps, end to end"),
    "decode_ms": (8.0, "ms", "decode stage of a 10.24 s latent, the faster backend"),
    "peak_memory_gib": (1.5, "GiB", "peak GPU memory of one generation (weights included)"),
    "serve_ready_s": (20.0, "s", "`audioldm-daw serve` start until it listens"),
    "serve_compile_ready_s": (20.0, "s", "`serve --compile` start until it listens (compiling in the background)"),
    "served_compiled_end_to_end_s": (0.8, "s", "`serve --compile` once compiled: 200 DDIM steps, request to done"),
    "served_compiled_dpm_solver_s": (
        0.15,
        "s",
        "`serve --compile` once compiled: 25 DPM++ steps, request to done",
    ),
}
#: The jobs sent over OSC to a started server (the first start of each serve part; once compiled with
#: ``--compile``): (key, scheduler), at the variants' step counts, each sent twice (the first of a new step
#: program captures its graphs).
SERVED_JOBS = (("end_to_end", "ddim"), ("dpm_solver", "dpm"))
#: A served job's target is this prefix before the pipeline figure it is set beside (served_compiled_end_to_end_s).
SERVED_PREFIX = "served_compiled_"
#: The torch decode backends the bench times, as TorchDecoder's keywords (``onnx`` is the other backend).
TORCH_DECODERS: dict[str, dict[str, bool]] = {
    "torch": {},
    "torch_eager": {"graphs": False},
    "torch_compiled": {"compiled": True},
}
#: Keywords measured on CUDA only, and why not elsewhere.
CUDA_ONLY = {
    "graphs": "the same as torch here (no CUDA graphs to turn off)",
    "compiled": "measured on CUDA only (tests/test_compilation.py covers the CPU)",
}
DECODERS = (*TORCH_DECODERS, "onnx")  # every decode backend the bench times: a new torch one is judged too
PARTS = (*(f"decode_{d}" for d in DECODERS), "serve", "serve_compiled")  # what runs besides the variants
#: Run in this order: the plain variants, the decode and serve parts, the slow ones (compilation), ``serve
#: --compile``, then the extras (figures measured once already, kept when time is left; docs/benchmarks.md has
#: them). The compiled variant warms up at the measured length only: each length costs a long compilation.
DEFAULT_VARIANTS: list[dict[str, Any]] = [
    {"name": "default", "kwargs": {}},
    {
        "name": "compiled",
        "kwargs": {"compile_unet": True, "compile_decode": True},
        "warm_up": {"durations": [10.24]},
        "slow": True,
        "min_s": 150,
    },
    {"name": "eager", "kwargs": {"graphs": False}, "extra": True, "min_s": 60},
    {"name": "bf16", "kwargs": {"dtype": "bf16"}, "extra": True, "min_s": 60},
]
#: The CPU smoke test: 1 s clips, and a warm-up at that length only (where ``Engine.warm_up`` takes durations).
DRY_VARIANTS: list[dict[str, Any]] = [
    {"name": n, "kwargs": kw, "warm_up": {"durations": [1.0]}}
    for n, kw in (("default", {}), ("eager", {"graphs": False}))
]


@dataclass
class Settings:
    """What one run measures, and on what."""

    dry: bool
    device: str
    dtype: torch.dtype
    duration: float = 10.24
    ddim_steps: int = 200
    dpm_steps: int = 25
    guidance: float = 2.5
    repeats: int = 3
    decode_repeats: int = 20
    serve_starts: int = 2
    variants: list[dict[str, Any]] = field(default_factory=list)
    judge: str = "default"

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


class Report:
    """The JSON being built; written atomically after each part so a killed run keeps what it measured."""

    def __init__(self, path: Path | None, settings: Settings, budget_s: float) -> None:
        self.path = path
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget_s
        self.data: dict[str, Any] = {
            "mode": "dry" if settings.dry else "gpu",
            "device": settings.device,
            "dtype": str(settings.dtype).replace("torch.", ""),
            "model": "tiny random" if settings.dry else "s-full random",
            "duration_s": settings.duration,
            "steps": {"ddim": settings.ddim_steps, "dpm": settings.dpm_steps},
            "guidance": settings.guidance,
            "repeats": settings.repeats,
            "budget_s": budget_s,
            "engine_load_keywords": sorted(load_keywords()),
            "parts": {},
            "variants": [],
            "pipeline": {},
            "targets": [],
            "errors": [],
        }

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.t0, 2)
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)

    def error(self, where: str, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        self.data["errors"].append({"where": where, "error": text[:500], "traceback": traceback.format_exc()[-2000:]})
        print(f"{where}: FAILED {text[:300]}", flush=True)
        return text[:500]


def load_keywords() -> set[str]:
    """The keywords this build's ``Engine.load`` takes (``**kwargs`` counts as any)."""
    from audioldm_daw.engine import Engine

    params = inspect.signature(Engine.load).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"*"}
    return set(params)


def sync(settings: Settings) -> None:
    if settings.cuda:
        torch.cuda.synchronize()


def timed(settings: Settings, fn: Callable[[], object]) -> float:
    """Wall seconds of one call, with the GPU idle before and finished after."""
    sync(settings)
    t = time.perf_counter()
    fn()
    sync(settings)
    return time.perf_counter() - t


def gib(n: int) -> float:
    return round(n / 2**30, 3)


# -- the parts ------------------------------------------------------------------------------------------------
def part_decode(report: Report, settings: Settings, model: Any, backend: str) -> None:
    """(c) The decode stage of a ``duration`` latent: ``torch`` (the engine's default, CUDA graphs on CUDA where
    this build has them), ``torch_eager`` (graphs off), ``onnx`` (the engine's ONNX Runtime backend) or
    ``torch_compiled`` (``--compile``'s: torch.compile under the same graphs)."""
    from audioldm_daw.engine import TorchDecoder

    name = f"decode_{backend}"
    out: dict[str, Any] = {}
    report.data["parts"][name] = out
    decoder: Any
    if backend == "onnx":
        reason = onnx_unavailable(settings)
        if reason:
            out.update(status="skipped", reason=reason)
            return
        from audioldm_daw.export import select

        t = time.perf_counter()
        root = Path(tempfile.mkdtemp(prefix="bench-gpu-onnx-"))
        decoder = select.load_onnx_decoder(model, root=root)  # exports and validates once (cached by hash)
        out.update(export_s=round(time.perf_counter() - t, 2), provider=decoder.provider, precision=decoder.precision)
    else:
        kwargs = TORCH_DECODERS[backend]
        accepted = inspect.signature(TorchDecoder).parameters
        cpu_reason = CUDA_ONLY.get(next((k for k in kwargs if k in CUDA_ONLY), ""))
        if cpu_reason and not settings.cuda:
            out.update(status="skipped", reason=cpu_reason)
            return
        if any(k not in accepted for k in kwargs):
            out.update(status="skipped", reason=f"this build's TorchDecoder takes no {', '.join(sorted(kwargs))}")
            return
        decoder = TorchDecoder(model.vae, model.vocoder, **kwargs)
    shape = model.geometry.latent_shape(1, model.geometry.cells(settings.duration))
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(model.device, model.dtype)
    for _ in range(5):  # allocator, cuDNN's algorithm search, CUDA-graph capture (as the engine calls it: no_grad)
        decoder.decode(z)
    runs = [timed(settings, lambda: decoder.decode(z)) * 1000 for _ in range(settings.decode_repeats)]
    out.update(status="ok", latent=list(shape), median_ms=round(statistics.median(runs), 3), runs_ms=_r(runs))
    print(f"decode {backend:14s}: {out['median_ms']:9.2f} ms (median of {len(runs)}, latent {shape})", flush=True)


def onnx_unavailable(settings: Settings) -> str | None:
    """Why the ONNX decode is not measured here, or None."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    providers = ort.get_available_providers()
    if settings.cuda and "CUDAExecutionProvider" not in providers:
        return f"onnxruntime {ort.__version__} has no CUDAExecutionProvider ({', '.join(providers)})"
    return None


def part_serve(report: Report, settings: Settings, folder: Path, compile_: bool = False) -> None:
    """(e) ``python -m audioldm_daw.bridge.cli serve`` as a process: seconds until it prints its listening line
    (imports, model load, warm-up), and the time serve itself reports ("ready in ...", after its imports).

    ``compile_`` (part ``serve_compiled``): the first start is ``serve --compile`` on a fresh inductor cache,
    ready before compiling; it goes on until serve says the warm-up shapes are compiled (``compiled_s``, and
    each shape's seconds). The next start, ``serve --compile --compile-wait`` on that cache, is a restart that
    compiles before saying ready (``restart_ready_s``).

    The first start also serves :data:`SERVED_JOBS` through the OSC client (``served``: seconds from request to
    ``/audioldm/done``, each job twice): what a patch waits for a clip, once the server is ready (and, with
    ``--compile``, once its warm-up shapes are compiled)."""
    out: dict[str, Any] = {"decoder": "torch", "starts": []}
    report.data["parts"]["serve_compiled" if compile_ else "serve"] = out
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-serve-"))
    env = dict(os.environ, AUDIOLDM_DAW_STATE=str(work / "state"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "serve", "--model", str(folder)]
    cmd += ["--device", settings.device, "--decoder", "torch", "--no-audition", "--port", "0", "--reply-port", "9"]
    cmd += ["--clips", str(work / "clips")]
    env["TORCHINDUCTOR_CACHE_DIR"] = str(work / "inductor")  # not the user's cache
    cmd += ["--compile", "--warmup"] if compile_ else ["--no-compile"]  # serve's default compiles on CUDA
    for i in range(settings.serve_starts):
        if i and report.left() < 60:
            out["starts"].append({"status": "skipped", "reason": f"{report.left():.0f} s left"})
            break
        timeout = min(420.0 if compile_ else 120.0, max(report.left() - 5, 10.0))
        opening = i == 0  # the first start serves the jobs; with --compile, the later ones are restarts
        start = _serve_once(
            cmd + (["--compile-wait"] if compile_ and not opening else []),
            env,
            timeout,
            until=COMPILED_LINE if compile_ and opening else None,
            jobs=(lambda port: _serve_jobs(port, settings)) if opening else None,
        )
        out["starts"].append(start)
        report.write()
    first = out["starts"][0]
    out["status"] = first["status"]
    out["ready_s"] = first.get("ready_s")
    out["served"] = first.get("served", {})
    if compile_:
        out["compiled_s"] = first.get("until_s")
        out["shapes"] = first.get("compiled", [])
        out["restart_ready_s"] = next((s.get("ready_s") for s in out["starts"][1:] if s.get("ready_s")), None)
    ready = ", ".join(str(s.get("ready_s")) for s in out["starts"])
    print(f"serve{' --compile' if compile_ else ''} ready: {ready} s", flush=True)
    if compile_:
        print(f"serve --compile: warm-up shapes compiled {out['compiled_s']} s after start: {out['shapes']}")
    for key, runs in out["served"].items():
        print(f"serve{' --compile' if compile_ else ''} {key}: request to done {runs} s", flush=True)


COMPILED_LINE = "compile: the warm-up shapes are compiled"  # serve --compile's line once they all are
LISTENING = re.compile(r"^listening on udp://\S+:(\d+) ")
SHAPE_LINE = re.compile(r"^compile: (compiled the \S+ for .+ in [0-9.]+ s|compiling the .* failed .*)$")


def _serve_jobs(port: int, settings: Settings) -> dict[str, Any]:
    """:data:`SERVED_JOBS` sent to the server at ``port`` one after another: {key: [seconds, ...]} from the
    request to its ``/audioldm/done`` (what a patch waits), or {key: "failed: ..."}."""
    from audioldm_daw.bridge.clients.client import EngineClient, takes_for

    out: dict[str, Any] = {}
    with EngineClient(port=port) as client:
        client.connect(timeout=5.0)
        for key, scheduler in SERVED_JOBS:
            steps = settings.ddim_steps if scheduler == "ddim" else settings.dpm_steps
            values = {"prompt": PROMPT, "duration": settings.duration, "steps": steps, "scheduler": scheduler}
            values |= {"guidance": settings.guidance, "seed": 0}
            runs: list[float] = []
            for _ in range(2):
                take = takes_for("generate", values, prefix="bench")[0]
                t0 = time.perf_counter()
                client.submit(take)
                result = client.wait([take.job_id], timeout=120)[take.job_id]
                if isinstance(result, Exception):
                    out[key] = f"failed: {result}"
                    break
                runs.append(round(time.perf_counter() - t0, 4))
            else:
                out[key] = runs
    return out


def _serve_once(
    cmd: list[str],
    env: dict[str, str],
    timeout: float,
    until: str | None = None,
    jobs: Callable[[int], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One start: seconds to the listening line (``ready_s``) and, with ``until``, on to the first line that
    starts with it (``until_s``, within the same ``timeout``); serve's own figures read from its output.
    ``jobs(port)``, when given, runs once the server is ready (and ``until`` reached), its figures kept as
    ``served``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    ready, reached = threading.Event(), threading.Event()
    ready_at: list[float] = []
    until_at: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("listening on udp://") and not ready.is_set():
                ready_at.append(time.perf_counter() - t0)
                ready.set()
            if until is not None and line.startswith(until) and not reached.is_set():
                until_at.append(time.perf_counter() - t0)
                reached.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ok = ready.wait(timeout)
    if ok and until is not None:
        reached.wait(max(timeout - (time.perf_counter() - t0), 1.0))
    served: dict[str, Any] = {}
    if ok and jobs is not None and (until is None or reached.is_set()):
        port = next((int(m.group(1)) for line in lines if (m := LISTENING.match(line))), None)
        try:
            served = jobs(port) if port else {"status": "no port in the listening line"}
        except Exception as exc:  # the start's own figures still count
            served = {"status": f"failed: {type(exc).__name__}: {exc}"}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    reader.join(5)
    patterns = {  # serve's own lines
        "serve_says": r"^ready in (.+)$",
        "loaded": r"^model loaded in (.+)$",
        "warm_up": r"^warmed up in (.+)$",
    }
    said = {k: next((m.group(1) for line in lines if (m := re.match(p, line))), None) for k, p in patterns.items()}
    result: dict[str, Any] = {"status": "ok" if ok else "failed", "exit_code": proc.returncode, **said}
    result["compiled"] = [m.group(1) for line in lines if (m := SHAPE_LINE.match(line))]
    if served:
        result["served"] = served
    if until_at:
        result["until_s"] = round(until_at[0], 2)
    elif until is not None and ok:
        result["until_reason"] = f"no {until!r} line within {timeout:.0f} s"
        result["output_tail"] = lines[-30:]
    if ok:
        result["ready_s"] = round(ready_at[0], 2)
    else:
        result["reason"] = f"no listening line within {timeout:.0f} s"
        result["output_tail"] = lines[-30:]
    return result


def run_variant(report: Report, settings: Settings, folder: Path, spec: dict[str, Any], pipes: dict[str, Any]) -> None:
    """(a), (b) and (d) for one ``Engine.load`` keyword set, each engine run next to a pipeline run."""
    from audioldm_daw.engine import Engine, GenerateRequest

    out: dict[str, Any] = {"name": spec["name"], "kwargs": spec.get("kwargs", {})}
    report.data["variants"].append(out)
    accepted = load_keywords()
    unknown = sorted(k for k in out["kwargs"] if k not in accepted and "*" not in accepted)
    if unknown:
        out.update(status="not available", reason=f"Engine.load takes no {', '.join(unknown)}")
        print(f"variant {spec['name']}: not available ({out['reason']})", flush=True)
        return
    need = float(spec.get("min_s", 40))
    if report.left() < need:
        out.update(status="skipped", reason=f"needs about {need:.0f} s, {report.left():.0f} s left")
        print(f"variant {spec['name']}: skipped ({out['reason']})", flush=True)
        return
    engine = None
    try:
        base = torch.cuda.memory_allocated() if settings.cuda else 0
        t = time.perf_counter()
        kwargs = {"dtype": "fp16" if settings.dtype == torch.float16 else "fp32", **out["kwargs"]}
        engine = Engine.load(folder, device=settings.device, **kwargs)
        out["load_s"] = round(time.perf_counter() - t, 2)
        out["loop"] = getattr(engine, "loop", None)
        if settings.cuda:
            torch.cuda.reset_peak_memory_stats()
        if hasattr(engine, "warm_up"):
            accepts = inspect.signature(engine.warm_up).parameters
            t = time.perf_counter()
            engine.warm_up(**{k: v for k, v in spec.get("warm_up", {}).items() if k in accepts})
            out["warm_up_s"] = round(time.perf_counter() - t, 2)
        if settings.cuda:
            out["peak_warm_up_gib"] = gib(torch.cuda.max_memory_allocated() - base)
        common = {"duration": settings.duration, "guidance": settings.guidance, "seed": 0}
        common |= {"sample_rate": 16000, "normalize_db": None}
        for key, scheduler, steps in (
            ("end_to_end", "ddim", settings.ddim_steps),
            ("dpm_solver", "dpm", settings.dpm_steps),
        ):
            request = GenerateRequest(PROMPT, steps=steps, scheduler=scheduler, **common)
            out[key] = _interleaved(settings, lambda r=request: engine.generate(r), pipes.get(scheduler), steps)
            print(f"variant {spec['name']:9s} {key:10s}: {_line(out[key])}", flush=True)
            report.write()
            if key == "end_to_end" and settings.cuda:  # (d): one generation alone, nothing else running
                torch.cuda.reset_peak_memory_stats()
                timed(settings, lambda r=request: engine.generate(r))
                out["peak_memory_gib"] = gib(torch.cuda.max_memory_allocated() - base)
                print(f"variant {spec['name']:9s} peak GPU memory {out['peak_memory_gib']:.3f} GiB", flush=True)
        out["status"] = "ok"
    except Exception as exc:
        out.update(status="failed", reason=report.error(f"variant {spec['name']}", exc))
    finally:
        engine = None  # the weights go before the next variant loads
        gc.collect()
        if settings.cuda:
            torch.cuda.empty_cache()


def _interleaved(
    settings: Settings, engine_run: Callable[[], object], pipe: Callable[[], object] | None, steps: int
) -> dict[str, Any]:
    """Medians of engine runs, each next to a pipeline run (none when the pipeline could not be built)."""
    if pipe is not None:
        timed(settings, pipe)  # warm-up: allocator, kernels, graph capture or compilation at this shape
    timed(settings, engine_run)
    ours, theirs = [], []
    for _ in range(settings.repeats):  # next to each other, so both see the same machine state
        if pipe is not None:
            theirs.append(timed(settings, pipe))
        ours.append(timed(settings, engine_run))
    a = statistics.median(ours)
    b = statistics.median(theirs) if theirs else None
    return {
        "steps": steps,
        "engine_s": round(a, 4),
        "engine_runs": _r(ours),
        "pipeline_s": None if b is None else round(b, 4),
        "pipeline_runs": _r(theirs),
        "ratio_pipeline_over_engine": None if b is None else round(b / a, 3),
    }


def _line(x: dict[str, Any]) -> str:
    """One figure as printed: the engine, the pipeline and their ratio."""
    text = f"{x['steps']:3d} steps: engine {x['engine_s']:7.3f} s"
    if x["pipeline_s"] is None:
        return text + ", pipeline not run"
    return text + f", pipeline {x['pipeline_s']:7.3f} s, pipeline/engine {x['ratio_pipeline_over_engine']:6.2f}x"


def _r(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


def pipelines(settings: Settings, model: Any) -> dict[str, Callable[[], object]]:
    """diffusers' pipeline over ``model`` (a copy of the weights of its own: a variant may compile or capture
    its modules), one per scheduler, as zero-argument calls with the engine's settings."""
    from audioldm_daw.engine.schedulers import make_scheduler

    calls: dict[str, Callable[[], object]] = {}
    for name, steps in (("ddim", settings.ddim_steps), ("dpm", settings.dpm_steps)):
        pipe = pipeline(model, make_scheduler(name, model.scheduler_config, steps))

        def call(pipe: Any = pipe, steps: int = steps) -> object:
            generator = torch.Generator("cpu").manual_seed(0)
            kw = {"num_inference_steps": steps, "guidance_scale": settings.guidance, "generator": generator}
            return pipe(PROMPT, audio_length_in_s=settings.duration, **kw)

        calls[name] = call
    return calls


def judge(report: Report, settings: Settings) -> None:
    """Each target with its measured value (from the judged variant, else the first that ran) and whether met."""
    data = report.data
    ran = [v for v in data["variants"] if v.get("status") == "ok"]
    chosen = next((v for v in ran if v["name"] == settings.judge), ran[0] if ran else None)
    pipes = {
        k: [v[k]["pipeline_s"] for v in ran if v.get(k, {}).get("pipeline_s")] for k in ("end_to_end", "dpm_solver")
    }
    data["pipeline"] = {f"{k}_s": round(statistics.median(x), 4) for k, x in pipes.items() if x}
    decodes = {k: data["parts"].get(f"decode_{k}", {}).get("median_ms") for k in DECODERS}
    measured: dict[str, tuple[float | None, str | None]] = {
        "end_to_end_s": (_get(chosen, "end_to_end", "engine_s"), _name(chosen)),
        "dpm_solver_s": (_get(chosen, "dpm_solver", "engine_s"), _name(chosen)),
        "decode_ms": min(((v, k) for k, v in decodes.items() if v is not None), default=(None, None)),
        "peak_memory_gib": (chosen.get("peak_memory_gib") if chosen else None, _name(chosen)),
        "serve_ready_s": (data["parts"].get("serve", {}).get("ready_s"), None),
        "serve_compile_ready_s": (data["parts"].get("serve_compiled", {}).get("ready_s"), None),
        **{
            f"{SERVED_PREFIX}{key}_s": (_served(data["parts"].get("serve_compiled", {}), key), None)
            for key, _ in SERVED_JOBS
        },
    }
    data["targets"] = []
    for name, (target, unit, what) in TARGETS.items():
        value, source = measured[name]
        entry = {"name": name, "what": what, "unit": unit, "target": target, "measured": value}
        entry |= {"met": None if value is None else value <= target, "from": source}
        pipeline = data["pipeline"].get(name.removeprefix(SERVED_PREFIX)) if name.startswith(SERVED_PREFIX) else None
        if value and pipeline:  # a served clip against diffusers' pipeline in the same run (the variants' median)
            entry |= {"pipeline_s": pipeline, "ratio_pipeline_over_this": round(pipeline / value, 2)}
        data["targets"].append(entry)


def _served(part: dict[str, Any], key: str) -> float | None:
    """The faster of a served job's two runs (the first of a new length may capture its graphs)."""
    runs = part.get("served", {}).get(key)
    return min(runs) if isinstance(runs, list) and runs else None


def _get(variant: dict[str, Any] | None, key: str, field: str) -> float | None:
    return variant.get(key, {}).get(field) if variant else None


def _name(variant: dict[str, Any] | None) -> str | None:
    return variant["name"] if variant else None


def print_summary(report: Report) -> None:
    data = report.data
    print(f"\n{data['model']} model, {data['device']} {data['dtype']}, {data['duration_s']} s clips", flush=True)
    for v in data["variants"]:
        if v.get("status") != "ok":
            print(f"  variant {v['name']:9s} {v.get('status')}: {v.get('reason', '')}")
            continue
        for key in ("end_to_end", "dpm_solver"):
            print(f"  variant {v['name']:9s} {key:10s}: {_line(v[key])}")
        if "peak_memory_gib" in v:
            print(f"  variant {v['name']:9s} peak GPU memory {v['peak_memory_gib']} GiB")
    for k, v in data["pipeline"].items():
        print(f"  diffusers AudioLDMPipeline {k}: {v} (median over the variants' runs)")
    for k in DECODERS:
        part = data["parts"].get(f"decode_{k}", {})
        shown = f"{part['median_ms']} ms" if "median_ms" in part else f"{part.get('status')}: {part.get('reason')}"
        print(f"  decode {k:14s}: {shown}")
    for name in ("serve", "serve_compiled"):
        part = data["parts"].get(name)
        if part is not None:
            starts = ", ".join(str(st.get("ready_s", st.get("status"))) for st in part.get("starts", []))
            print(f"  {name:21s}: ready after {starts or part.get('status')} s (each start)")
    for t in data["targets"]:
        value = "not measured" if t["measured"] is None else f"{t['measured']} {t['unit']}"
        met = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        ratio = ""
        if "pipeline_s" in t:
            ratio = f"  (diffusers' pipeline {t['pipeline_s']} s: {t['ratio_pipeline_over_this']}x)"
        print(f"  target {t['name']:16s} <= {t['target']:6g} {t['unit']:3s}: {value:>14s}  {met}{ratio}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry", action="store_true", help="CPU, tiny random model, 1 s clips, 2 steps, one repeat")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here (rewritten after each part)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no part that would not end by then")
    ap.add_argument("--variants", default=None, help="JSON list of {name, kwargs[, warm_up, slow, min_s]}, or a file")
    ap.add_argument("--judge", default="default", help="the variant the targets are judged on")
    ap.add_argument(
        "--variants-only", action="store_true", help="time the variants alone (no decode backends, no serve start)"
    )
    ap.add_argument(
        "--parts",
        default=None,
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all, serve_compiled on CUDA only)",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 3; dry 1)")
    args = ap.parse_args(argv)
    wanted = set(PARTS) if args.parts is None else {p.strip() for p in args.parts.split(",") if p.strip()}
    if wanted - set(PARTS):
        ap.error(f"--parts: unknown {', '.join(sorted(wanted - set(PARTS)))}; expected some of {', '.join(PARTS)}")
    if args.variants_only:
        wanted = set()

    if args.dry:
        torch.set_num_threads(1)  # a smoke test on a shared machine
        settings = Settings(True, "cpu", torch.float32, 1.0, ddim_steps=2, dpm_steps=2, repeats=1, decode_repeats=2)
        settings.serve_starts = 1
        settings.variants = DRY_VARIANTS
    else:
        if not torch.cuda.is_available():
            print("bench_gpu: torch sees no CUDA GPU (use --dry for the CPU smoke test)", file=sys.stderr)
            return 2
        settings = Settings(False, "cuda", torch.float16, variants=DEFAULT_VARIANTS)
    if args.variants:
        inline = args.variants.lstrip().startswith("[")
        text = args.variants if inline else Path(args.variants).read_text()
        settings.variants = json.loads(text)
    settings.repeats = args.repeats or settings.repeats
    settings.judge = args.judge
    report = Report(args.json, settings, args.budget_s)
    if settings.cuda:
        report.data["gpu"] = torch.cuda.get_device_name()
    report.write()

    from audioldm_daw.engine.architecture import build_random_folder

    t = time.perf_counter()
    folder = build_random_folder(
        Path(tempfile.mkdtemp(prefix="bench-gpu-")) / "model", "tiny" if args.dry else "s-full"
    )
    report.data["build_s"] = round(time.perf_counter() - t, 2)
    print(f"built the random {report.data['model']} folder in {report.data['build_s']} s", flush=True)
    from audioldm_daw.engine import load_model

    model = load_model(folder, device=settings.device, dtype=settings.dtype)
    try:
        pipes: dict[str, Any] = pipelines(settings, model)
    except Exception as exc:  # the engine's own figures still count without the comparison
        report.error("diffusers pipeline", exc)
        pipes = {}

    def guarded(where: str, fn: Callable[[], None], min_s: float) -> None:
        if report.left() < min_s:
            report.data["parts"][where] = {"status": "skipped", "reason": f"{report.left():.0f} s left"}
        else:
            try:
                fn()
            except Exception as exc:
                report.data["parts"][where] = {"status": "failed", "reason": report.error(where, exc)}
        report.write()

    if args.parts is None and not settings.cuda:
        wanted.discard("serve_compiled")  # minutes of compilation on a CPU: only when named

    def part(name: str, fn: Callable[[], None], min_s: float) -> None:
        if name in wanted:
            guarded(name, fn, min_s)

    for backend in ("torch", "torch_eager"):
        part(f"decode_{backend}", lambda b=backend: part_decode(report, settings, model, b), 10)
    for spec in settings.variants:  # the figures that matter most first; slow variants (compilation) last
        if not spec.get("slow") and not spec.get("extra"):
            run_variant(report, settings, folder, spec, pipes)
            report.write()
    part("serve", lambda: part_serve(report, settings, folder), 40)
    part("decode_onnx", lambda: part_decode(report, settings, model, "onnx"), 60)
    part("decode_torch_compiled", lambda: part_decode(report, settings, model, "torch_compiled"), 90)
    for spec in settings.variants:
        if spec.get("slow"):
            run_variant(report, settings, folder, spec, pipes)
            report.write()
    part("serve_compiled", lambda: part_serve(report, settings, folder, compile_=True), 240)
    for spec in settings.variants:
        if spec.get("extra"):
            run_variant(report, settings, folder, spec, pipes)
            report.write()
    judge(report, settings)
    report.write()
    print_summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
