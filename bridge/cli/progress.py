"""What the terminal shows while a command works: what it is doing (and why, when it takes a while), a
progress bar fed by the engine's per-step callback, and the elapsed time at the end. All on stderr, so
stdout stays the command's result (a path, or JSON with ``--json``) for scripts.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any


def announce(text: str) -> None:
    """One line on stderr about what happens now (loading a model, exporting a graph once, waiting)."""
    print(text, file=sys.stderr, flush=True)


class _Announcer(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            announce(record.getMessage())
        except Exception:  # a log line must never break a render
            self.handleError(record)


_WATCHED = ("audioldm_daw.export",)  # one-off work worth announcing: the ONNX export and the decoder calibration


def announce_one_off_work() -> None:
    """Show the engine's own lines about one-off work (exporting the decode stage to ONNX, measuring which
    decoder is faster) even without ``--verbose``: they explain a first run that takes longer."""
    for name in _WATCHED:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _Announcer) for h in logger.handlers):
            logger.addHandler(_Announcer(logging.INFO))
            logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
            logger.propagate = False  # one line, not the root handler's copy as well


def announce_loading(model: str | None, device: str | None) -> None:
    """The first thing a model-loading command says: which model, where, and that this is the slow part."""
    where = f" on {device}" if device else ""
    announce(f"loading model {model or '(default)'}{where} (imports and weights: a few seconds, once per run)")
    announce_one_off_work()


def elapsed_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


class Stopwatch:
    """Time since the command started; ``done()`` prints it."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def done(self, what: str = "done", detail: str = "") -> None:
        announce(f"{what} in {elapsed_text(self.seconds)}" + (f" ({detail})" if detail else ""))


class StepBar:
    """tqdm bar that (re)starts when the engine reports a new total; closes itself at the end.

    The engine's first report arrives after its first step, so a bar opens at that count (``initial``): counting
    that step into the rate would divide it by the microseconds since the bar opened (a first reading of
    ~100000 step/s).
    """

    def __init__(self, desc: str = "denoising") -> None:
        self.desc = desc
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.total != total:
            self.close()
            self.bar = tqdm(total=total, initial=done, desc=self.desc, unit="step", file=sys.stderr, leave=False)
        elif done != self.bar.n:  # (a bar just opened drew itself at ``done``)
            self.bar.n = done
            self.bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
