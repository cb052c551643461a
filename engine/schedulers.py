"""Scheduler choice by name, built from the model folder's own scheduler config.

The folder's config carries the training noise schedule (AudioLDM: 1000 steps, scaled_linear betas
0.0015..0.0195); every sampler is built from it so that a model trained here and a public checkpoint
are sampled the same way.
"""

from __future__ import annotations

from typing import Any

from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.request import SCHEDULERS


def make_scheduler(name: str, config: dict[str, Any], steps: int | None = None) -> Any:
    """A fresh scheduler (schedulers keep per-run state, so one per generation).

    DDIM's "leading" spacing with the checkpoints' ``steps_offset`` 1 indexes past the schedule beyond
    half the training steps (1000 steps would ask for timestep 1000), so above that ``steps`` switches
    to "trailing" spacing, which covers the whole schedule at any count. At 500 steps and fewer the
    schedule is the checkpoints' own (and diffusers' pipeline's).
    """
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    if name == "ddim":
        if steps is not None and steps > int(cfg.get("num_train_timesteps", 1000)) // 2:
            cfg["timestep_spacing"] = "trailing"
        return DDIMScheduler.from_config(cfg)
    if name == "dpm":
        return DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++", solver_order=2)
    raise InvalidRequest(f"scheduler: expected one of {', '.join(SCHEDULERS)}, got {name!r}")
