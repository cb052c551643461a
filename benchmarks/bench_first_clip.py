"""What the first clip of a one-shot ``audioldm-daw generate`` costs over the same clip in a warm process.

A one-shot command pays for the interpreter, the libraries' imports, loading the model and whatever the first
clip initialises; a server pays for them once. This prints, for the bundled model (or ``--model``):

- cold: the wall time of ``audioldm-daw generate PROMPT --steps N --seed S`` as a process, start to exit;
- warm: the same request rendered a second time in one process that already loaded the engine and made it once;
- their difference, and where the cold process's time went (its phases, measured in a process of its own).

``--python`` runs both with another installation's interpreter (an older build, for a before/after pair).

Each is the fastest of ``--repeats`` runs, interleaved, because a shared machine's load comes and goes.

    .venv/bin/python benchmarks/bench_first_clip.py                 # the bundled model, 25 steps, 3 repeats
    .venv/bin/python benchmarks/bench_first_clip.py --repeats 5 --profile cold.prof
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from audioldm_daw.engine.model import default_model
from audioldm_daw.engine.engine import Engine
from audioldm_daw.engine.request import GenerateRequest
t1 = time.perf_counter()
model, prompt, steps, seed, out = sys.argv[1:6]
engine = Engine.load(model or default_model())  # the torch decoder, which generate picks for the bundled model
t2 = time.perf_counter()
req = GenerateRequest(prompt, steps=int(steps), seed=int(seed))
engine.render(req, out + "/first.wav")
t3 = time.perf_counter()
engine.render(req, out + "/second.wav")
t4 = time.perf_counter()
print(json.dumps({"engine imports": t1 - t0, "load": t2 - t1, "load parts": engine.model.load_seconds,
                  "first clip": t3 - t2, "warm clip": t4 - t3}))
"""


PYTHON = sys.executable


def cli() -> list[str]:
    """The console script beside the interpreter, else the same entry point through ``-m``."""
    script = Path(PYTHON).with_name("audioldm-daw")
    return [str(script)] if script.is_file() else [PYTHON, "-m", "audioldm_daw.bridge.cli"]


def cold(args: argparse.Namespace, out: Path) -> float:
    """Seconds from starting ``audioldm-daw generate`` to its exit."""
    cmd = [*cli(), "generate", args.prompt, "--steps", str(args.steps), "--seed", str(args.seed)]
    cmd += ["--out", str(out / "cold.wav"), "--json"] + (["--model", args.model] if args.model else [])
    if args.profile:
        entry = ["-m", "audioldm_daw.bridge.cli", *cmd[len(cli()) :]]
        cmd = [PYTHON, "-m", "cProfile", "-o", args.profile, *entry]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"generate failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return took


def phases(args: argparse.Namespace, out: Path) -> dict:
    """One process's imports, load, first clip and second (warm) clip of the same request, in seconds."""
    start = time.perf_counter()
    cmd = [PYTHON, "-c", PHASES, args.model or "", args.prompt, str(args.steps), str(args.seed), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the warm process failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    inside = result["engine imports"] + result["load"] + result["first clip"] + result["warm clip"]
    result["interpreter start and exit"] = time.perf_counter() - start - inside
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a model folder or hub id (default: the bundled model)")
    p.add_argument("--prompt", default="a piano plays a slow melody")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", default=None, help="write a cProfile of the last cold run to this file")
    p.add_argument("--python", default=sys.executable, help="the interpreter of the installation to measure")
    args = p.parse_args()
    global PYTHON
    PYTHON = args.python
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    colds: list[float] = []
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i in range(args.repeats):
            profile, args.profile = args.profile, args.profile if i == args.repeats - 1 else None
            colds.append(cold(args, out))
            args.profile = profile
            runs.append(phases(args, out))
    best = min(runs, key=lambda r: r["warm clip"])
    warm = best["warm clip"]
    print(f"model {args.model or 'bundled'}, {args.steps} steps, {args.repeats} runs each, fastest shown")
    every = ", ".join(f"{c:.2f}" for c in colds)
    print(f"cold: one-shot generate, start to exit  {min(colds):6.2f} s   (all: {every})")
    print(f"warm: the same clip, second in process  {warm:6.2f} s")
    print(f"difference                              {min(colds) - warm:6.2f} s")
    phases_named = ("engine imports", "load", "first clip", "interpreter start and exit")
    fastest = {k: min(r[k] for r in runs) for k in phases_named}
    print("where a cold process's time goes (fastest of each phase):")
    for k, v in fastest.items():
        print(f"  {k:28s} {v:6.2f} s")
    print("  load, by part:              " + ", ".join(f"{k} {v:.2f} s" for k, v in best["load parts"].items()))


if __name__ == "__main__":
    main()
