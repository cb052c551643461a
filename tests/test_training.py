"""The training pipeline on tiny configs: every stage learns, resumes exactly, and assembles into a folder
the engine loads; fine-tuning on uncaptioned audio with a broken file skips it and records its parent.

Audio is made here with numpy (tones, chirps, noise) at assorted rates and channel counts; nothing is
downloaded. Runs are a handful of steps on tiny models, so the file stays fast on a 2-core CPU.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

pytestmark = pytest.mark.timeout(300)

CAPTIONS = [
    "a low sine tone",
    "a high sine tone",
    "white noise",
    "a rising sweep",
    "a soft beep pattern",
    "a falling sweep",
]
LONG_CAPTION = "a long low drone"


def _clip(kind: int, sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    if kind == 0:
        x = np.sin(2 * np.pi * 220 * t)
    elif kind == 1:
        x = np.sin(2 * np.pi * 1760 * t)
    elif kind == 2:
        x = rng.standard_normal(len(t))
    elif kind == 3:
        x = np.sin(2 * np.pi * (200 + 1500 * t) * t)
    elif kind == 4:
        x = np.sin(2 * np.pi * 1000 * t) * (np.sin(2 * np.pi * 4 * t) > 0)
    else:
        x = np.sin(2 * np.pi * (2000 - 1500 * t) * t)
    return (0.3 * x / max(1e-9, np.abs(x).max())).astype(np.float32)


def _write_folder(root: Path, captions: bool, seed: int) -> Path:
    """Six short clips at 16/22.05/44.1/48 kHz, some stereo, one FLAC; a metadata.jsonl when captioned."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    rates = [16000, 22050, 44100, 48000, 16000, 22050]
    for i, sr in enumerate(rates):
        x = _clip(i, sr, 0.6 + 0.15 * i, rng)
        if i % 2:
            x = np.stack([x, 0.5 * x], axis=1)
        name = f"clip{i}.flac" if i == 3 else f"clip{i}.wav"
        sf.write(root / name, x, sr)
        rows.append({"file": name, "caption": CAPTIONS[i]})
    if captions:
        # One clip longer than CLAP's 10 s window: CLAP crops it at random each visit instead of caching it.
        sf.write(root / "long.wav", 0.5 * _clip(0, 16000, 10.5, rng), 16000)
        rows.append({"file": "long.wav", "caption": LONG_CAPTION})
        (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine OpenMP threads that
    spin against other processes make every step several times slower; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with single_thread():
        yield


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_folder(tmp_path_factory.mktemp("train-audio"), captions=True, seed=0)


@pytest.fixture(scope="session")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's sample folder: no captions, a sub-folder, and one broken file."""
    root = _write_folder(tmp_path_factory.mktemp("user-audio") / "samples", captions=False, seed=1)
    (root / "sub").mkdir()
    sf.write(root / "sub" / "hit.wav", _clip(4, 44100, 0.3, np.random.default_rng(2)), 44100)
    (root / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    return root


# Tiny crop sizes: VAE 0.32 s, vocoder 16 frames, LDM 0.64 s.
STAGE_KW: dict[str, dict[str, Any]] = {
    "clap": {},
    "vae": {"seconds": 0.32},
    "vocoder": {"segment_frames": 16},
    "ldm": {"seconds": 0.64},
}
LR = {"clap": 1e-3, "vae": 1e-3, "vocoder": 1e-3, "ldm": 1e-3}


def _stage(name: str, runs: dict[str, Path] | None = None, **extra: Any) -> Any:
    from audioldm_daw.workbench.training.clap import ClapStage
    from audioldm_daw.workbench.training.ldm import LdmOptions, LdmStage
    from audioldm_daw.workbench.training.vae import VaeOptions, VaeStage
    from audioldm_daw.workbench.training.vocoder import VocoderOptions, VocoderStage

    kw = {**STAGE_KW[name], **extra}
    if name == "clap":
        return ClapStage()
    if name == "vae":
        return VaeStage(VaeOptions(**kw))
    if name == "vocoder":
        return VocoderStage(VocoderOptions(**kw))
    assert runs is not None
    return LdmStage(LdmOptions(vae=runs["vae"], clap=runs["clap"], **kw))


def _config(name: str, out: Path, data: Path, steps: int, **kw: Any) -> Any:
    from audioldm_daw.workbench.training.loop import TrainConfig

    base: dict[str, Any] = {"preset": "tiny", "batch_size": 3, "lr": LR[name], "seed": 0, "quiet": True}
    base.update(kw)
    return TrainConfig(out=out, data=data, steps=steps, **base)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> dict[str, Any]:
    """Each stage trained a few steps on one fixed batch (its losses are what the learning tests check)."""
    from audioldm_daw.workbench.training.loop import run

    root = tmp_path_factory.mktemp("runs")
    out: dict[str, Any] = {"losses": {}, "stages": {}}
    with single_thread():  # session fixtures are set up before the per-test one_thread
        for name, steps in (("clap", 6), ("vae", 6), ("vocoder", 6), ("ldm", 6)):
            stage = _stage(name, out)
            res = run(stage, _config(name, root / name, audio_dir, steps, fixed_batch=True, checkpoint_every=100))
            out[name] = root / name
            out["losses"][name] = res.losses
            out["stages"][name] = stage
    return out


@pytest.fixture(scope="session")
def assembled(runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audioldm_daw.bridge.cli import main

    out = tmp_path_factory.mktemp("assembled") / "model"
    argv = ["train", "assemble", "--clap", str(runs["clap"]), "--vae", str(runs["vae"])]
    argv += ["--vocoder", str(runs["vocoder"]), "--ldm", str(runs["ldm"]), "--out", str(out)]
    with single_thread():
        assert main(argv) == 0
    return out


# -- front end and data --------------------------------------------------------------------------------


def test_log_mel_matches_the_paper_settings() -> None:
    import torchaudio

    from audioldm_daw.engine.mel import SILENCE, log_mel

    wave = torch.randn(2, 16000) * 0.1
    mel = log_mel(wave)
    assert mel.shape == (2, 100, 64)  # frames = samples / hop 160, 64 mel bins
    ref = torchaudio.transforms.MelSpectrogram(
        16000,
        n_fft=1024,
        win_length=1024,
        hop_length=160,
        f_min=0,
        f_max=8000,
        n_mels=64,
        power=1,
        norm="slaney",
        mel_scale="slaney",
    )(wave)[..., :100]
    torch.testing.assert_close(mel, torch.log(ref.clamp(min=1e-5)).transpose(1, 2))
    assert torch.allclose(log_mel(torch.zeros(3200)), torch.full((20, 64), SILENCE))


def test_folder_is_read_as_16k_mono_and_bad_files_are_counted(user_dir: Path, tmp_path: Path) -> None:
    from audioldm_daw.workbench.training.data import BatchPlan, load_folder

    folder = load_folder(user_dir, tmp_path / "cache", quiet=True)
    assert len(folder) == 7 and [f for f, _ in folder.skipped] == ["broken.wav"]
    assert "skipped 1 file(s) (1 unreadable)" in folder.summary()
    assert folder.wave(3).ndim == 1  # 48 kHz stereo FLAC -> 16 kHz mono
    assert len(folder.wave(3)) == pytest.approx(16000 * 1.05, abs=2)
    assert all(c is None for c in folder.captions)
    again = load_folder(user_dir, tmp_path / "cache", quiet=True)  # from the cache
    np.testing.assert_array_equal(again.wave(5), folder.wave(5))
    plan = BatchPlan(len(folder), 3, seed=4)
    assert plan.items(5) == BatchPlan(len(folder), 3, seed=4).items(5)
    epoch = [i for s in range(1, 8) for i in plan.items(s)][:7]
    assert sorted(epoch) == list(range(7))  # every clip once per epoch


def test_a_run_folder_inside_the_data_folder_is_not_read_as_data(user_dir: Path, tmp_path: Path) -> None:
    import shutil

    from audioldm_daw.workbench.training.data import load_folder

    data = tmp_path / "data"
    shutil.copytree(user_dir, data)
    run_dir = data / "run"
    first = load_folder(data, run_dir / "cache", quiet=True, exclude=[run_dir])
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "noise.wav").write_bytes((data / "clip0.wav").read_bytes())
    stamp = (run_dir / "cache" / "audio.f32").stat().st_mtime_ns
    again = load_folder(data, run_dir / "cache", quiet=True, exclude=[run_dir])
    assert len(again) == len(first) == 7 and len(again.skipped) == 1
    assert (run_dir / "cache" / "audio.f32").stat().st_mtime_ns == stamp  # the cache was reused


def test_captions_from_jsonl_and_csv(audio_dir: Path, tmp_path: Path) -> None:
    from audioldm_daw.workbench.training.data import load_folder

    folder = load_folder(audio_dir, tmp_path / "a", quiet=True)
    assert dict(zip(folder.files, folder.captions, strict=True))["clip2.wav"] == "white noise"
    csv = tmp_path / "caps.csv"
    csv.write_text(f'file,caption\n{audio_dir}/clip1.wav,"bright, high tone"\n')
    folder = load_folder(audio_dir, tmp_path / "b", captions_file=csv, quiet=True)
    caps = dict(zip(folder.files, folder.captions, strict=True))
    assert caps["clip1.wav"] == "bright, high tone" and caps["clip0.wav"] is None


def test_several_captions_per_clip_and_clap_draws_among_them(audio_dir: Path, tmp_path: Path) -> None:
    """Repeated rows and a ``captions`` list both add phrasings; CLAP sees each of them across visits."""
    import shutil

    from audioldm_daw.workbench.training.clap import ClapStage
    from audioldm_daw.workbench.training.data import load_folder
    from audioldm_daw.workbench.training.loop import run

    data = tmp_path / "data"
    shutil.copytree(audio_dir, data)
    rows = [json.loads(line) for line in (data / "metadata.jsonl").read_text().splitlines()]
    rows[0]["captions"] = [rows[0]["caption"], "a bright tone", "a sine wave"]
    rows.append({"file": rows[1]["file"], "caption": "another phrasing"})
    (data / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = load_folder(data, tmp_path / "cache", quiet=True)
    sets = dict(zip(folder.files, folder.caption_sets, strict=True))
    assert sets[rows[0]["file"]] == [rows[0]["caption"], "a bright tone", "a sine wave"]  # no duplicate
    assert sets[rows[1]["file"]] == [rows[1]["caption"], "another phrasing"]
    assert dict(zip(folder.files, folder.captions, strict=True))[rows[1]["file"]] == rows[1]["caption"]

    stage = ClapStage()
    run(stage, _config("clap", tmp_path / "run", data, 1, batch_size=len(rows) - 1))
    seen: dict[str, set[str]] = {}
    for step in range(1, 25):
        batch = stage.batch(step)
        for k, ids in zip(stage.plan.items(step), batch["input_ids"], strict=True):
            name = folder.files[stage.items[k]]
            seen.setdefault(name, set()).add(stage.tokenizer.decode(ids, skip_special_tokens=True).strip())
    assert seen[rows[0]["file"]] == set(sets[rows[0]["file"]])
    assert seen[rows[1]["file"]] == set(sets[rows[1]["file"]])
    assert len(seen[rows[2]["file"]]) == 1


def test_text_noise_drops_and_inserts_words_at_the_given_rate() -> None:
    from audioldm_daw.workbench.training.clap import ClapOptions, noisy_caption

    caption = "a soft falling melody played quickly on a piano in a high register"
    rng = np.random.default_rng(0)
    assert noisy_caption(caption, 0.0, rng) == caption
    words = caption.split()
    kept = inserted = 0
    for _ in range(400):
        out = noisy_caption(caption, 0.2, rng).split()
        assert out, "never empty"
        kept += sum(w in words for w in out)
        inserted += sum(w not in words for w in out)
    n = 400 * len(words)
    assert 0.75 < kept / n < 0.85 and 0.15 < inserted / n < 0.25, (kept / n, inserted / n)
    assert noisy_caption("one", 0.49, np.random.default_rng(1)) != ""
    a, b = (noisy_caption(caption, 0.2, np.random.default_rng(5)) for _ in range(2))
    assert a == b  # the step's generator decides, so resumed runs see the same noise
    with pytest.raises(ValueError, match="text_noise"):
        ClapOptions(text_noise=0.7)


def test_torch_clap_features_match_the_feature_extractor() -> None:
    from audioldm_daw.engine.architecture import PRESETS, clap_feature_extractor
    from audioldm_daw.engine.clap import ClapAudioFeatures

    fe = clap_feature_extractor(PRESETS["tiny"])
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (48000, 48000 * 10, 1234)]
    ref = fe(waves, sampling_rate=48000, return_tensors="pt")
    feats, longer = ClapAudioFeatures(fe)([torch.from_numpy(w) for w in waves])
    torch.testing.assert_close(feats, ref["input_features"], atol=1e-3, rtol=0)
    assert longer.tolist() == ref["is_longer"].tolist()


# -- every stage learns --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clap", "vae", "vocoder", "ldm"])
def test_stage_loss_goes_down_on_a_fixed_batch(runs: dict[str, Any], name: str) -> None:
    losses = runs["losses"][name]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert min(losses[-2:]) < losses[0], losses
    run_dir = runs[name]
    logged = [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 7))
    assert [r["loss"] for r in logged] == pytest.approx(losses, rel=1e-6)
    component = {"ldm": "unet"}.get(name, name)
    assert (run_dir / component / "config.json").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["steps_per_second"] > 0


def test_vae_scaling_factor_is_one_over_latent_std(runs: dict[str, Any]) -> None:
    summary = json.loads((runs["vae"] / "summary.json").read_text())["exported"]
    cfg = json.loads((runs["vae"] / "vae" / "config.json").read_text())
    assert cfg["scaling_factor"] == pytest.approx(1.0 / summary["latent_std"])


def test_ldm_condition_is_the_clip_audio_embedding_or_the_empty_text(runs: dict[str, Any]) -> None:
    from audioldm_daw.engine.clap import embed_text
    from audioldm_daw.workbench.training.components import load_clap

    stage = runs["stages"]["ldm"]
    clap, tok, _ = load_clap(runs["clap"])
    torch.testing.assert_close(stage.uncond, embed_text(clap, tok, [""])[0])
    stage.opt.cond_drop = 0.5
    dropped = kept = 0
    for step in range(1, 9):
        idx = stage.plan.items(step)
        z, cond = stage.batch(step)
        assert z.shape[1:] == (4, 32, 32)  # tiny VAE: 4 channels, 64 frames / 2, 64 mels / 2
        for row, i in zip(cond, idx, strict=True):
            if torch.equal(row, stage.uncond):
                dropped += 1
            else:
                torch.testing.assert_close(row, stage.cond[i])
                kept += 1
    assert dropped and kept
    stage.opt.cond_drop = 0.1


@pytest.mark.parametrize("level", [0.3, 1.0, 1.2])
def test_perturbed_conditions_stay_unit_and_move_by_the_level_asked(level: float) -> None:
    """Relative noise r gives a cosine of 1/sqrt(1 + r^2) to the original; r is uniform in [0, level]."""
    from audioldm_daw.workbench.training.ldm import perturb_condition

    torch.manual_seed(0)
    cond = torch.nn.functional.normalize(torch.randn(4000, 77), dim=-1)  # an odd width
    moved = perturb_condition(cond, level)
    torch.testing.assert_close(moved.norm(dim=-1), torch.ones(len(cond)))
    cos = (moved * cond).sum(-1)
    r = torch.linspace(0, level, 10001)
    expected = float((1 / torch.sqrt(1 + r**2)).mean())  # E over r ~ U(0, level), noise orthogonal in high dims
    assert float(cos.mean()) == pytest.approx(expected, abs=0.02)
    # the farthest go about as far as the level says (noise is only nearly orthogonal in 77 dimensions)
    assert float(cos.quantile(0.01)) >= 1 / (1 + level**2) ** 0.5 - 0.1 and float(cos.max()) > 0.99


def test_ldm_cond_noise_moves_kept_conditions_and_never_the_unconditional(runs: dict[str, Any]) -> None:
    stage = runs["stages"]["ldm"]
    stage.opt.cond_drop, stage.opt.cond_noise = 0.5, 1.0
    try:
        dropped = moved = 0
        for step in range(1, 9):
            idx = stage.plan.items(step)
            _, cond = stage.batch(step)
            for row, i in zip(cond, idx, strict=True):
                if torch.equal(row, stage.uncond):
                    dropped += 1
                    continue
                assert float(row.norm()) == pytest.approx(1.0, abs=1e-5)
                assert 0.4 < float(row @ stage.cond[i]) < 1.0  # near its own embedding, not on it
                moved += 1
        assert dropped and moved
    finally:
        stage.opt.cond_drop, stage.opt.cond_noise = 0.1, 0.0


def test_ldm_cond_seconds_embeds_a_window_centred_on_the_crop_within_its_clip(runs: dict[str, Any]) -> None:
    stage = runs["stages"]["ldm"]
    crop = stage.frames * 160
    real = stage.folder

    class Ramps:  # every sample is its own index, so a window tells where it starts
        def wave(self, i: int) -> np.ndarray:
            return np.arange(len(real.wave(i)), dtype=np.float32)

    centred = 0
    stage.folder = Ramps()
    try:
        for clip, start in stage.segments:
            n = len(real.wave(clip))
            stage.opt.cond_seconds = None
            np.testing.assert_array_equal(
                stage._condition_window(clip, start, crop), np.arange(start, min(n, start + crop))
            )
            stage.opt.cond_seconds = 60.0
            np.testing.assert_array_equal(stage._condition_window(clip, start, crop), np.arange(n))
            stage.opt.cond_seconds = 1.5 * crop / 16000
            heard = stage._condition_window(clip, start, crop)
            first = int(heard[0])
            np.testing.assert_array_equal(heard, np.arange(first, first + min(n, round(1.5 * crop))))
            assert first <= start and start + min(crop, n) <= first + len(heard)  # the crop is inside
            if crop <= start <= n - 2 * crop:  # room on both sides: centred on the crop
                centred += 1
                assert abs((first + len(heard) / 2) - (start + crop / 2)) <= 1
        assert centred
    finally:
        stage.folder, stage.opt.cond_seconds = real, None


def test_cli_ldm_cond_seconds_caches_the_window_embeddings(
    runs: dict[str, Any], audio_dir: Path, tmp_path: Path
) -> None:
    from audioldm_daw.bridge.cli import main
    from audioldm_daw.engine.clap import ClapAudioFeatures, embed_audio
    from audioldm_daw.workbench.training.components import load_clap
    from audioldm_daw.workbench.training.data import load_folder, plan_segments

    out = tmp_path / "ldm-window"
    argv = ["train", "ldm", "--data", str(audio_dir), "--out", str(out), "--preset", "tiny", "--steps", "1"]
    argv += ["--batch-size", "2", "--vae", str(runs["vae"]), "--clap", str(runs["clap"]), "--seconds", "0.64"]
    assert main([*argv, "--cond-seconds", "2", "--quiet", "--threads", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["stage_options"]["cond_seconds"] == 2.0
    (cache,) = (out / "cache").glob("ldm-*")
    clap, _, fe = load_clap(runs["clap"])
    features = ClapAudioFeatures(fe, torch.float32)
    folder = load_folder(audio_dir, tmp_path / "audio-cache", quiet=True)
    crop = runs["stages"]["ldm"].frames * 160
    segments = plan_segments(folder.lengths.tolist(), crop, 4, 0)
    cond = torch.from_numpy(np.fromfile(cache / "cond.f32", dtype=np.float32).reshape(len(segments), -1))
    moved = 0
    for row, (clip, start) in zip(cond, segments, strict=True):
        wave = np.asarray(folder.wave(clip))
        n = min(len(wave), 32000)
        first = min(max(0, start + crop // 2 - n // 2), len(wave) - n)
        window = embed_audio(clap, features, [torch.from_numpy(wave[first : first + n].copy())], 16000)[0]
        torch.testing.assert_close(row, window, atol=1e-4, rtol=0)
        own = embed_audio(clap, features, [torch.from_numpy(wave[start : start + crop].copy())], 16000)[0]
        moved += len(wave) > crop and not torch.allclose(row, own, atol=1e-3)
    assert moved  # where the clip is longer than the crop, the condition is not the crop's own embedding


@pytest.mark.parametrize("level", [-0.1, 5.0])
def test_ldm_refuses_a_cond_noise_out_of_range(level: float) -> None:
    from audioldm_daw.workbench.training.ldm import LdmOptions

    with pytest.raises(ValueError, match="cond_noise: expected a noise level in \\[0, 4\\]"):
        LdmOptions(vae=Path("v"), clap=Path("c"), cond_noise=level)


@pytest.mark.parametrize("seconds", [0.0, -2.56])
def test_ldm_refuses_a_condition_window_that_is_not_positive(seconds: float) -> None:
    from audioldm_daw.workbench.training.ldm import LdmOptions

    with pytest.raises(ValueError, match="cond_seconds: expected a positive number of seconds"):
        LdmOptions(vae=Path("v"), clap=Path("c"), cond_seconds=seconds)


# -- exact resume --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clap", "vae", "vocoder", "ldm"])
def test_resume_reproduces_the_loss_sequence(runs: dict[str, Any], audio_dir: Path, tmp_path: Path, name: str) -> None:
    import shutil

    from audioldm_daw.workbench.training.loop import run

    # The GAN stages resume with both optimizers (discriminator on from step 2) and the data order live.
    extra = {"adversarial": True, "adv_start": 1} if name in ("vae", "vocoder") else {}
    full = run(_stage(name, runs, **extra), _config(name, tmp_path / "a", audio_dir, 4, checkpoint_every=2))
    resumed_dir = tmp_path / "b"
    shutil.copytree(tmp_path / "a", resumed_dir)
    shutil.rmtree(resumed_dir / "checkpoints" / "step-00000004")
    part = run(_stage(name, runs, **extra), _config(name, resumed_dir, audio_dir, 4, checkpoint_every=2, resume=True))
    assert part.start_step == 2
    assert part.losses == full.losses[2:]  # bit-identical
    logged = [json.loads(line)["loss"] for line in (resumed_dir / "losses.jsonl").read_text().splitlines()]
    assert logged == [round(x, 7) for x in full.losses]


def test_time_limit_checkpoints_exports_and_resumes_where_it_stopped(
    runs: dict[str, Any], audio_dir: Path, tmp_path: Path
) -> None:
    """A run past its wall-clock budget stops after the current step with a checkpoint and an export, and
    ``--resume`` continues from exactly there to the same losses as an uninterrupted run."""
    from audioldm_daw.workbench.training.loop import run

    full = run(_stage("vocoder", runs), _config("vocoder", tmp_path / "full", audio_dir, 3, checkpoint_every=10))
    out = tmp_path / "limited"
    cut = run(_stage("vocoder", runs), _config("vocoder", out, audio_dir, 3, checkpoint_every=10, time_limit=1e-9))
    assert cut.steps == 1 and len(cut.losses) == 1
    assert (out / "checkpoints" / "step-00000001").is_dir()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["stopped_by_time_limit"] is True
    assert (out / "vocoder" / "config.json").is_file()  # exported despite stopping early
    rest = run(_stage("vocoder", runs), _config("vocoder", out, audio_dir, 3, checkpoint_every=10, resume=True))
    assert rest.start_step == 1 and rest.steps == 3
    # equal to float rounding: a GPU's kernels need not repeat the same reduction order after a restart
    assert cut.losses + rest.losses == pytest.approx(full.losses, rel=1e-5)
    assert json.loads((out / "summary.json").read_text())["stopped_by_time_limit"] is False


def test_lr_decay_tail_continues_a_constant_run_from_its_checkpoint(
    runs: dict[str, Any], audio_dir: Path, tmp_path: Path
) -> None:
    """``--decay N`` anneals the LR along a half cosine over the last N steps; a run trained at a constant rate
    and resumed with a larger --steps and a decay takes the tail from where it stopped."""
    from audioldm_daw.workbench.training.loop import lr_factor, run

    out = tmp_path / "tail"
    lr = LR["vocoder"]
    run(_stage("vocoder", runs), _config("vocoder", out, audio_dir, 3, checkpoint_every=3))
    run(_stage("vocoder", runs), _config("vocoder", out, audio_dir, 8, checkpoint_every=4, decay=4, resume=True))
    logged = [json.loads(line)["lr"] for line in (out / "losses.jsonl").read_text().splitlines()]
    assert len(logged) == 8
    assert logged[:4] == pytest.approx([lr] * 4)  # constant, then the tail from step 4 of 8
    tail = logged[3:]
    assert all(b < a for a, b in itertools.pairwise(tail)), tail
    assert tail[-1] == pytest.approx(0.0, abs=1e-12)  # the rate after the last step
    f = lr_factor(warmup=2, steps=10, decay=4)
    assert [round(f(s), 6) for s in (0, 1, 5, 6, 8, 10)] == [0.5, 1.0, 1.0, 1.0, 0.5, 0.0]


def test_lr_decay_must_fit_the_steps(tmp_path: Path) -> None:
    from audioldm_daw.workbench.training.loop import TrainConfig

    for bad in (-1, 11):
        with pytest.raises(ValueError, match="decay"):
            TrainConfig(out=tmp_path, steps=10, decay=bad)


def test_time_limit_must_be_positive(tmp_path: Path) -> None:
    from audioldm_daw.workbench.training.loop import TrainConfig

    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="time_limit"):
            TrainConfig(out=tmp_path, time_limit=bad)


def test_a_deadline_stops_the_run_like_its_time_limit(audio_dir: Path, tmp_path: Path) -> None:
    """A deadline already past when training starts: one step, a checkpoint, the export, and the summary says
    it stopped early (how every stage on a lent GPU ends together at its slot's end)."""
    import time

    from audioldm_daw.workbench.training.loop import TrainConfig, run

    out = tmp_path / "due"
    cut = run(_stage("vocoder"), _config("vocoder", out, audio_dir, 3, checkpoint_every=10, deadline=time.time()))
    assert cut.steps == 1 and (out / "checkpoints" / "step-00000001").is_dir()
    assert json.loads((out / "summary.json").read_text())["stopped_by_time_limit"] is True
    assert (out / "vocoder" / "config.json").is_file()
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="deadline"):
            TrainConfig(out=tmp_path, deadline=bad)


# -- the assembled folder ------------------------------------------------------------------------------


def test_assembled_folder_loads_in_the_engine_and_generates(assembled: Path) -> None:
    from audioldm_daw.engine import Engine, GenerateRequest

    engine = Engine.load(assembled, device="cpu")
    clip = engine.generate(GenerateRequest("a rising sweep", duration=1.0, steps=2, seed=3, sample_rate=16000))
    assert clip.audio.shape == (16000,) and np.isfinite(clip.audio).all()
    # The small trained HiFi-GAN stays in the folder; the folder asks for Griffin-Lim (engine/vocoders.py).
    assert (assembled / "vocoder" / "config.json").is_file()
    assert json.loads((assembled / "decode.json").read_text()) == {
        "vocoder": "griffin-lim",
        "inversion_iterations": 100,
    }
    assert engine.model.vocoder_name == "griffin-lim"


def test_assemble_decode_with_hifigan_leaves_the_folder_on_its_hifigan(
    runs: dict[str, Any], assembled: Path, tmp_path: Path
) -> None:
    from audioldm_daw.bridge.cli import main
    from audioldm_daw.engine.model import load_model

    out = tmp_path / "model"
    argv = ["train", "assemble", "--clap", str(runs["clap"]), "--vae", str(runs["vae"]), "--decode-with", "hifigan"]
    argv += ["--vocoder", str(runs["vocoder"]), "--ldm", str(runs["ldm"]), "--out", str(out)]
    with single_thread():
        assert main(argv) == 0
    assert not (out / "decode.json").exists()
    assert load_model(out, device="cpu").vocoder_name == "hifigan"
    record = json.loads((assembled / "training.json").read_text())
    assert record["kind"] == "assembled" and record["parent"] is None
    assert set(record["stages"]) == {"clap", "vae", "vocoder", "ldm"}


def test_text_encoder_is_the_clap_text_tower(assembled: Path) -> None:
    """Sampling conditions on text embeddings in the space the LDM trained on (CLAP audio embeddings)."""
    from audioldm_daw.engine.clap import ClapAudioFeatures, embed_audio, embed_text
    from audioldm_daw.engine.conditioning import audio_embeddings, text_embeddings
    from audioldm_daw.engine.model import load_model

    m = load_model(assembled, device="cpu")
    prompts = ["", "white noise"]
    full_clap = embed_text(m.clap, m.clap_tokenizer, prompts)
    torch.testing.assert_close(text_embeddings(m, prompts), full_clap, atol=1e-5, rtol=0)
    waves = [np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 30000)]
    ours = embed_audio(m.clap, ClapAudioFeatures(m.clap_feature_extractor), [torch.from_numpy(w) for w in waves], 16000)
    torch.testing.assert_close(ours, audio_embeddings(m, waves, 16000), atol=1e-4, rtol=0)


# -- fine-tuning on uncaptioned audio ------------------------------------------------------------------


def test_finetune_skips_the_broken_file_and_records_its_parent(
    assembled: Path, user_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from audioldm_daw.bridge.cli import main
    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.engine.model import content_hash

    out = tmp_path / "ft"
    argv = ["finetune", "--model", str(assembled), "--data", str(user_dir), "--out", str(out)]
    argv += ["--steps", "2", "--batch-size", "2", "--seconds", "0.64", "--lr", "1e-3", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "skipped 1" in captured.out + captured.err
    model = out / "model"
    record = json.loads((model / "training.json").read_text())
    assert record["kind"] == "finetune"
    assert record["parent"]["path"] == str(assembled) and record["parent"]["hash"] == content_hash(assembled)
    assert record["data"]["skipped"] == 1 and record["data"]["clips"] == 7
    assert (model / "vae" / "config.json").read_bytes() == (assembled / "vae" / "config.json").read_bytes()
    new = (model / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert new != (assembled / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    clip = Engine.load(model, device="cpu").generate(GenerateRequest("x", duration=0.5, steps=2, seed=1))
    assert len(clip.audio) == 24000 and np.isfinite(clip.audio).all()


def test_cli_ldm_with_text_condition_assembles_a_model(runs: dict[str, Any], audio_dir: Path, tmp_path: Path) -> None:
    """``--condition text`` (the comparison run) trains on caption embeddings; ``--vocoder`` assembles."""
    from audioldm_daw.bridge.cli import main
    from audioldm_daw.engine import Engine, GenerateRequest
    from audioldm_daw.engine.clap import embed_text
    from audioldm_daw.workbench.training.components import load_clap

    out = tmp_path / "ldm-text"
    argv = ["train", "ldm", "--data", str(audio_dir), "--out", str(out), "--preset", "tiny", "--steps", "2"]
    argv += ["--batch-size", "2", "--vae", str(runs["vae"]), "--clap", str(runs["clap"]), "--vocoder"]
    argv += [str(runs["vocoder"]), "--condition", "text", "--seconds", "0.64", "--quiet", "--threads", "1"]
    assert main([*argv, "--cond-noise", "0.5"]) == 0
    assert json.loads((out / "config.json").read_text())["stage_options"]["cond_noise"] == 0.5
    clap, tok, _ = load_clap(runs["clap"])
    captions = embed_text(clap, tok, [*CAPTIONS, LONG_CAPTION])
    (cache,) = (out / "cache").glob("ldm-*")
    cond = torch.from_numpy(np.fromfile(cache / "cond.f32", dtype=np.float32).reshape(-1, captions.shape[1]))
    nearest = (cond[:, None, :] - captions[None]).abs().amax(-1).amin(-1)
    assert len(cond) >= 6 and float(nearest.max()) < 1e-5  # every condition is a caption's text embedding
    assert json.loads((out / "model" / "training.json").read_text())["stages"]["ldm"]["condition"] == "text"
    clip = Engine.load(out / "model", device="cpu").generate(GenerateRequest("white noise", duration=0.5, steps=2))
    assert np.isfinite(clip.audio).all()


def test_finetune_needs_a_clap_audio_tower(
    assembled: Path, user_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from audioldm_daw.bridge.cli import main

    no_clap = tmp_path / "no-clap"
    shutil.copytree(assembled, no_clap, ignore=shutil.ignore_patterns("clap"))
    argv = ["finetune", "--model", str(no_clap), "--data", str(user_dir), "--out", str(tmp_path / "ft")]
    assert main(argv) == 2
    assert "has no clap/" in capsys.readouterr().err


def test_v_prediction_with_ema_resumes_exactly_and_travels_into_the_model(
    runs: dict[str, Any], audio_dir: Path, tmp_path: Path
) -> None:
    """``--prediction v_prediction --ema``: the exported UNet is the moving average (restored on resume, so
    a resumed run exports the same weights), and the model folder's scheduler samples v."""
    import shutil

    from safetensors.torch import load_file

    from audioldm_daw.bridge.cli import main
    from audioldm_daw.engine import Engine, GenerateRequest

    def train(out: Path) -> None:
        argv = ["train", "ldm", "--data", str(audio_dir), "--out", str(out), "--preset", "tiny", "--steps", "4"]
        argv += ["--batch-size", "2", "--vae", str(runs["vae"]), "--clap", str(runs["clap"]), "--vocoder"]
        argv += [str(runs["vocoder"]), "--seconds", "0.64", "--quiet", "--threads", "1", "--lr", "1e-3"]
        argv += ["--prediction", "v_prediction", "--snr-gamma", "5", "--ema", "0.9", "--checkpoint-every", "2"]
        argv += ["--resume", "--keep-checkpoints", "0"]
        assert main(argv) == 0

    full = tmp_path / "full"
    train(full)
    weights = "unet/diffusion_pytorch_model.safetensors"
    exported = load_file(full / weights)
    trained = load_file(full / "checkpoints" / "step-00000004" / "model.safetensors")
    assert exported.keys() == trained.keys()
    assert any(not torch.equal(exported[k], trained[k]) for k in exported)  # the average, not the last step
    part = tmp_path / "part"
    shutil.copytree(full, part, ignore=shutil.ignore_patterns("unet", "model", "summary.json"))
    shutil.rmtree(part / "checkpoints" / "step-00000004")
    train(part)
    assert json.loads((part / "summary.json").read_text())["resumed_from"] == 2
    resumed = load_file(part / weights)
    assert all(torch.equal(exported[k], resumed[k]) for k in exported)

    sched = json.loads((full / "model" / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"
    engine = Engine.load(full / "model", device="cpu")
    assert engine.model.scheduler_config["prediction_type"] == "v_prediction"
    clip = engine.generate(GenerateRequest("a rising sweep", duration=0.5, steps=3, seed=1, sample_rate=16000))
    assert clip.audio.shape == (8000,) and np.isfinite(clip.audio).all()


def test_v_prediction_target_and_min_snr_weights(runs: dict[str, Any]) -> None:
    """The v loss regresses sqrt(a) eps - sqrt(1 - a) z0; min-SNR-gamma weights it by min(snr, g) / (snr + 1)."""
    from audioldm_daw.workbench.training.ldm import LdmOptions, noise_scheduler

    with pytest.raises(ValueError, match="prediction"):
        LdmOptions(vae=runs["vae"], clap=runs["clap"], prediction="sample")
    with pytest.raises(ValueError, match="snr_gamma"):
        LdmOptions(vae=runs["vae"], clap=runs["clap"], snr_gamma=0.0)
    stage = runs["stages"]["ldm"]
    opts = LdmOptions(vae=runs["vae"], clap=runs["clap"], prediction="v_prediction", snr_gamma=5.0)
    sched = noise_scheduler(opts.scheduler_config)
    z = torch.randn(4, 4, 32, 32)
    pred = torch.zeros_like(z)
    old = (stage.opt, stage.sched, stage.models["unet"])
    stage.opt, stage.sched = opts, sched
    stage.models["unet"] = lambda x, t, **kw: SimpleNamespace(sample=pred)  # predicts 0: loss = weighted |v|^2
    torch.manual_seed(0)
    noise, t = torch.randn(z.shape), torch.randint(0, 1000, (4,))
    torch.manual_seed(0)
    got = stage.train_step((z, torch.zeros(4, 8)), 1, lambda group, loss: None)["loss"]
    stage.opt, stage.sched, stage.models["unet"] = old
    a = sched.alphas_cumprod[t]
    v = a.sqrt()[:, None, None, None] * noise - (1 - a).sqrt()[:, None, None, None] * z
    snr = a / (1 - a)
    want = (v.pow(2).mean(dim=(1, 2, 3)) * snr.clamp(max=5.0) / (snr + 1)).mean()
    assert got == pytest.approx(float(want), rel=1e-5)


def test_vocoder_init_continues_from_given_weights(runs: dict[str, Any], audio_dir: Path, tmp_path: Path) -> None:
    """``--init`` (the GAN phase after a reconstruction-only run) starts from those weights, not a fresh net."""
    from safetensors.torch import load_file

    from audioldm_daw.workbench.training.loop import run
    from audioldm_daw.workbench.training.vocoder import VocoderOptions, VocoderStage

    stage = VocoderStage(VocoderOptions(segment_frames=16, adversarial=True, init=runs["vocoder"]))
    run(stage, _config("vocoder", tmp_path / "gan", audio_dir, 1, lr=0.0))  # lr 0: weights stay as loaded
    weights = "vocoder/model.safetensors"
    before, after = load_file(runs["vocoder"] / weights), load_file(tmp_path / "gan" / weights)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((tmp_path / "gan" / "config.json").read_text())["stage_options"]["init"] == str(runs["vocoder"])


def test_vae_decoder_only_trains_the_decoder_and_keeps_the_latent_space(
    runs: dict[str, Any], audio_dir: Path, tmp_path: Path
) -> None:
    """``--decoder-only``: the encoder, quant_conv and scaling factor come out bit-identical to the VAE it
    started from (so LDMs trained on that VAE stay valid) while the decoder learns; the loss goes down."""
    from safetensors.torch import load_file

    from audioldm_daw.workbench.training.loop import run

    stage = _stage("vae", init=runs["vae"], decoder_only=True)
    res = run(stage, _config("vae", tmp_path / "dec", audio_dir, 8, fixed_batch=True, checkpoint_every=100))
    weights = "vae/diffusion_pytorch_model.safetensors"
    before, after = load_file(runs["vae"] / weights), load_file(tmp_path / "dec" / weights)
    assert before.keys() == after.keys()
    frozen = [k for k in before if k.startswith(("encoder.", "quant_conv."))]
    trained = [k for k in before if k.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and trained and len(frozen) + len(trained) == len(before)
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert sum(not torch.equal(before[k], after[k]) for k in trained) > len(trained) // 2
    cfg = (json.loads((d / "vae" / "config.json").read_text()) for d in (runs["vae"], tmp_path / "dec"))
    assert next(cfg)["scaling_factor"] == next(cfg)["scaling_factor"]
    assert min(res.losses[-3:]) < res.losses[0]


def test_vae_decoder_only_without_init_is_refused() -> None:
    with pytest.raises(ValueError, match="--init"):
        _stage("vae", decoder_only=True)
