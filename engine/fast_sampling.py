"""Every sampler's step arithmetic, once: a table of numbers per step, applied by one fixed-shape tensor
program that runs with no host synchronisation and that CUDA graphs can capture and replay.

diffusers' schedulers do their arithmetic on the host (timestep lookups, step counters, Python branches on
the solver order), so every step waits for the GPU and none can be captured. Both samplers this engine
offers are linear in what they carry from step to step, so a scheduler whose timesteps are set reduces to
seven numbers per step::

    x0   = P * x + Q * out                                    (the output read as a clean-sample estimate)
    next = A * x + B * x0 + C * x0_prev + D * out + N * noise

DDIM (any eta; epsilon, v or sample prediction) uses A, D and N; DPM-Solver++ (2M, midpoint) uses A, B and C,
with its first-order steps where diffusers takes them (the first one, and the last one). :func:`step_table`
builds the rows in float64 from the scheduler's own alphas, sigmas and timesteps; :func:`table_step` applies
one row in float32 and casts back to the latents' dtype. One step reads its row on the device by an index
that the step itself advances, so the same tensor program serves every step and the whole loop is
captured once per latent shape (:class:`StepGraphs`).

This is the step on every path: CPU and CUDA, run as is or replayed from a graph, every mode (the
manipulations add their known-region overwrite between steps through ``after_step``). diffusers' schedulers
stay the source of the timesteps, alphas, sigmas and noising; their ``step`` is the oracle the tests hold
this table to (float32 rounding in fp32; fp16 rounding in half precision, where diffusers' DDIM computes in
the model's dtype and this step in float32). A scheduler configuration the rows cannot express is refused
where the sampler is made (:func:`unsupported`, called by :func:`audioldm_daw.engine.schedulers.make_scheduler`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from audioldm_daw.engine.cuda_graphs import GraphCache, capture, program_key, program_version
from audioldm_daw.engine.errors import Cancelled
from audioldm_daw.engine.sampling import AfterStepFn, CancelFn, Conditioning, DenoisingUNet, ProgressFn

COLUMNS = ("P", "Q", "A", "B", "C", "D", "N")
Row = tuple[float, float, float, float, float, float, float]  # one step's numbers, in COLUMNS' order
MAX_STEPS = 1000  # the most steps a request can take (params.py); graphs hold tables of this many rows
LOOKAHEAD = 2  # steps the host may queue ahead of the GPU: progress and cancel stay within two steps


@dataclass(frozen=True)
class StepTable:
    """A scheduler's remaining steps as rows of :data:`COLUMNS` (float32, on the CPU) and their timesteps."""

    coef: torch.Tensor  # (n, 7)
    timesteps: torch.Tensor  # (n,) int64
    noisy: bool  # DDIM with eta > 0: one fresh noise tensor per step, drawn from the seed's generator

    def __len__(self) -> int:
        return int(self.timesteps.shape[0])


PREDICTIONS = ("epsilon", "v_prediction", "sample")  # what the UNet's output may be read as


def _x0_from_output(prediction: str, alpha: float, sigma: float) -> tuple[float, float]:
    """(P, Q) of ``x0 = P x + Q out`` for a sample at noise level (alpha, sigma), alpha^2 + sigma^2 = 1."""
    if prediction == "epsilon":
        return 1.0 / alpha, -sigma / alpha
    if prediction == "v_prediction":
        return alpha, -sigma
    return 0.0, 1.0  # sample


def unsupported(scheduler: Any) -> str | None:
    """What in ``scheduler``'s type or configuration the rows cannot express, as a phrase that names the
    setting and the value expected; None when :func:`step_table` serves it.

    Only the configuration decides, so a sampler is refused when it is made, before any model work."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    cfg = scheduler.config
    if type(scheduler) is DDIMScheduler:
        if cfg.thresholding:
            return "thresholding is on (a clamp of x0 is not linear; expected thresholding false)"
        if cfg.clip_sample:
            return "clip_sample is on (a clamp of x0 is not linear; expected clip_sample false)"
    elif type(scheduler) is DPMSolverMultistepScheduler:
        expected = {
            "algorithm_type": "dpmsolver++",
            "solver_type": "midpoint",
            "thresholding": False,
            "use_flow_sigmas": False,
            "variance_type": None,
        }
        for key, want in expected.items():
            if getattr(cfg, key, want) != want:
                return f"{key} is {getattr(cfg, key)!r} (expected {want!r})"
        if cfg.solver_order not in (1, 2):
            return f"solver_order is {cfg.solver_order} (expected 1 or 2)"
    else:
        return f"{type(scheduler).__name__} is not a sampler this engine runs (expected DDIM or DPM-Solver++)"
    if cfg.prediction_type not in PREDICTIONS:
        return f"prediction_type is {cfg.prediction_type!r} (expected one of {', '.join(PREDICTIONS)})"
    return None


def _ddim_rows(s: Any, start: int, eta: float) -> list[Row]:
    cfg = s.config
    ac = s.alphas_cumprod.double()
    final = float(s.final_alpha_cumprod)
    ratio = cfg.num_train_timesteps // s.num_inference_steps  # diffusers' DDIM steps back by this, always
    rows: list[Row] = []
    for t in s.timesteps[start:].tolist():
        a = float(ac[t])
        prev = t - ratio
        ap = float(ac[prev]) if prev >= 0 else final
        r, sg = math.sqrt(a), math.sqrt(1 - a)
        std = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
        d = math.sqrt(max(1 - ap - std * std, 0.0))
        pq = _x0_from_output(cfg.prediction_type, r, sg)
        # next = sqrt(ap) * x0 + d * eps + std * noise, with x0 and eps written in x and the output directly
        if cfg.prediction_type == "epsilon":
            a_x, d_out = math.sqrt(ap) / r, d - math.sqrt(ap) * sg / r
        elif cfg.prediction_type == "v_prediction":  # x0 = r x - sg v, eps = r v + sg x
            a_x, d_out = math.sqrt(ap) * r + d * sg, d * r - math.sqrt(ap) * sg
        else:  # sample: x0 = out, eps = (x - r out) / sg
            a_x, d_out = d / sg, math.sqrt(ap) - d * r / sg
        rows.append((*pq, a_x, 0.0, 0.0, d_out, std))
    return rows


def _dpm_rows(s: Any, start: int) -> list[Row]:
    cfg = s.config
    sigmas = s.sigmas.double().tolist()
    n = len(s.timesteps)

    def alpha_sigma(sig: float) -> tuple[float, float]:
        alpha = 1.0 / math.sqrt(sig * sig + 1.0)
        return alpha, sig * alpha

    def lam(alpha: float, sigma: float) -> float:
        return math.log(alpha) - math.log(sigma) if sigma > 0 else math.inf

    rows: list[Row] = []
    done = 0  # diffusers' lower_order_nums: steps taken so far, capped at the solver order
    for k in range(start, n):
        last = k == n - 1 and (
            cfg.euler_at_final or (cfg.lower_order_final and n < 15) or cfg.final_sigmas_type == "zero"
        )
        a_s, s_s = alpha_sigma(sigmas[k])
        a_t, s_t = alpha_sigma(sigmas[k + 1])
        pq = _x0_from_output(cfg.prediction_type, a_s, s_s)
        h = lam(a_t, s_t) - lam(a_s, s_s)
        em1 = math.expm1(-h) if math.isfinite(h) else -1.0  # exp(-h) - 1; a final sigma of 0 gives x0 itself
        a_x = s_t / s_s
        if cfg.solver_order == 1 or done < 1 or last:
            b, c = -a_t * em1, 0.0
        else:
            h0 = lam(a_s, s_s) - lam(*alpha_sigma(sigmas[k - 1]))
            r0 = h0 / h
            b, c = -a_t * em1 * (1 + 0.5 / r0), 0.5 * a_t * em1 / r0
        rows.append((*pq, a_x, b, c, 0.0, 0.0))
        done = min(done + 1, cfg.solver_order)
    return rows


def step_table(scheduler: Any, start: int = 0, eta: float = 0.0) -> StepTable:
    """The steps from index ``start`` of a scheduler whose timesteps are set, as a :class:`StepTable`.

    ``eta`` is DDIM's (DPM-Solver++ takes none). Raises ValueError for a scheduler :func:`unsupported` names
    (which :func:`audioldm_daw.engine.schedulers.make_scheduler` refuses before it gets here) and for
    noise levels that give no finite step.
    """
    reason = unsupported(scheduler)
    if reason is not None:
        raise ValueError(f"scheduler: {reason}; make it with audioldm_daw.engine.schedulers.make_scheduler")
    from diffusers import DDIMScheduler

    if type(scheduler) is DDIMScheduler:
        rows, noisy = _ddim_rows(scheduler, start, eta), eta > 0
    else:
        rows, noisy = _dpm_rows(scheduler, start), False
    if not all(math.isfinite(v) for row in rows for v in row):
        raise ValueError(
            "scheduler: its noise levels give a step with an infinite or undefined coefficient; "
            "expected every noise level above 0 but the last"
        )
    coef = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(COLUMNS)).float()
    return StepTable(coef, scheduler.timesteps[start:].to("cpu", torch.int64), noisy)


def table_step(
    row: torch.Tensor, x: torch.Tensor, out: torch.Tensor, x0_prev: torch.Tensor, noise: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step: (next latents in ``x``'s dtype, this step's x0 estimate in float32)."""
    p, q, a, b, c, d, nz = row.unbind()
    xf, of = x.float(), out.float()
    x0 = p * xf + q * of
    nxt = a * xf + b * x0 + c * x0_prev + d * of
    if noise is not None:
        nxt = nxt + nz * noise.float()
    return nxt.to(x.dtype), x0


def step_noise(table: StepTable, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor | None:
    """Every step's DDIM noise, drawn up front on the CPU in the order diffusers draws it step by step
    (``randn`` on the seed's generator in the model's dtype), so that eta > 0 makes the clip diffusers' DDIM
    makes from the same seed.
    Pinned on a CUDA machine so that each step's slice reaches the GPU without the host waiting."""
    if not table.noisy:
        return None
    rows = torch.stack([torch.randn(like.shape, generator=generator, dtype=like.dtype) for _ in range(len(table))])
    return rows.pin_memory() if like.device.type == "cuda" else rows


class LoopState:
    """The buffers one step reads and writes in place: latents, the previous x0, the step index, the
    table and timesteps (padded to :data:`MAX_STEPS` rows, so one captured graph serves any step count),
    the class labels, the guidance scale and this step's noise."""

    def __init__(self, latents: torch.Tensor, labels: torch.Tensor, noisy: bool) -> None:
        dev = latents.device
        self.x = torch.empty_like(latents)
        self.x0_prev = torch.zeros(latents.shape, dtype=torch.float32, device=dev)
        self.index = torch.zeros((), dtype=torch.int64, device=dev)
        self.coef = torch.zeros(MAX_STEPS, len(COLUMNS), dtype=torch.float32, device=dev)
        self.timesteps = torch.zeros(MAX_STEPS, dtype=torch.int64, device=dev)
        self.labels = torch.empty_like(labels)
        self.scale = torch.zeros((), dtype=torch.float32, device=dev)
        self.noise = torch.zeros_like(latents) if noisy else None

    def load(self, latents: torch.Tensor, table: StepTable, labels: torch.Tensor, scale: float) -> None:
        """Fill the buffers for one run (device copies only: nothing here waits for the GPU)."""
        n = len(table)
        self.x.copy_(latents)
        self.x0_prev.zero_()
        self.index.zero_()
        self.coef[:n].copy_(table.coef, non_blocking=True)
        self.timesteps[:n].copy_(table.timesteps, non_blocking=True)
        self.labels.copy_(labels)
        self.scale.fill_(scale)


def guided_step(unet: DenoisingUNet, st: LoopState, guided: bool) -> None:
    """One denoising step on ``st``'s buffers, in place: the UNet (both guidance branches in one batched
    call), classifier-free guidance, the table row, and the index advanced for the next step."""
    i = st.index.view(1)
    t = st.timesteps.index_select(0, i)
    row = st.coef.index_select(0, i)[0]
    x = st.x
    if guided:
        n = x.shape[0]
        out = unet(torch.cat([x, x]), t, encoder_hidden_states=None, class_labels=st.labels).sample
        out_u, out_c = out[:n], out[n:]
        out = out_u + st.scale.to(out.dtype) * (out_c - out_u)
    else:
        out = unet(x, t, encoder_hidden_states=None, class_labels=st.labels).sample
    nxt, x0 = table_step(row, x, out, st.x0_prev, st.noise)
    st.x.copy_(nxt)
    st.x0_prev.copy_(x0)
    st.index.add_(1)


def _labels(c: Conditioning) -> torch.Tensor:
    return torch.cat([c.uncond, c.cond]) if c.guided else c.cond


class CapturedStep:
    """One :func:`guided_step` captured in a CUDA graph over its own :class:`LoopState`."""

    def __init__(
        self,
        unet: DenoisingUNet,
        latents: torch.Tensor,
        labels: torch.Tensor,
        guided: bool,
        noisy: bool,
        pool: object,
    ) -> None:
        self.state = st = LoopState(latents, labels, noisy)
        st.labels.copy_(labels)

        def reset() -> None:
            st.x.copy_(latents)
            st.x0_prev.zero_()
            st.index.zero_()

        self.graph: Any = capture(lambda: guided_step(unet, st, guided), latents.device, reset, pool)

    def replay(self) -> None:
        self.graph.replay()


class StepGraphs(GraphCache[CapturedStep]):
    """Captured steps by shape (see :mod:`audioldm_daw.engine.cuda_graphs`).

    The key is the UNet as the loop calls it (a looping clip's circular UNet is keyed by the UNet it wraps),
    the latents' shape and dtype, whether guidance runs both branches, and whether each step takes noise.
    """

    def __init__(self, capacity: int = 8) -> None:
        super().__init__(capacity)

    def step(
        self, unet: DenoisingUNet, latents: torch.Tensor, labels: torch.Tensor, guided: bool, noisy: bool
    ) -> CapturedStep:
        key = (program_key(unet), tuple(latents.shape), latents.dtype, tuple(labels.shape), guided, noisy)
        make = lambda: CapturedStep(unet, latents, labels, guided, noisy, self.pool)  # noqa: E731
        return self.get(key, make, program_version(unet))


@torch.no_grad()
def table_denoise(
    unet: DenoisingUNet,
    table: StepTable,
    latents: torch.Tensor,
    conditioning: Conditioning,
    *,
    generator: torch.Generator | None = None,
    start: int = 0,
    graphs: StepGraphs | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    after_step: AfterStepFn | None = None,
) -> torch.Tensor:
    """Run ``table``'s steps over ``latents`` (the scheduler's timesteps from index ``start`` to the end) and
    return the clean latents. Every step is one fixed tensor program: replayed from a CUDA graph when
    ``graphs`` is given, else run as is. ``generator`` is the seed's, which DDIM with eta > 0 goes on drawing
    from.

    ``cancel`` is polled before each step and ``progress`` called after each; on a GPU the host queues at
    most :data:`LOOKAHEAD` steps ahead of the ones finished, so both stay within that many steps of the GPU.
    ``after_step(latents, index, t)`` rewrites the latents between steps (``t`` is a CPU tensor there).
    """
    n = len(table)
    if n == 0:
        return latents
    if n > MAX_STEPS:
        raise ValueError(f"steps: at most {MAX_STEPS}, got {n}")
    noise = step_noise(table, generator, latents)
    labels = _labels(conditioning)
    cuda = latents.device.type == "cuda"
    if graphs is not None:
        captured = graphs.step(unet, latents, labels, conditioning.guided, table.noisy)
        st = captured.state
        run: Callable[[], None] = captured.replay
    else:
        st = LoopState(latents, labels, table.noisy)

        def run() -> None:
            guided_step(unet, st, conditioning.guided)

    st.load(latents, table, labels, conditioning.scale)
    done: list[torch.cuda.Event] = []
    for i in range(n):
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled before step {i + 1} of {n}")
        if noise is not None and st.noise is not None:
            st.noise.copy_(noise[i], non_blocking=True)
        run()
        if after_step is not None:
            st.x.copy_(after_step(st.x, start + i, table.timesteps[i]))
        if cuda:
            ev = torch.cuda.Event()
            ev.record()
            done.append(ev)
            if len(done) > LOOKAHEAD:
                done.pop(0).synchronize()
        if progress is not None:
            progress(i + 1, n)
    return st.x.clone()
