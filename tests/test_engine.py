"""Engine core on the tiny random model: parity with diffusers, lengths, seeds, cancel, candidates,
recall from sidecars, and errors that say what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioldm_daw.engine import Cancelled, Engine, EngineError, GenerateRequest, InvalidRequest, ModelLoadError
from audioldm_daw.engine.request import build_request
from audioldm_daw.engine.sampling import initial_noise


def _req(**kw) -> GenerateRequest:
    base = {"prompt": "a low piano melody", "duration": 1.28, "steps": 4, "seed": 11, "sample_rate": 16000}
    base.update(kw)
    return GenerateRequest(base.pop("prompt"), **base)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    return float(np.mean(a * b))


def _pipeline_parity(engine: Engine, scheduler: str, duration: float, steps: int = 6) -> float:
    """Correlation of the engine's clip with diffusers' AudioLDMPipeline on the same weights, seed, steps,
    guidance, negative prompt, scheduler and duration (fp32; the engine's 5 ms fades left out)."""
    from diffusers import AudioLDMPipeline

    from audioldm_daw.engine.schedulers import make_scheduler

    m = engine.model
    pipe = AudioLDMPipeline(
        vae=m.vae,
        text_encoder=m.text_encoder,
        tokenizer=m.tokenizer,
        unet=m.unet,
        scheduler=make_scheduler(scheduler, m.scheduler_config, steps),  # the spacing the engine picks
        vocoder=m.vocoder,
    )
    pipe.set_progress_bar_config(disable=True)
    guidance, seed = 3.0, 1234
    ref = pipe(
        "a fast hi-hat pattern",
        audio_length_in_s=duration,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        negative_prompt="noise",
    ).audios[0]
    clip = engine.generate(
        _req(
            prompt="a fast hi-hat pattern",
            duration=duration,
            steps=steps,
            guidance=guidance,
            seed=seed,
            scheduler=scheduler,
            negative="noise",
            normalize_db=None,
        )
    )
    assert len(clip.audio) == round(duration * 16000)
    n = min(len(ref), len(clip.audio))
    assert n >= int(duration * 16000)  # diffusers cuts at int(), the engine rounds: at most one sample apart
    edge = 200  # the engine's 5 ms fades; the pipeline has none
    return _corr(clip.audio[edge : n - edge], ref[edge : n - edge])


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_matches_diffusers_pipeline(tiny_engine: Engine, scheduler: str) -> None:
    assert _pipeline_parity(tiny_engine, scheduler, 2.56) >= 0.999


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
@pytest.mark.parametrize("duration", [0.7, 2.0, 2.5, 7.3, 10.0, 10.24])
def test_matches_diffusers_pipeline_at_any_duration_on_a_4_level_unet(
    tiny4_engine: Engine, scheduler: str, duration: float
) -> None:
    """Durations off every multiple of the UNet's downsampling: the latent length is diffusers' own."""
    geometry = tiny4_engine.model.geometry
    assert (geometry.unet_multiple, geometry.samples_per_cell) == (8, 640)  # AudioLDM's own
    assert _pipeline_parity(tiny4_engine, scheduler, duration, steps=5) >= 0.999


def test_initial_noise_is_diffusers_randn_tensor() -> None:
    from diffusers.utils.torch_utils import randn_tensor

    ours, _ = initial_noise((2, 4, 8, 16), 42, torch.device("cpu"), torch.float32)
    theirs = randn_tensor((2, 4, 8, 16), generator=torch.Generator("cpu").manual_seed(42), dtype=torch.float32)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize(
    ("duration", "sr"),
    [(0.7, 48000), (7.3, 16000), (12.0, 44100), (0.5, 22050), (0.9, 32000), (2.3, 88200), (1.1, 192000)],
)
def test_exact_length(tiny_engine: Engine, duration: float, sr: int) -> None:
    clip = tiny_engine.generate(_req(duration=duration, sample_rate=sr, steps=2))
    assert len(clip.audio) == round(duration * sr)
    assert clip.sample_rate == sr
    assert np.all(np.isfinite(clip.audio)) and np.max(np.abs(clip.audio)) > 0


@pytest.mark.parametrize("sr", [88200, 96000, 176400])
def test_high_rate_clip_is_band_limited_like_a_48k_one(tiny_engine: Engine, sr: int) -> None:
    """A clip at a high session rate holds the model's band (up to 8 kHz for a 16 kHz model) and no images
    of it above: the same share of its energy above 9 kHz as the 48 kHz clip of the same seed."""

    def above_9k(audio: np.ndarray, rate: int) -> float:
        power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        return float(power[np.fft.rfftfreq(len(audio), 1 / rate) > 9000].sum() / power.sum())

    high = tiny_engine.generate(_req(duration=1.3, sample_rate=sr, steps=2, seed=3))
    ref = tiny_engine.generate(_req(duration=1.3, sample_rate=48000, steps=2, seed=3))
    share = above_9k(high.audio, sr)
    assert share < 0.01
    assert share == pytest.approx(above_9k(ref.audio, 48000), abs=1e-3)


def test_tempo_length_is_exact(tiny_engine: Engine) -> None:
    clip = tiny_engine.generate(_req(duration=None, bpm=128, bars=2, sample_rate=44100, steps=2))
    assert len(clip.audio) == round(2 * 4 * 60 / 128 * 44100)
    assert clip.seconds == pytest.approx(3.75) and clip.request.seconds == pytest.approx(3.75)


def test_same_seed_same_audio_other_seed_differs(tiny_engine: Engine) -> None:
    a = tiny_engine.generate(_req(seed=5)).audio
    b = tiny_engine.generate(_req(seed=5)).audio
    c = tiny_engine.generate(_req(seed=6)).audio
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_missing_seed_is_drawn_and_reported(tiny_engine: Engine) -> None:
    clip = tiny_engine.generate(_req(seed=None, steps=1))
    assert isinstance(clip.request.seed, int)
    again = tiny_engine.generate(_req(seed=clip.request.seed, steps=1))
    assert np.array_equal(clip.audio, again.audio)


def test_output_level_and_fades(tiny_engine: Engine) -> None:
    clip = tiny_engine.generate(_req(normalize_db=-6.0, sample_rate=48000))
    assert np.max(np.abs(clip.audio)) == pytest.approx(10 ** (-6 / 20), rel=1e-4)
    assert abs(clip.audio[0]) < 1e-6 and abs(clip.audio[-1]) < 1e-3


def test_cancel_lands_within_one_step(tiny_engine: Engine) -> None:
    calls = []
    hook = tiny_engine.model.unet.register_forward_hook(lambda *a: calls.append(1))
    seen: list[int] = []
    try:
        with pytest.raises(Cancelled):
            tiny_engine.generate(
                _req(steps=50), progress=lambda done, total: seen.append(done), cancel=lambda: len(seen) >= 3
            )
    finally:
        hook.remove()
    assert seen == [1, 2, 3]
    assert len(calls) == 3  # no UNet call after the cancel request


def test_progress_every_step(tiny_engine: Engine) -> None:
    seen: list[tuple[int, int]] = []
    tiny_engine.generate(_req(steps=5), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 5) for i in range(1, 6)]


def test_candidates_are_scored_with_clap(tiny_engine: Engine) -> None:
    clip = tiny_engine.generate(_req(candidates=3, steps=3))
    scores = clip.candidate_scores
    assert scores is not None and len(scores) == 3
    assert all(-1.0 <= s <= 1.0 for s in scores) and len(set(scores)) == 3
    assert clip.chosen == int(np.argmax(scores))


@pytest.mark.parametrize(("fake_scores", "chosen"), [([0.9, 0.1, 0.3], 0), ([0.1, 0.3, 0.9], 2)])
def test_candidates_keep_the_best_scoring_one(
    tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch, fake_scores: list[float], chosen: int
) -> None:
    import audioldm_daw.engine.engine as engine_module

    monkeypatch.setattr(engine_module, "clap_scores", lambda *a, **k: list(fake_scores))
    clip = tiny_engine.generate(_req(candidates=3, normalize_db=None, steps=3))
    assert clip.chosen == chosen
    # candidate 0 of K is the K=1 clip: the seed's noise is drawn as one batch
    single = tiny_engine.generate(_req(candidates=1, normalize_db=None, steps=3)).audio
    diff = float(np.max(np.abs(clip.audio - single))) / float(np.max(np.abs(single)))
    if chosen == 0:
        assert diff < 1e-4
    else:
        assert diff > 1e-2


def test_candidates_without_audio_tower_say_so(tiny_model_dir_no_clap: Path) -> None:
    engine = Engine.load(tiny_model_dir_no_clap, device="cpu")
    with pytest.raises(EngineError, match="clap/"):
        engine.generate(_req(candidates=2))


def test_sidecar_regenerates_the_same_audio(tiny_engine: Engine, tmp_path: Path) -> None:
    res = tiny_engine.render(_req(seed=None, sample_rate=22050, sample_format="pcm24"), tmp_path / "a.wav")
    side = json.loads(res.sidecar.read_text())
    assert side["request"]["seed"] == res.clip.request.seed
    assert side["model"]["hash"] == tiny_engine.model.content_hash
    assert sf.info(str(res.path)).subtype == "PCM_24"
    again = tiny_engine.render(tiny_engine.request_from_sidecar(res.sidecar), tmp_path / "b.wav")
    a, sr_a = sf.read(res.path)
    b, sr_b = sf.read(again.path)
    assert sr_a == sr_b == 22050
    assert np.array_equal(a, b)
    assert not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"duration": -1}, r"duration: expected a number in 0.5..60, got int -1 \(out of range\)"),
        ({"duration": float("nan")}, r"duration: expected .*\(not a finite number\)"),
        ({"duration": 61}, "duration"),
        ({"steps": 0}, "steps: expected an integer in 1..1000"),
        ({"steps": 2.5}, r"steps: expected an integer .*\(not a whole number\)"),
        ({"scheduler": "euler"}, "scheduler: expected one of ddim, dpm"),
        ({"guidance": -1}, "guidance"),
        (
            {"sample_rate": 24000},
            "sample_rate: expected one of 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000",
        ),  # the caller's name
        ({"candidates": 9}, "candidates"),
        ({"duration": None, "bpm": 120}, "bpm: give both bpm and bars"),
        ({"bpm": 120, "bars": 2, "duration": 3.0}, "duration: give either duration or bpm and bars, not both"),
        ({"duration": None, "bpm": 20, "bars": 256}, r"bars: bars at bpm make 3072.000 s, expected 0.5..60 s"),
        ({"duration": "10"}, "duration: expected a number"),
        ({"prompt": "   "}, "prompt: expected what the clip should sound like, got an empty string"),
        ({"mode": "inpaint", "input_path": "x.wav"}, r"start: missing \(expected a number in 0..1200\)"),
        ({"mode": "inpaint", "input_path": "x.wav", "start": 2.0, "end": 1.0}, r"end: expected a time after start"),
        ({"mode": "transfer", "input_path": "x.wav", "prompt": "y", "duration": 3.0}, "duration: applies to generate"),
        ({"mode": "variation", "input_path": "x.wav", "prompt": "y"}, "prompt: applies to generate, transfer"),
        ({"mode": "generate", "prompt": "y", "strength": 0.5}, "strength: applies to transfer, not to generate"),
    ],
)
def test_bad_requests_say_what_is_wrong(kw: dict, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        if "mode" in kw:
            build_request(kw.pop("mode"), kw)
        else:
            _req(**kw)


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        Engine.load(tmp_path / "nothing-here")


def test_broken_model_folders(tiny_model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    shutil.copytree(tiny_model_dir, missing)
    shutil.rmtree(missing / "vocoder")
    with pytest.raises(ModelLoadError, match="missing vocoder/"):
        Engine.load(missing)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    (corrupt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match="could not load"):
        Engine.load(corrupt)
    no_index = tmp_path / "noindex"
    shutil.copytree(tiny_model_dir, no_index)
    (no_index / "model_index.json").unlink()
    with pytest.raises(ModelLoadError, match=r"model_index\.json"):
        Engine.load(no_index)


def test_hub_id_offline_without_cache_names_the_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match=r"cvssp/audioldm-s-full-v2.*local folder"):
        Engine.load("cvssp/audioldm-s-full-v2")


@pytest.mark.parametrize("steps", [1, 50, 500, 501, 999, 1000])
def test_every_allowed_ddim_step_count_stays_inside_the_schedule(tiny_engine: Engine, steps: int) -> None:
    from audioldm_daw.engine.schedulers import make_scheduler

    s = make_scheduler("ddim", tiny_engine.model.scheduler_config, steps)
    s.set_timesteps(steps)
    t = s.timesteps
    assert len(t) == steps and int(t.max()) <= 999 and int(t.min()) >= 0
    if steps > 500:
        assert int(t.max()) == 999  # the whole schedule, from pure noise


def test_largest_seed_is_accepted_exactly() -> None:
    assert _req(seed=2**63 - 1).seed == 2**63 - 1
    with pytest.raises(InvalidRequest, match="seed"):
        _req(seed=2**63)


def test_a_prompt_cut_by_the_text_encoder_is_reported(tiny_engine: Engine, tmp_path: Path) -> None:
    limit = tiny_engine.model.tokenizer.model_max_length
    words = " ".join(f"word{i}" for i in range(limit + 20))
    res = tiny_engine.render(_req(prompt=words, steps=1), tmp_path / "long.wav")
    clip = res.clip
    assert len(clip.warnings) == 1 and clip.warnings[0].startswith("prompt: ")
    assert f"the text encoder reads {limit}" in clip.warnings[0]
    assert clip.prompt_used and words.startswith(clip.prompt_used.strip()) and len(clip.prompt_used) < len(words)
    side = json.loads(res.sidecar.read_text())
    assert side["warnings"] == clip.warnings and side["prompt_used"] == clip.prompt_used
    short = tiny_engine.generate(_req(steps=1))
    assert short.warnings == [] and short.prompt_used is None


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_sampling_starts_at_the_noisiest_step_for_any_count(tiny_engine: Engine, scheduler: str) -> None:
    """Trailing spacing wherever a count does not divide the 1000 training steps: the first timestep is
    within one step of t = 999 (leading spacing gave t = 895 at 150 steps); divisors keep the original's
    timesteps, range(0, 1000, 1000 // steps) + 1."""
    from audioldm_daw.engine.schedulers import make_scheduler

    for steps in [*range(1, 60), 99, 100, 150, 199, 200, 250, 333, 400, 500, 501, 750, 999, 1000]:
        s = make_scheduler(scheduler, tiny_engine.model.scheduler_config, steps)
        s.set_timesteps(steps)
        t = [int(x) for x in s.timesteps]
        assert len(t) == steps and max(t) <= 999 and min(t) >= 0, steps
        assert t[0] >= 999 - 1000 / steps, (steps, t[0])
        if scheduler == "ddim" and 1000 % steps == 0 and steps <= 500:
            assert t == sorted((i + 1 for i in range(0, 1000, 1000 // steps)), reverse=True), steps
    legacy = make_scheduler(scheduler, tiny_engine.model.scheduler_config, 150, recipe=1)
    legacy.set_timesteps(150)
    assert int(legacy.timesteps[0]) < 900 or scheduler == "dpm"  # what recipe 1 did (kept for recall)


def test_preset_original_ranks_three_candidates_where_it_can(tiny_engine: Engine, tiny_model_dir_no_clap: Path) -> None:
    request = build_request("generate", {"prompt": "a bell", "preset": "original", "steps": 2, "duration": 0.5})
    assert (request.steps, request.eta, request.candidates) == (2, 1.0, None)
    clip = tiny_engine.generate(request)
    assert clip.request.candidates == 3 and len(clip.candidate_scores) == 3 and clip.warnings == []
    plain = Engine.load(tiny_model_dir_no_clap, device="cpu").generate(request)
    assert plain.request.candidates == 1 and plain.candidate_scores is None
    assert plain.warnings and plain.warnings[0].startswith("candidates: 1, not 3")


def test_recipe_is_recorded_and_old_recipes_recall(tiny_engine: Engine) -> None:
    new = _req(duration=1.0)
    assert new.recipe == 3 and new.to_dict()["recipe"] == 3
    assert GenerateRequest.from_dict(new.to_dict()) == new
    for recipe in (1, 2):
        old = GenerateRequest.from_dict({**new.to_dict(), "recipe": recipe})
        assert len(tiny_engine.generate(old).audio) == len(tiny_engine.generate(new).audio) == 16000
    with pytest.raises(InvalidRequest, match="recipe: expected one of 1, 2, 3"):
        GenerateRequest("x", recipe=4)
