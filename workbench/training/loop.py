"""The one training loop every stage runs: accelerate for devices, precision and processes.

A stage supplies models, optimizer groups, a batch function of the step number, a train step and an
export; the loop owns everything else: the ``Accelerator`` (CPU, one GPU or ``accelerate launch`` across
many, with ``--mixed-precision``), AdamW with warmup, gradient clipping, the tqdm bar with the running loss,
``losses.jsonl``, checkpoints every N steps and exact resume. Randomness inside a step (noise, timesteps,
dropout, condition drop) is reseeded from (seed, step, process) before the step, so a step's result does not
depend on how many steps ran before it in this process.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from audioldm_daw.workbench.training.checkpoint import load_checkpoint, resolve_resume, save_checkpoint

log = logging.getLogger(__name__)

LOSS_LOG = "losses.jsonl"
MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass
class TrainConfig:
    """Options every stage shares (the CLI's common flags)."""

    out: Path
    data: Path | None = None
    preset: str = "mini"
    steps: int = 1000
    batch_size: int = 8
    lr: float | None = None
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    resume: bool | str = False
    mixed_precision: str = "no"
    grad_clip: float = 1.0
    warmup: int = 0
    # The last ``decay`` of ``steps`` anneal the learning rate to zero along a half cosine. A constant rate
    # leaves the weights circling a minimum at the size of its noise (the small LDM's accuracy flattens while
    # its loss still falls); the tail settles them. The schedule is a function of the global step, so a run
    # resumed with a larger --steps and a --decay gets its tail from where the constant part left off.
    decay: int = 0
    weight_decay: float = 0.0
    cpu: bool = False
    fixed_batch: bool = False
    cache_dir: Path | None = None
    captions: Path | None = None
    quiet: bool = False
    threads: int | None = None
    ema: float = 0.0
    # Wall-clock budget in seconds: the run checkpoints, exports and stops at the first step past it, so
    # a lent GPU or an overnight slot is used to the end without losing the steps since the last checkpoint.
    time_limit: float | None = None
    # The same as a moment (seconds since the epoch) rather than a duration: stages that start at different
    # times on one lent machine all stop by the time its slot ends, however long their setup took.
    deadline: float | None = None

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision: expected one of {', '.join(MIXED_PRECISION)}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be at least 1")
        if not 0 <= self.decay <= self.steps:
            raise ValueError(f"decay: expected 0 to steps ({self.steps}) steps of LR decay, got {self.decay}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema: expected a decay in [0, 1), got {self.ema}")
        if self.time_limit is not None and not (math.isfinite(self.time_limit) and self.time_limit > 0):
            raise ValueError(f"time_limit: expected a positive number of seconds, got {self.time_limit}")
        if self.deadline is not None and not (math.isfinite(self.deadline) and self.deadline > 0):
            raise ValueError(f"deadline: expected a time in seconds since the epoch, got {self.deadline}")

    @property
    def cache(self) -> Path:
        """Where decoded audio and precomputed features live (default: inside the run folder)."""
        return Path(self.cache_dir) if self.cache_dir else self.out / "cache"

    def to_json(self) -> dict[str, Any]:
        return json_fields(self)


def json_fields(options: Any) -> dict[str, Any]:
    """A dataclass's fields as plain JSON values (paths as strings), for a run's ``config.json``."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}


@dataclass
class OptimGroup:
    """Models trained by one optimizer (a GAN has two groups: generator and discriminator)."""

    modules: list[str]
    lr_scale: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)


UpdateFn = Callable[[str, torch.Tensor], None]


class Stage:
    """Base of the four stages; subclasses fill ``models``/``groups`` in ``setup``."""

    name = "stage"
    default_lr = 1e-4
    # Models whose exported weights are an exponential moving average of the trained ones when --ema is
    # given (a diffusion UNet samples much better from the average than from the last noisy step).
    ema_models: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.models: dict[str, torch.nn.Module] = {}
        self.groups: dict[str, OptimGroup] = {}
        self.acc: Any = None
        self.cfg: TrainConfig | None = None

    def setup(self, acc: Any, cfg: TrainConfig) -> None:
        """Load data (precompute caches), build models and optimizer groups. Runs main-process-first."""
        raise NotImplementedError

    def batch(self, step: int) -> Any:
        """The batch of ``step`` (a pure function of the step number)."""
        raise NotImplementedError

    def train_step(self, batch: Any, step: int, update: UpdateFn) -> dict[str, float]:
        """Compute losses and call ``update(group, loss)`` per optimizer; return the numbers to log
        (``loss`` is the one shown and compared)."""
        raise NotImplementedError

    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        """Write the trained component(s) into the run folder (main process only); returns metadata."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Stage options worth recording in the run's config: the stage's options dataclass ``opt``."""
        opt = getattr(self, "opt", None)
        return json_fields(opt) if opt is not None else {}

    def data_summary(self) -> str | None:
        """One line about the data (clips, skipped files), shown when the run starts."""
        folder = getattr(self, "folder", None)
        return folder.summary() if folder is not None else None


@dataclass
class TrainResult:
    """What a finished run reports: the losses of this session and its speed."""

    out: Path
    steps: int
    start_step: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    main_process: bool = True
    exported: dict[str, Any] = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        n = self.steps - self.start_step
        return n / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_seconds_per_step(self) -> float:
        """Process CPU time per step (all threads): comparable across runs on a shared, loaded machine."""
        n = self.steps - self.start_step
        return self.cpu_seconds / n if n > 0 else 0.0


def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of one step on one process (a fixed mix, so seeds of nearby steps are unrelated)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def lr_factor(warmup: int, steps: int = 0, decay: int = 0) -> Callable[[int], float]:
    """The LR multiplier after ``s`` optimizer steps (LambdaLR's argument): a linear warm-up over ``warmup``
    steps, then constant, then over the last ``decay`` of ``steps`` a half cosine down towards zero."""
    start = steps - decay

    def factor(s: int) -> float:
        f = min(1.0, (s + 1) / warmup) if warmup > 0 else 1.0
        if decay > 0 and s >= start:
            f *= 0.5 * (1.0 + math.cos(math.pi * min(s - start, decay) / decay))
        return f

    return factor


def make_accelerator(cfg: TrainConfig) -> Any:
    """One Accelerator per run; the LR schedule counts optimizer steps, not processes."""
    from accelerate import Accelerator

    return Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu, step_scheduler_with_optimizer=False)


def _read_log(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= upto]


def run(stage: Stage, cfg: TrainConfig, accelerator: Any = None) -> TrainResult:
    """Train ``stage`` for ``cfg.steps`` steps (continuing from a checkpoint when asked) and export it."""
    from accelerate.utils import set_seed
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # a shared CPU: fewer threads than cores can be much faster
    acc = accelerator or make_accelerator(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    stage.acc, stage.cfg = acc, cfg
    set_seed(cfg.seed)  # model initialisation
    with acc.main_process_first():
        stage.setup(acc, cfg)
    summary_line = stage.data_summary()
    if summary_line and acc.is_main_process and not cfg.quiet:
        print(f"{stage.name}: {summary_line}", file=sys.stderr)
    if acc.is_main_process:
        meta = {"stage": stage.name, "config": cfg.to_json(), "stage_options": stage.info()}
        meta["processes"] = acc.num_processes
        meta["device"] = str(acc.device)
        (cfg.out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")

    lr = cfg.lr if cfg.lr is not None else stage.default_lr
    names = list(stage.models)
    optimizers: dict[str, torch.optim.Optimizer] = {}
    schedulers: dict[str, Any] = {}
    for g, spec in stage.groups.items():
        params = [p for m in spec.modules for p in stage.models[m].parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr * spec.lr_scale, betas=spec.betas, weight_decay=cfg.weight_decay)
        optimizers[g] = opt
        schedulers[g] = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg.warmup, cfg.steps, cfg.decay))
    prepared = acc.prepare(*[stage.models[n] for n in names], *optimizers.values(), *schedulers.values())
    k, j = len(names), len(optimizers)
    stage.models = dict(zip(names, prepared[:k], strict=True))
    optimizers = dict(zip(optimizers, prepared[k : k + j], strict=True))
    schedulers = dict(zip(schedulers, prepared[k + j :], strict=True))
    group_params = {
        g: [p for m in spec.modules for p in stage.models[m].parameters() if p.requires_grad]
        for g, spec in stage.groups.items()
    }

    start, running = 0, None
    ckpt = resolve_resume(cfg.out, cfg.resume)
    if ckpt is not None:
        state = load_checkpoint(acc, ckpt)
        start, running = int(state["step"]), state.get("running_loss")
        log.info("resumed %s from %s (step %d)", stage.name, ckpt, start)
    averages = _averages(stage, cfg, acc, ckpt)
    log_path = cfg.out / LOSS_LOG
    history = _read_log(log_path, start) if start else []
    if acc.is_main_process:
        log_path.write_text("".join(json.dumps(r) + "\n" for r in history))

    def update(group: str, loss: torch.Tensor) -> None:
        acc.backward(loss)
        if cfg.grad_clip > 0 and acc.sync_gradients:
            acc.clip_grad_norm_(group_params[group], cfg.grad_clip)
        optimizers[group].step()
        schedulers[group].step()
        # A GAN's generator loss also fills the discriminator's gradients: clear every group's.
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)

    result = TrainResult(out=cfg.out, steps=cfg.steps, start_step=start, main_process=acc.is_main_process)
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc=f"train {stage.name}",
        unit="step",
        file=sys.stderr,
        disable=cfg.quiet or not acc.is_local_main_process,
        dynamic_ncols=True,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    out_of_time = False
    try:
        for step in range(start + 1, cfg.steps + 1):
            data_step = 1 if cfg.fixed_batch else step
            set_seed(step_seed(cfg.seed, data_step, acc.process_index))
            for m in stage.models.values():
                m.train()
            batch = stage.batch(data_step)
            numbers = stage.train_step(batch, step, update)
            for name, avg in averages.items():
                avg.step(acc.unwrap_model(stage.models[name]).parameters())
            numbers = _mean_across(acc, numbers)
            loss = numbers["loss"]
            if not math.isfinite(loss):
                raise FloatingPointError(f"{stage.name}: loss became {loss} at step {step}; lower --lr")
            running = loss if running is None else 0.98 * running + 0.02 * loss
            result.losses.append(loss)
            if acc.is_main_process:
                row = {"step": step, **{k: round(v, 7) for k, v in numbers.items()}}
                row["lr"] = schedulers[next(iter(schedulers))].get_last_lr()[0]
                row["time"] = round(time.perf_counter() - t0, 3)
                with log_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
            bar.update(1)
            out_of_time = _past(cfg.time_limit, t0, acc, cfg.deadline)
            if step % max(1, cfg.checkpoint_every) == 0 or step == cfg.steps or out_of_time:
                save_checkpoint(
                    acc, cfg.out, step, {"running_loss": running}, cfg.keep_checkpoints, _ema_writer(averages)
                )
            result.steps = step
            if out_of_time:
                log.info("%s: time limit or deadline reached at step %d", stage.name, step)
                break
    finally:
        bar.close()
    result.seconds = time.perf_counter() - t0
    result.cpu_seconds = time.process_time() - c0
    acc.wait_for_everyone()
    for name, avg in averages.items():
        avg.copy_to(acc.unwrap_model(stage.models[name]).parameters())
    if acc.is_main_process:
        result.exported = stage.export(acc, cfg)
        summary = {
            "stage": stage.name,
            "steps": result.steps,
            "resumed_from": start,
            "stopped_by_time_limit": out_of_time,
            "batch_size": cfg.batch_size,
            "processes": acc.num_processes,
            "device": str(acc.device),
            "mixed_precision": cfg.mixed_precision,
            "steps_per_second": round(result.steps_per_second, 4),
            "cpu_seconds_per_step": round(result.cpu_seconds_per_step, 4),
            "threads": torch.get_num_threads(),
            "final_running_loss": running,
            "exported": result.exported,
        }
        (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    acc.wait_for_everyone()
    acc.end_training()
    return result


def _past(limit: float | None, t0: float, acc: Any, deadline: float | None = None) -> bool:
    """Whether the wall-clock budget is spent or the deadline has come; every process follows the main one, so
    all stop together."""
    if limit is None and deadline is None:
        return False
    over = (limit is not None and time.perf_counter() - t0 >= limit) or (
        deadline is not None and time.time() >= deadline
    )
    if acc.num_processes == 1:
        return over
    # any process out of time stops them all at the same step (a collective, so all must call it)
    return bool(acc.reduce(torch.tensor([float(over)], device=acc.device), reduction="sum").item() > 0)


EMA_FILE = "ema.pt"


def _averages(stage: Stage, cfg: TrainConfig, acc: Any, ckpt: Path | None) -> dict[str, Any]:
    """diffusers EMAModels of the stage's ``ema_models`` (none without ``cfg.ema``), restored on resume.

    A checkpoint written without averages (a run started without --ema) starts them from its weights."""
    if cfg.ema <= 0 or not stage.ema_models:
        return {}
    from diffusers.training_utils import EMAModel

    averages = {n: EMAModel(acc.unwrap_model(stage.models[n]).parameters(), decay=cfg.ema) for n in stage.ema_models}
    if ckpt is not None:
        path = Path(ckpt) / EMA_FILE
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            for name, avg in averages.items():
                avg.load_state_dict(saved[name])
                avg.to(acc.device)
        else:
            log.warning("%s has no moving averages: they start from its weights", ckpt)
    return averages


def _ema_writer(averages: dict[str, Any]) -> Callable[[Path], None] | None:
    if not averages:
        return None
    return lambda folder: torch.save({n: a.state_dict() for n, a in averages.items()}, Path(folder) / EMA_FILE)


def _mean_across(acc: Any, numbers: dict[str, float]) -> dict[str, float]:
    """Average the logged numbers over processes (each process saw a different shard of the batch)."""
    if acc.num_processes == 1:
        return numbers
    keys = sorted(numbers)
    t = torch.tensor([numbers[k] for k in keys], device=acc.device, dtype=torch.float64)
    t = acc.reduce(t, reduction="mean")
    return dict(zip(keys, t.tolist(), strict=True))
