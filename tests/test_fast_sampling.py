"""The step table (engine/fast_sampling.py), the engine's only step, against diffusers' own schedulers'
``step``, which stays the oracle here.

The arithmetic is checked over the matrix that could hide a difference, with a cheap stand-in for the UNet
(a fixed non-linear function of the latents and the timestep): both samplers, eta 0 and 1, epsilon, v and
sample prediction, leading and trailing spacing, odd step counts, first steps past 0 (style transfer), step
counts on both sides of DPM-Solver's 15-step rule, fp32 and fp16. Then whole requests, every mode, through the
engine against the same engine with diffusers' step in its loop, on the tiny models; configurations the table
cannot express are refused where the sampler is made; the CUDA-graph replay is checked where there is a GPU.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.architecture import SCHEDULER_CONFIG
from audioldm_daw.engine.cuda_graphs import program_key
from audioldm_daw.engine.decode import TorchDecoder
from audioldm_daw.engine.errors import Cancelled, InvalidRequest, ModelLoadError
from audioldm_daw.engine.fast_sampling import StepGraphs, step_table, table_denoise, unsupported
from audioldm_daw.engine.plans import CircularUNet, Plan
from audioldm_daw.engine.request import build_request
from audioldm_daw.engine.sampling import (
    AfterStepFn,
    CancelFn,
    Conditioning,
    DenoisingUNet,
    ProgressFn,
    initial_noise,
)
from audioldm_daw.engine.schedulers import make_scheduler

SHAPE = (2, 8, 13, 16)  # two candidates, an odd latent length


class FakeUNet:
    """A stand-in for the UNet: a smooth non-linear function of latents, timestep and class label, so that
    a wrong coefficient anywhere shows in the result."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, /, **kw: object) -> object:
        labels = kw["class_labels"]
        assert isinstance(labels, torch.Tensor)
        tt = t.float().reshape(-1)[0] / 1000.0
        bias = labels.float().mean(dim=1).reshape(-1, 1, 1, 1)
        out = torch.tanh(0.7 * x.float() + 0.3 * tt + bias) * (1 - 0.5 * tt) + 0.05 * x.float()

        class Out:
            sample = out.to(x.dtype)

        return Out()


def _conditioning(dtype: torch.dtype, guided: bool = True) -> Conditioning:
    g = torch.Generator().manual_seed(3)
    cond = torch.randn(SHAPE[0], 6, generator=g).to(dtype)
    uncond = torch.randn(SHAPE[0], 6, generator=g).to(dtype)
    return Conditioning(cond, uncond, 2.5 if guided else 1.0)


def _config(prediction: str) -> dict[str, object]:
    return {**SCHEDULER_CONFIG, "prediction_type": prediction}


@torch.no_grad()
def scheduler_denoise(
    unet: DenoisingUNet,
    scheduler: Any,
    latents: torch.Tensor,
    c: Conditioning,
    *,
    start: int = 0,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
    after_step: AfterStepFn | None = None,
) -> torch.Tensor:
    """The oracle: diffusers' own ``scheduler.step`` from index ``start``, step by step, after the UNet's
    output guided as diffusers' pipelines guide it (both branches in one batched call)."""
    from diffusers import DDIMScheduler

    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    extra = {"eta": eta, "generator": generator} if isinstance(scheduler, DDIMScheduler) else {}
    for i, t in enumerate(scheduler.timesteps[start:]):
        if c.guided:
            x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
            out = unet(x, t, encoder_hidden_states=None, class_labels=torch.cat([c.uncond, c.cond])).sample
            out_u, out_c = out.chunk(2)
            out = out_u + c.scale * (out_c - out_u)
        else:
            x = scheduler.scale_model_input(latents, t)
            out = unet(x, t, encoder_hidden_states=None, class_labels=c.cond).sample
        latents = scheduler.step(out, t, latents, **extra).prev_sample
        if after_step is not None:
            latents = after_step(latents, start + i, t)
    return latents


class OracleEngine(Engine):
    """The engine with diffusers' ``scheduler.step`` in its denoising loop in place of the step table:
    everything else (plans, noise, known-region overwrite, decode, ranking) is the engine's own."""

    def _denoise(
        self, plan: Plan, scheduler: Any, progress: ProgressFn | None, cancel: CancelFn | None
    ) -> torch.Tensor:
        return scheduler_denoise(
            plan.unet,
            scheduler,
            plan.latents,
            plan.conditioning,
            start=plan.start,
            generator=plan.generator,
            eta=plan.request.eta,
            after_step=plan.after_step,
        )


def _both(
    name: str, prediction: str, steps: int, eta: float, start: int, dtype: torch.dtype, guided: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(diffusers' scheduler.step, the step table) from the same noise, seed and stand-in UNet."""
    results = []
    for kind in ("scheduler", "table"):
        s = make_scheduler(name, _config(prediction), steps)
        s.set_timesteps(steps)
        noise, gen = initial_noise(SHAPE, 11, torch.device("cpu"), dtype)
        x = noise * s.init_noise_sigma
        c = _conditioning(dtype, guided)
        if kind == "scheduler":
            results.append(scheduler_denoise(FakeUNet(), s, x, c, start=start, generator=gen, eta=eta))
        else:
            results.append(table_denoise(FakeUNet(), step_table(s, start, eta), x, c, generator=gen, start=start))
    return results[0], results[1]


MATRIX = [
    ("ddim", "epsilon", 10, 0.0, 0),
    ("ddim", "epsilon", 7, 1.0, 0),  # trailing spacing, fresh noise every step
    ("ddim", "v_prediction", 200, 1.0, 0),  # the original recipe's 200 steps
    ("ddim", "v_prediction", 25, 0.0, 9),  # style transfer: starts at step 9
    ("ddim", "sample", 3, 0.5, 0),
    ("ddim", "epsilon", 1, 0.0, 0),
    ("ddim", "epsilon", 13, 1.0, 5),  # transfer with fresh noise every step, an odd count
    ("ddim", "v_prediction", 9, 0.0, 0),
    ("ddim", "v_prediction", 11, 1.0, 3),
    ("dpm", "epsilon", 25, 0.0, 0),
    ("dpm", "v_prediction", 14, 0.0, 0),  # under 15 steps: DPM-Solver's lower-order rules
    ("dpm", "v_prediction", 15, 0.0, 0),
    ("dpm", "epsilon", 2, 0.0, 0),
    ("dpm", "epsilon", 1, 0.0, 0),
    ("dpm", "v_prediction", 50, 0.0, 17),  # transfer on DPM-Solver: a first-order first step at index 17
    ("dpm", "sample", 9, 0.0, 0),
    ("dpm", "epsilon", 23, 0.0, 7),  # an odd count past 15 steps, from step 7
    ("dpm", "v_prediction", 13, 0.0, 4),  # under 15 steps, from step 4: a first-order last step
]
HALF = [
    ("ddim", "epsilon", 7, 1.0, 0),
    ("ddim", "v_prediction", 25, 0.0, 9),
    ("ddim", "epsilon", 13, 1.0, 5),
    ("ddim", "v_prediction", 11, 1.0, 3),
    ("dpm", "epsilon", 25, 0.0, 0),
    ("dpm", "v_prediction", 14, 0.0, 0),
    ("dpm", "epsilon", 23, 0.0, 7),
]


@pytest.mark.parametrize(("name", "prediction", "steps", "eta", "start"), MATRIX)
def test_table_matches_the_scheduler_fp32(name: str, prediction: str, steps: int, eta: float, start: int) -> None:
    ref, got = _both(name, prediction, steps, eta, start, torch.float32)
    assert torch.isfinite(got).all()
    scale = ref.abs().max().item()
    assert (got - ref).abs().max().item() <= 5e-6 * max(scale, 1.0), (ref.abs().max(), (got - ref).abs().max())


@pytest.mark.parametrize(("name", "prediction", "steps", "eta", "start"), HALF)
def test_table_matches_the_scheduler_fp16(name: str, prediction: str, steps: int, eta: float, start: int) -> None:
    """In half precision diffusers' DDIM computes in fp16 and the table in fp32: they agree to fp16 rounding."""
    ref, got = _both(name, prediction, steps, eta, start, torch.float16)
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    r, g = ref.float().flatten(), got.float().flatten()
    assert torch.corrcoef(torch.stack([r, g]))[0, 1] > 0.999
    assert (g - r).abs().max().item() < 0.01 * max(r.abs().max().item(), 1.0)


def test_unguided_steps_match() -> None:
    ref, got = _both("ddim", "epsilon", 6, 0.0, 0, torch.float32, guided=False)
    assert torch.allclose(ref, got, atol=2e-5)


@pytest.mark.parametrize(
    ("name", "setting", "phrase"),
    [
        ("ddim", {"clip_sample": True}, "clip_sample is on"),
        ("ddim", {"thresholding": True}, "thresholding is on"),
        ("dpm", {"solver_type": "heun"}, "solver_type is 'heun' (expected 'midpoint')"),
        ("dpm", {"prediction_type": "flow_prediction"}, "prediction_type is 'flow_prediction'"),
    ],
)
def test_what_the_table_cannot_express_is_refused_when_the_sampler_is_made(
    name: str, setting: dict[str, object], phrase: str
) -> None:
    """No second implementation to fall back on: a configuration outside the rows is a request error that
    names the setting, and the other sampler, which reads none of it, still serves the folder."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    config = {**SCHEDULER_CONFIG, **setting}
    with pytest.raises(InvalidRequest, match=re.escape(phrase)) as caught:
        make_scheduler(name, config, 10)
    assert caught.value.field == "scheduler" and "scheduler_config.json" in str(caught.value)
    direct = (DDIMScheduler if name == "ddim" else DPMSolverMultistepScheduler).from_config(config)
    direct.set_timesteps(10)
    assert unsupported(direct) is not None
    with pytest.raises(ValueError, match=re.escape(phrase)):
        step_table(direct)
    if "clip_sample" in setting:  # DPM-Solver reads no clip_sample: it samples this folder
        other = make_scheduler("dpm", config, 10)
        other.set_timesteps(10)
        assert unsupported(other) is None and len(step_table(other)) == 10


def test_the_engine_refuses_a_sampler_its_folder_does_not_allow_at_the_door(
    tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = tiny_engine.model
    monkeypatch.setattr(m, "scheduler_config", {**m.scheduler_config, "clip_sample": True})
    req = GenerateRequest("a bell", duration=1.0, steps=3, seed=1)
    with pytest.raises(InvalidRequest, match="clip_sample is on"):
        tiny_engine.check(req)
    with pytest.raises(InvalidRequest, match="choose dpm"):
        tiny_engine.generate(req)
    assert len(tiny_engine.generate(GenerateRequest("a bell", duration=1.0, steps=3, seed=1, scheduler="dpm")).audio)


def test_the_engine_never_calls_a_scheduler_step(
    tiny_engine: Engine, inputs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One implementation of the step: the schedulers give timesteps, alphas and sigmas, never a step."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the engine called a scheduler's step")

    for cls in (DDIMScheduler, DPMSolverMultistepScheduler):
        monkeypatch.setattr(cls, "step", refuse)
    for mode, values in [REQUESTS[1], REQUESTS[6], REQUESTS[7]]:
        clip = tiny_engine.generate(_request(mode, values, inputs, seed=5))
        assert np.isfinite(clip.audio).all() and len(clip.audio) > 0


def test_table_rows_and_timesteps() -> None:
    s = make_scheduler("ddim", _config("epsilon"), 8)
    s.set_timesteps(8)
    t = step_table(s, 3, 0.0)
    assert t is not None and len(t) == 5 and t.coef.shape == (5, 7) and not t.noisy
    assert t.timesteps.tolist() == s.timesteps[3:].tolist()
    assert step_table(s, 8) is not None and len(step_table(s, 8) or []) == 0  # nothing left: transfer at strength 0


def test_cancel_and_progress_every_step() -> None:
    s = make_scheduler("ddim", _config("epsilon"), 6)
    s.set_timesteps(6)
    table = step_table(s)
    assert table is not None
    x = torch.randn(SHAPE)
    seen: list[tuple[int, int]] = []
    out = table_denoise(FakeUNet(), table, x, _conditioning(torch.float32), progress=lambda i, n: seen.append((i, n)))
    assert seen == [(i, 6) for i in range(1, 7)] and out.shape == x.shape
    calls = iter([False, False, True])
    with pytest.raises(Cancelled, match="before step 3 of 6"):
        table_denoise(FakeUNet(), table, x, _conditioning(torch.float32), cancel=lambda: next(calls))


def test_circular_unets_of_one_unet_share_a_captured_step() -> None:
    inner = FakeUNet()
    assert program_key(CircularUNet(inner, 4)) == program_key(CircularUNet(inner, 4))
    assert program_key(CircularUNet(inner, 4)) != program_key(CircularUNet(FakeUNet(), 4))
    assert program_key(inner) != program_key(CircularUNet(inner, 4))


def test_graphs_need_cuda(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="CUDA graphs need a CUDA device"):
        Engine.load(tiny_model_dir, device="cpu", graphs=True)
    assert Engine.load(tiny_model_dir, device="cpu").loop == "table"
    assert Engine.load(tiny_model_dir, device="cpu", graphs=False).loop == "table"
    with pytest.raises(ValueError, match="loop: expected one of table, graphs"):
        Engine(Engine.load(tiny_model_dir, device="cpu").model, loop="scheduler")


# -- whole requests through the engine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fast-inputs")
    sr = 16000
    t = np.arange(int(2.3 * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.02 * np.random.default_rng(0).standard_normal(len(t))).astype(
        np.float32
    )
    sf.write(d / "in.wav", wave, sr)
    return {"in": str(d / "in.wav")}


REQUESTS = [
    ("generate", {"duration": 1.37, "scheduler": "dpm", "steps": 7}),
    ("generate", {"duration": 2.0, "eta": 1.0, "candidates": 2, "steps": 5}),
    ("generate", {"duration": 1.5, "loop": True, "steps": 4}),
    ("generate", {"bpm": 97, "bars": 1, "steps": 4, "guidance": 1.0}),
    ("variation", {"input": "in", "duration": 3.1, "steps": 4}),
    ("transfer", {"input": "in", "strength": 0.6, "steps": 10}),
    ("transfer", {"input": "in", "strength": 0.5, "steps": 8, "scheduler": "dpm"}),
    ("inpaint", {"input": "in", "start": 0.5, "end": 1.2, "steps": 5, "eta": 1.0}),
    ("upsample", {"input": "in", "steps": 4}),
    ("continue", {"input": "in", "seconds": 1.1, "steps": 4}),
]


def _request(mode: str, values: dict, inputs: dict[str, str], seed: int) -> GenerateRequest:
    """One of :data:`REQUESTS` as a request (its input file named, a prompt where the mode takes one)."""
    v = {"seed": seed, "sample_rate": 16000, "normalize_db": None, **values}
    if "input" in v:
        v["input_path"] = inputs[v.pop("input")]
    if mode != "variation":
        v.setdefault("prompt", "a glassy bell")
    return build_request(mode, v)


@pytest.mark.parametrize(("mode", "values"), REQUESTS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(REQUESTS)])
@pytest.mark.parametrize("levels", [2, 4])
def test_every_mode_same_clip_as_diffusers_steps(
    tiny_model_dir: Path, tiny4_engine: Engine, inputs: dict[str, str], mode: str, values: dict, levels: int
) -> None:
    """The engine's clip, every mode, against the same engine with diffusers' ``step`` in its loop (the
    oracle): the same clip to float32 rounding, the same candidate chosen."""
    base = tiny4_engine if levels == 4 else Engine.load(tiny_model_dir, device="cpu")
    req = _request(mode, values, inputs, seed=21)
    ref = OracleEngine(base.model, base.decoder).generate(req)
    got = base.generate(req)
    assert base.loop == "table"
    assert len(got.audio) == len(ref.audio) and got.chosen == ref.chosen
    err = float(np.max(np.abs(got.audio - ref.audio)))
    assert err <= 1e-4 * max(1.0, float(np.max(np.abs(ref.audio)))), err


# -- CUDA graphs ----------------------------------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
def test_graphs_same_clip_as_diffusers_steps_on_cuda(tiny4_engine: Engine, inputs: dict[str, str], dtype: str) -> None:
    path = tiny4_engine.model.path
    plain = Engine.load(path, device="cuda", dtype=dtype, graphs=False)
    ref = OracleEngine(plain.model, plain.decoder, loop="table")
    fast = Engine.load(path, device="cuda", dtype=dtype)
    assert fast.loop == "graphs" and fast.graphs is not None
    for mode, values in REQUESTS:
        req = _request(mode, values, inputs, seed=4)
        a, b = ref.generate(req).audio, fast.generate(req).audio
        assert len(a) == len(b) and np.isfinite(b).all()
        if dtype == "fp32":
            assert np.max(np.abs(a - b)) <= 1e-3 * max(1.0, float(np.max(np.abs(a)))), mode
        else:
            assert np.corrcoef(a, b)[0, 1] >= 0.99, mode
    captured = len(fast.graphs)
    fast.generate(GenerateRequest("a glassy bell", duration=1.37, steps=7, scheduler="dpm", seed=9))
    assert len(fast.graphs) == captured  # the same shape replays the step captured before


@pytest.mark.cuda
@cuda
def test_graph_cache_keeps_the_most_recent(tiny_model_dir: Path) -> None:
    fast = Engine.load(tiny_model_dir, device="cuda")
    assert fast.graphs is not None
    fast.graphs.capacity = 2
    for seconds in (1.0, 1.5, 2.0):
        fast.generate(GenerateRequest("a bell", duration=seconds, steps=3, seed=1))
    assert len(fast.graphs) == 2


def test_serve_warms_up_before_it_says_ready(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``serve --warmup`` says how long the model took to load, generates its warm-up clips before the listening
    line, and then serves a job."""
    from osc_helpers import Client, Serve

    s = Serve(tiny_model_dir, tmp_path / "clips", 9, extra=["--no-audition", "--warmup"])
    try:
        out = s.output()
        loaded = next(i for i, line in enumerate(s.lines) if line.startswith("model loaded in "))
        warm = next(i for i, line in enumerate(s.lines) if line.startswith("warmed up in "))
        ready = next(i for i, line in enumerate(s.lines) if line.startswith("listening on udp://"))
        assert loaded < warm < ready and "(table loop)" in s.lines[warm], out
        # where the loading's time went, each part timed (a slow start's cause, e.g. a first ONNX export)
        split = re.fullmatch(r"model loaded in ([\d.]+) s \((.+)\)", s.lines[loaded])
        assert split, s.lines[loaded]
        parts = re.findall(r"([a-z ]+) ([\d.]+) s(?:, |$)", split[2])
        assert [what for what, _ in parts] == ["imports", "weights", "onto cpu", "hash", "decoder"], s.lines[loaded]
        assert sum(float(t) for _, t in parts) <= float(split[1]) + 0.3, s.lines[loaded]  # each rounded to 0.1 s
        c = Client(s.address)
        c.send("/audioldm/generate", "w1", "a bell", "duration", 0.5, "steps", 2, "seed", 3)
        done = c.replies.until(lambda m: m[0] in ("/audioldm/done", "/audioldm/fail"), timeout=120)[-1]
        assert done[0] == "/audioldm/done" and Path(str(done[1][1])).is_file(), done
        c.close()
    finally:
        s.stop()


CAPTURED_REQ = GenerateRequest("a bell", duration=1.1, steps=4, seed=8, eta=1.0, sample_rate=16000, normalize_db=None)


def _as_on_cuda(engine: Engine) -> tuple[Engine, TorchDecoder]:
    """An engine over ``engine``'s model set up as on a CUDA device (graphs for the steps and the decode)."""
    m = engine.model
    decoder = TorchDecoder(m.vae, m.vocoder, graphs=True)
    eng = Engine(m, decoder, loop="table")
    eng.loop, eng.graphs = "graphs", StepGraphs()
    decoder.graphs = True
    return eng, decoder


def test_a_failed_capture_falls_back_to_the_same_clip(
    tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A GPU whose driver refuses a capture still makes the clip, the same one, and says so once."""
    from audioldm_daw.engine import cuda_graphs, decode

    def refuse(*_a: object, **_k: object) -> None:
        raise cuda_graphs.CaptureError("CUDA graph capture failed (operation not permitted when stream is capturing)")

    monkeypatch.setattr(StepGraphs, "step", refuse)
    monkeypatch.setattr(decode, "capture", refuse)
    ref = tiny_engine.generate(CAPTURED_REQ)
    eng, decoder = _as_on_cuda(tiny_engine)
    with caplog.at_level("WARNING"):
        got = eng.generate(CAPTURED_REQ)
    assert eng.loop == "table" and eng.graphs is None and decoder.graphs is False
    assert np.max(np.abs(got.audio - ref.audio)) <= 1e-4
    text = caplog.text
    assert "running the steps without CUDA graphs" in text and "decoding without CUDA graphs" in text


def test_a_capture_held_off_by_a_compilation_runs_uncaptured_once(tiny_engine: Engine) -> None:
    """While a background compilation holds the GPU (CaptureBusy), a clip that needs a new capture runs its
    steps and its decode uncaptured, the same clip, and the engine keeps its graphs for the next one."""
    from audioldm_daw.engine import cuda_graphs

    ref = tiny_engine.generate(CAPTURED_REQ)
    eng, decoder = _as_on_cuda(tiny_engine)
    with cuda_graphs.CAPTURE_LOCK:  # what the compile thread holds; capture() checks it before any CUDA call
        got = eng.generate(CAPTURED_REQ)
    assert eng.loop == "graphs" and isinstance(eng.graphs, StepGraphs) and decoder.graphs is True
    assert np.max(np.abs(got.audio - ref.audio)) <= 1e-4


def test_a_graph_of_older_code_serves_until_the_new_one_can_be_captured() -> None:
    from audioldm_daw.engine.cuda_graphs import CAPTURE_LOCK, CaptureBusy, GraphCache, capture

    def busy() -> str:
        raise CaptureBusy("a compilation is running on the GPU")

    cache: GraphCache[str] = GraphCache(capacity=2)
    assert cache.get("k", lambda: "plain", version=0) == "plain"
    assert cache.get("k", busy, version=1) == "plain"  # the compiled code cannot be captured yet
    assert cache.get("k", lambda: "compiled", version=1) == "compiled"
    assert cache.get("k", busy, version=1) == "compiled" and len(cache) == 1
    with pytest.raises(CaptureBusy):
        cache.get("other", busy)  # nothing older to fall back on: the caller runs uncaptured
    assert len(cache) == 1
    with CAPTURE_LOCK, pytest.raises(CaptureBusy, match="compilation"):
        capture(lambda: None, torch.device("cpu"), lambda: None, None)
