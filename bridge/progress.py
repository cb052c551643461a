"""A terminal progress bar fed by the engine's per-step progress callback."""

from __future__ import annotations

import sys
from typing import Any


class StepBar:
    """tqdm bar that (re)starts when the engine reports a new total; closes itself at the end."""

    def __init__(self, desc: str = "denoising") -> None:
        self.desc = desc
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.total != total:
            self.close()
            self.bar = tqdm(total=total, desc=self.desc, unit="step", file=sys.stderr, leave=False)
        self.bar.n = done
        self.bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
