"""``torch.compile`` as the engine uses it: fixed shapes, and inductor's cache where a reboot keeps it.

Compiling fuses the many small kernels of a UNet step or of the decode stage (normalisations, activations,
residual adds) and, under CUDA graphs, leaves little but the matrix and convolution kernels. On one H100
(benchmarks/results/gpu_speed-h100-2026-11-27-*): 200 DDIM steps of a 10.24 s S-full clip 1.04 s -> 0.65 s,
and the decode stage 13.2 ms -> 9.1 ms. Each new shape compiles once (about a minute for the S UNet there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable[..., object])


def compiled(fn: F) -> F:
    """``torch.compile(fn)`` for fixed shapes (one compilation per latent length, as the graphs are kept), with
    inductor's cache in the user's cache folder: its default lives in the temporary folder, which a reboot
    empties, and a restart should reuse what an earlier run compiled."""
    from platformdirs import user_cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(user_cache_dir("audioldm-daw")) / "inductor"))
    return torch.compile(fn, dynamic=False)  # type: ignore[return-value]
