"""The one prepared GPU check, run by ``benchmarks/gpu_check.sh`` (usage there): install, probe, CUDA tests,
benchmark, each a phase with its own time limit, results in ``gpu_check.json`` and ``gpu_check.log``.

A GPU machine may be at hand rarely and for minutes, so one command must do everything and come back with whatever
it measured even when a phase fails or hangs: a phase that fails is recorded and the next one runs, one that
overruns its limit is killed with its process group, and the JSON is rewritten after every phase. Only the
standard library is used here, so this file runs before anything is installed.

Phases (GPU mode): ``install`` the wheels in ``.whl/`` (from ``scripts/gpu_wheels.sh``) into /tmp/site,
and onnxruntime-gpu when all its pieces are in /tmp/ort; ``probe`` versions, nvidia-smi and imports; ``tests``,
every ``cuda``-marked test; ``bench``, ``benchmarks/bench_gpu.py``. Dry mode (``--dry``) skips the install and
runs the rest on the CPU (tiny model, 2 steps), which is how the plumbing is tested without a GPU.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, deque
from pathlib import Path
from typing import Any, TextIO
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_wheels  # noqa: E402 (scripts/ is no package: which wheels to install, and how, as the training job)

SITE = Path(os.environ.get("GPU_CHECK_SITE", "/tmp/site"))
ORT_DIR = Path(os.environ.get("GPU_CHECK_ORT_DIR", "/tmp/ort"))
TOTAL_S = 450.0  # 8 minutes less a margin for start-up and the last write
#: The project's sources as the wheel holds them: (folder in the checkout, package path in site-packages).
PROJECT = (("importroot", "audioldm_daw"), ("engine", "audioldm_daw/engine"), ("bridge", "audioldm_daw/bridge"),
           ("export", "audioldm_daw/export"), ("workbench", "audioldm_daw/workbench"))  # fmt: skip
#: Tests whose outcome says whether ONNX Runtime's CUDA execution provider was exercised.
ORT_CUDA_TESTS = ("test_onnx_decode_on_the_cuda_ep_matches_torch", "test_cuda_fp16_io_binding_and_cuda_graph_buckets")

PROBE = r"""
import importlib, importlib.metadata as md, json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable}
try:
    import torch
    out.update(torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
               cuda_available=torch.cuda.is_available())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(gpu=torch.cuda.get_device_name(0), capability=f"{props.major}.{props.minor}",
                   gpu_memory_gib=round(props.total_memory / 2**30, 1))
except Exception as exc:
    out["torch_error"] = f"{type(exc).__name__}: {exc}"[:300]
names = ("diffusers", "transformers", "huggingface-hub", "tokenizers", "accelerate", "safetensors", "numpy", "scipy",
         "onnx", "onnxruntime", "onnxruntime-gpu", "python-osc", "soundfile", "cffi", "platformdirs", "sounddevice",
         "audioldm-daw", "pytest", "pytest-timeout")
versions = {}
for name in names:
    try:
        versions[name] = md.version(name)
    except md.PackageNotFoundError:
        versions[name] = None
out["versions"] = versions
imports = {}
for mod in ("diffusers", "pythonosc", "soundfile", "platformdirs", "onnxruntime", "audioldm_daw.engine.engine",
            "audioldm_daw.bridge.cli", "audioldm_daw.export.runtime"):
    try:
        imports[mod] = str(getattr(importlib.import_module(mod), "__file__", "ok"))
    except BaseException as exc:
        imports[mod] = f"FAILED {type(exc).__name__}: {exc}"[:300]
out["imports"] = imports
try:
    import onnxruntime as ort
    out["ort_providers"] = ort.get_available_providers()
except BaseException as exc:
    out["ort_providers"] = f"FAILED {type(exc).__name__}: {exc}"[:300]
print("PROBE " + json.dumps(out))
"""


def source_stamp(root: Path = ROOT) -> str:
    """sha256 over the project's Python sources and pyproject.toml (relative path and bytes): tells whether the
    project wheel in .whl/ was built from the tree that travelled with it."""
    files = [root / "pyproject.toml"]
    for folder, _ in PROJECT:
        files += [p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts]
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


class Check:
    """The run: its log, its JSON, its clock."""

    def __init__(self, out: Path, dry: bool, budget: float) -> None:
        self.out = out
        self.dry = dry
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget
        out.mkdir(parents=True, exist_ok=True)
        self.log: TextIO = (out / "gpu_check.log").open("w", buffering=1)
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.env.update(
            AUDIOLDM_DAW_ONNX_CACHE=str(self.work / "onnx"),
            AUDIOLDM_DAW_STATE=str(self.work / "state"),
            AUDIOLDM_DAW_CLIPS=str(self.work / "clips"),
        )
        if dry:
            self.env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # a smoke test on a shared CPU
        self.data: dict[str, Any] = {
            "schema": 1,
            "mode": "dry" if dry else "gpu",
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "finished": None,
            "wall_s": None,
            "budget_s": budget,
            "out_dir": str(out),
            "gpu": None,
            "versions": {},
            "install": {"status": "skipped (dry mode)" if dry else "not run"},
            "ort_cuda_ep": {},
            "phases": {},
            "tests": {},
            "benchmark": {},
            "targets": [],
            "summary": [],
        }
        self.write()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")

    def write(self) -> None:
        self.data["wall_s"] = round(time.monotonic() - self.t0, 1)
        path = self.out / "gpu_check.json"
        tmp = path.with_name(".gpu_check.json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, path)

    def phase(self, name: str, cmd: list[str], budget: float) -> dict[str, Any]:
        """Run ``cmd`` in its own process group, its output into the log, killed after ``budget`` seconds."""
        budget = max(5.0, min(budget, self.left()))
        shown = " ".join("<script>" if "\n" in c else c for c in cmd)
        self.say(f"\n=== {name}: {shown} (limit {budget:.0f} s)")
        t = time.monotonic()
        tail: deque[str] = deque(maxlen=40)
        try:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace", start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            result = {"status": "failed", "rc": None, "seconds": 0.0, "budget_s": round(budget), "error": str(exc)}
            self.data["phases"][name] = result
            return result

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                self.say(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        status = "ok"
        try:
            proc.wait(budget)
        except subprocess.TimeoutExpired:
            status = "timeout"
            _kill_group(proc)
        reader.join(10)
        if status == "ok" and proc.returncode != 0:
            status = "failed"
        result = {"status": status, "rc": proc.returncode, "seconds": round(time.monotonic() - t, 1)}
        result["budget_s"] = round(budget)
        if status != "ok":
            result["tail"] = list(tail)[-20:]
        self.say(f"=== {name}: {status} (rc {proc.returncode}) in {result['seconds']} s")
        self.data["phases"][name] = result
        self.write()
        return result


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the whole process group (pytest's serve processes too), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- install ------------------------------------------------------------------------------------------------------
def install(check: Check) -> None:
    """The wheels in .whl/ into /tmp/site (on PYTHONPATH for every later phase); onnxruntime-gpu when its pieces are
    all in /tmp/ort; the checkout's sources over the installed project when the wheel was built from others."""
    info: dict[str, Any] = {"status": "running", "site": str(SITE)}
    check.data["install"] = info
    check.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), check.env.get("PYTHONPATH")]))
    folder = ROOT / ".whl"
    try:
        manifest = json.loads((folder / "wheels.json").read_text())
        wheels, info["skipped_present"] = gpu_wheels.selection(folder)
    except (OSError, ValueError, KeyError) as exc:
        info.update(status="failed", error=f".whl/wheels.json unreadable ({exc}): was .whl/ sent along with the tree?")
        check.say(f"install: {info['error']}")
        manifest, wheels = {"always": [], "if_missing": {}, "source_stamp": None}, []
    ort_wheel = join_ort(check)
    if ort_wheel is not None:
        wheels.append(ort_wheel)
    info["wheels"] = [w.name for w in wheels]
    if wheels:
        SITE.mkdir(parents=True, exist_ok=True)
        result = check.phase("install", gpu_wheels.install_command(wheels, SITE), 120)
        if result["status"] != "ok":  # no pip, or pip failed: a wheel is a zip file
            check.say("install: pip failed; unpacking the wheels directly")
            info["unpacked"] = unpack(wheels)
            info["pip"] = "failed; wheels unpacked instead"
    stamp = source_stamp()
    has_project = any(w.startswith("audioldm_daw-") for w in manifest["always"])
    if has_project and manifest.get("source_stamp") == stamp:
        info["project"] = "wheel (built from this tree)"
    else:
        overlay()
        info["project"] = "checkout sources copied over the wheel (it was built from other sources)"
    if info["status"] == "running":
        info["status"] = "ok"
    check.say(f"install: {len(wheels)} wheels; project from {info['project']}")
    check.write()


def join_ort(check: Check) -> Path | None:
    """onnxruntime-gpu's wheel from the pieces sent one at a time into /tmp/ort, when all have arrived intact."""
    ort: dict[str, Any] = check.data["ort_cuda_ep"]
    try:
        manifest = json.loads((ORT_DIR / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        ort["wheel"] = f"absent (no {ORT_DIR}/MANIFEST.json: the pieces were not sent)"
        return None
    have = [p for p in manifest["pieces"] if (ORT_DIR / p).is_file()]
    if len(have) < len(manifest["pieces"]):
        missing = sorted(set(manifest["pieces"]) - set(have))
        ort["wheel"] = f"incomplete: {len(have)} of {len(manifest['pieces'])} pieces (missing {', '.join(missing)})"
        return None
    wheel = ORT_DIR / manifest["wheel"]
    h = hashlib.sha256()
    with wheel.open("wb") as out:
        for piece in manifest["pieces"]:
            data = (ORT_DIR / piece).read_bytes()
            out.write(data)
            h.update(data)
    if h.hexdigest() != manifest["sha256"]:
        ort["wheel"] = "corrupt: the joined pieces' sha256 differs from MANIFEST.json"
        return None
    ort["wheel"] = f"installed: {manifest['wheel']}"
    return wheel


def unpack(wheels: list[Path]) -> list[str]:
    """Install wheels without pip: unzip into /tmp/site and lift ``*.data/purelib|platlib`` up."""
    done = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(SITE)
        for data in SITE.glob("*.data"):
            for sub in ("purelib", "platlib"):
                if (data / sub).is_dir():
                    shutil.copytree(data / sub, SITE, dirs_exist_ok=True)
            shutil.rmtree(data)
        done.append(wheel.name)
    return done


def overlay() -> None:
    """The checkout's package sources in place of the installed ones (a wheel older than the tree)."""
    for folder, package in PROJECT:
        target = SITE / package
        if folder == "importroot":
            target.mkdir(parents=True, exist_ok=True)
            for f in (ROOT / folder).iterdir():
                if f.is_file():
                    shutil.copy2(f, target / f.name)
        else:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("__pycache__"))


# -- probe --------------------------------------------------------------------------------------------------------
def probe(check: Check) -> None:
    """Versions, the GPU as nvidia-smi and torch see it, and whether the engine's imports work."""
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        gpu = smi.stdout.strip() or f"nvidia-smi failed: {smi.stderr.strip()[:200]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        gpu = f"none (nvidia-smi: {type(exc).__name__})"
    check.data["gpu"] = gpu
    check.say(f"GPU: {gpu}")
    result = check.phase("probe", [sys.executable, "-c", PROBE], 90)
    lines = [line for line in _log_lines(check) if line.startswith("PROBE ")]
    if lines:
        check.data["versions"] = json.loads(lines[-1][len("PROBE ") :])
        providers = check.data["versions"].get("ort_providers")
        check.data["ort_cuda_ep"]["provider_available"] = isinstance(providers, list) and (
            "CUDAExecutionProvider" in providers
        )
    elif result["status"] == "ok":
        check.data["versions"] = {"error": "the probe printed no result"}
    check.write()


def _log_lines(check: Check) -> list[str]:
    check.log.flush()
    return (check.out / "gpu_check.log").read_text(errors="replace").splitlines()


# -- tests --------------------------------------------------------------------------------------------------------
def tests(check: Check) -> None:
    """Every ``cuda``-marked test (dry mode: the CUDA test module only), counted from pytest's JUnit XML."""
    junit = check.work / "junit.xml"
    paths = ["tests/test_cuda.py"] if check.dry else ["tests"]
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", *paths, "-q", "-rs", "-p", "no:randomly"]
    cmd += ["-p", "no:cacheprovider", "--continue-on-collection-errors", f"--junitxml={junit}"]
    # A test's limit covers the background-compilation test: the bundled model's UNet and decoder compiled on the
    # GPU machine's CPU, about a minute each; the phase's leaves the benchmark 200 s.
    cmd += ["--timeout", "60" if check.dry else "200"]
    budget = 120 if check.dry else min(260.0, max(90.0, check.left() - 200))
    check.phase("tests", cmd, budget)
    check.data["tests"] = count_junit(junit)
    outcomes = check.data["tests"].get("outcomes", {})
    ort = check.data["ort_cuda_ep"]
    ort["test_outcomes"] = {t: outcomes.get(t, "not collected") for t in ORT_CUDA_TESTS}
    ort["tested"] = any(v in ("passed", "failed", "error") for v in ort["test_outcomes"].values())
    check.write()


def count_junit(path: Path) -> dict[str, Any]:
    """Passed/failed/errors/skipped with each failure's message and each skip reason, from a JUnit XML file."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        return {"error": f"no JUnit report ({type(exc).__name__}): the phase did not finish"}
    counts = Counter[str]()
    failures, reasons = [], Counter[str]()
    outcomes: dict[str, str] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures.append(f"{case.get('classname')}::{name}: {' '.join(message[:3])[:400]}")
            elif child.tag == "skipped":
                outcome = "skipped"
                reasons[(child.get("message") or "").strip()[:300]] += 1
        counts[outcome] += 1
        outcomes[name] = outcome
    return {
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "total": sum(counts.values()),
        "failures": failures,
        "skip_reasons": dict(reasons),
        "outcomes": outcomes,
    }


# -- benchmark ----------------------------------------------------------------------------------------------------
#: What a check that follows an earlier one may narrow the benchmark to (each passed on as the option named): the
#: variants as JSON (bench_gpu.py's --variants) and the parts besides them (its --parts), so that its minutes go
#: to what was not measured before.
BENCH_ENV = {"GPU_CHECK_VARIANTS": "--variants", "GPU_CHECK_PARTS": "--parts"}


def bench_command(check: Check, out: Path, left: float) -> list[str]:
    """bench_gpu.py's command line: its JSON, the time left, dry mode, and what :data:`BENCH_ENV` narrows."""
    cmd = [sys.executable, "benchmarks/bench_gpu.py", "--json", str(out), "--budget-s", f"{max(30.0, left - 25):.0f}"]
    if check.dry:
        cmd.append("--dry")
    for env, option in BENCH_ENV.items():
        if os.environ.get(env) is not None:
            cmd += [option, os.environ[env]]
    return cmd


def bench(check: Check) -> None:
    """``benchmarks/bench_gpu.py`` with what time is left; its JSON (partial if it was stopped) is kept."""
    out = check.work / "bench.json"
    left = check.left()
    check.phase("bench", bench_command(check, out, left), left - 5)
    try:
        check.data["benchmark"] = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        check.data["benchmark"] = {"error": f"no benchmark JSON ({type(exc).__name__})"}
    check.data["targets"] = check.data["benchmark"].get("targets", [])
    onnx = check.data["benchmark"].get("parts", {}).get("decode_onnx", {})
    check.data["ort_cuda_ep"]["benchmarked"] = onnx.get("provider") == "CUDAExecutionProvider"
    check.write()


def summarise(check: Check) -> None:
    d = check.data
    t = d["tests"]
    lines = [
        f"mode {d['mode']}, GPU {d['gpu']}, torch {d['versions'].get('torch')} (CUDA {d['versions'].get('cuda')})",
        f"install: {d['install'].get('status')}; onnxruntime-gpu: {d['ort_cuda_ep'].get('wheel', '-')}",
        f"tests: {t.get('passed')} passed, {t.get('failed')} failed, {t.get('errors')} errors, "
        f"{t.get('skipped')} skipped",
        "phases: " + ", ".join(f"{k} {v['status']} ({v['seconds']} s)" for k, v in d["phases"].items()),
    ]
    for target in d["targets"]:
        met = {True: "met", False: "NOT met", None: "not measured"}[target["met"]]
        lines.append(f"target {target['name']} <= {target['target']} {target['unit']}: {target['measured']} ({met})")
    d["summary"] = lines
    check.say("\n=== summary\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one prepared GPU check (see benchmarks/gpu_check.sh)")
    ap.add_argument("out", nargs="?", default=None, help="result folder when $OUT is not set (default runs/gpu_check)")
    ap.add_argument("--dry", "--cpu", action="store_true", help="CPU plumbing test: no install, tiny model, 2 steps")
    ap.add_argument("--source-stamp", action="store_true", help="print the project sources' stamp and exit")
    args = ap.parse_args(argv)
    if args.source_stamp:
        print(source_stamp())
        return 0
    dry = args.dry or os.environ.get("GPU_CHECK_DRY") == "1"
    out = Path(os.environ.get("OUT") or args.out or ROOT / "runs" / "gpu_check")
    budget = float(os.environ.get("GPU_CHECK_BUDGET_S", 240 if dry else TOTAL_S))
    check = Check(out, dry, budget)
    check.say(f"gpu_check ({check.data['mode']} mode), results in {out}, {budget:.0f} s in all")
    for name, step in (("install", install), ("probe", probe), ("tests", tests), ("bench", bench)):
        if name == "install" and dry:
            continue
        try:
            step(check)
        except Exception as exc:  # a broken phase is recorded; the next one still runs
            check.data["phases"].setdefault(name, {})["error"] = f"{type(exc).__name__}: {exc}"[:500]
            check.say(f"=== {name}: error {type(exc).__name__}: {exc}")
            check.write()
    check.data["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    summarise(check)
    check.write()
    shutil.rmtree(check.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
