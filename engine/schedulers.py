"""Scheduler choice by name, built from the model folder's own scheduler config.

The folder's config carries the training noise schedule (AudioLDM: 1000 steps, scaled_linear betas
0.0015..0.0195); every sampler is built from it so that a model trained here and a public checkpoint
are sampled the same way. A configuration whose step the engine's step table
(:mod:`audioldm_daw.engine.fast_sampling`) cannot express, a clamped x0 for one, is refused here, when the
sampler is chosen: the table is the only step the engine has.
"""

from __future__ import annotations

from typing import Any

from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.request import SCHEDULERS


def make_scheduler(name: str, config: dict[str, Any], steps: int | None = None, recipe: int = 2) -> Any:
    """A fresh scheduler (schedulers keep per-run state, so one per generation).

    The checkpoints' "leading" spacing with ``steps_offset`` 1 is the original AudioLDM's timesteps
    (``range(0, 1000, 1000 // steps) + 1``) at step counts that divide the training schedule. At other
    counts it starts far below the noisiest step (150 steps: t = 895), so recipe 2 switches to "trailing",
    which starts at t = 999 for any count. Recipe 1 (clips made before version 0.2) switched only above half
    the training steps, where "leading" would index past the schedule.

    Raises InvalidRequest for a name outside :data:`SCHEDULERS` and for a model folder's configuration whose
    step the step table cannot express.
    """
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    from audioldm_daw.engine.fast_sampling import unsupported

    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    if steps is not None and needs_trailing(steps, int(cfg.get("num_train_timesteps", 1000)), recipe):
        cfg["timestep_spacing"] = "trailing"
    scheduler: Any
    if name == "ddim":
        scheduler = DDIMScheduler.from_config(cfg)
    elif name == "dpm":
        scheduler = DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++", solver_order=2)
    else:
        raise InvalidRequest(f"scheduler: expected one of {', '.join(SCHEDULERS)}, got {name!r}")
    reason = unsupported(scheduler)
    if reason is not None:
        others = [s for s in SCHEDULERS if s != name]
        raise InvalidRequest.about(
            "scheduler",
            f"{name} cannot sample with this model folder's scheduler/scheduler_config.json, where {reason}; "
            f"change that setting in the file, or choose {' or '.join(others)}",
        )
    return scheduler


def needs_trailing(steps: int, train_steps: int, recipe: int) -> bool:
    """Whether ``steps`` sampling steps need "trailing" spacing to start at the noisiest timestep."""
    if recipe < 2:
        return steps > train_steps // 2
    return steps > train_steps // 2 or train_steps % steps != 0
