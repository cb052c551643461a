"""``audioldm-daw convert``: an original AudioLDM checkpoint, built by the original code, converts into a
model folder that reproduces it.

The original implementation (``audioldm`` 0.1.1 on PyPI, non-commercial licence) is installed at test
time into a cache folder of its own by tests/original_audioldm.py and run offline with random weights:
a small UNet and VAE (the sizes its constructors take), its fixed HiFi-GAN, the real HTSAT-tiny audio
tower and a two-layer RoBERTa on a tokenizer trained on the spot. Its checkpoint is converted, loaded
with the project's own loader, and every part is compared with the original's output: text and audio
CLAP embeddings, the UNet (EMA weights), the VAE both ways, the vocoder, and a 10-step DDIM waveform.
The test skips only when PyPI cannot be reached.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import original_audioldm as original
import pytest
import torch

BOUND = 1e-4  # max |ours - original| / max |original|, per component
PROMPTS = ["a dog barks in the rain", "warm analog synth pad"]


def rel_err(ours: Any, theirs: Any) -> float:
    a = torch.as_tensor(np.asarray(ours, dtype=np.float64)) if not torch.is_tensor(ours) else ours.double()
    b = torch.as_tensor(np.asarray(theirs, dtype=np.float64)) if not torch.is_tensor(theirs) else theirs.double()
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Install and build the original, save its checkpoint, convert it; times each stage."""
    from audioldm_daw.engine.architecture import train_tokenizer
    from audioldm_daw.workbench.convert import convert_checkpoint

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        target = original.install()
    except original.Unreachable as exc:
        pytest.skip(str(exc))
    times["install"] = time.perf_counter() - t0
    root = tmp_path_factory.mktemp("convert")
    tok_dir = root / "tokenizer"
    train_tokenizer(tok_dir, max_tokens=512)
    t0 = time.perf_counter()
    original.import_original(target, tok_dir)
    times["import"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cfg = original.original_config(linear_start=0.001, linear_end=0.02)  # not the default: read from the file
    ldm = original.build_original(cfg, seed=0, scale_factor=0.73)
    ckpt = original.save_checkpoint(ldm, root / "audioldm-tiny.ckpt")
    times["build+save"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    folder = root / "converted"
    report = convert_checkpoint(ckpt, folder, tok_dir, head_channels=32)
    times["convert"] = time.perf_counter() - t0
    return {"ldm": ldm, "ckpt": ckpt, "folder": folder, "tok": tok_dir, "report": report, "times": times}


@pytest.fixture(scope="module")
def model(setup: dict[str, Any]) -> Any:
    from audioldm_daw.engine.model import load_model

    return load_model(setup["folder"], device="cpu", dtype="fp32")


@torch.no_grad()
def test_text_and_audio_clap_embeddings_match_the_original(setup: dict[str, Any], model: Any) -> None:
    from audioldm_daw.engine import clap
    from audioldm_daw.engine.conditioning import audio_embeddings, text_embeddings

    cond = setup["ldm"].cond_stage_model
    cond.embed_mode = "text"
    theirs = cond(PROMPTS)[:, 0]
    ours = text_embeddings(model, PROMPTS)
    ours_full = clap.embed_text(model.clap, model.clap_tokenizer, PROMPTS)
    gen = torch.Generator().manual_seed(3)
    waves = (torch.rand(2, 32000, generator=gen) - 0.5) * 0.6  # 2 s at 16 kHz: repeat-padded to 10 s at 48 kHz
    cond.embed_mode = "audio"
    theirs_audio = cond(waves.clone())[:, 0]
    ours_audio = audio_embeddings(model, list(waves.numpy()), 16000)
    errs = {
        "text": rel_err(ours, theirs),
        "text (clap/)": rel_err(ours_full, theirs),
        "audio": rel_err(ours_audio, theirs_audio),
    }
    print("CLAP max relative error:", {k: f"{v:.2e}" for k, v in errs.items()})
    assert max(errs.values()) < BOUND, errs
    assert abs(float(theirs[0] @ theirs[1])) < 0.999  # the prompts embed differently: a real comparison


@torch.no_grad()
def test_unet_vae_and_vocoder_match_the_original(setup: dict[str, Any], model: Any) -> None:
    from audioldm_daw.engine.decode import TorchDecoder

    ldm = setup["ldm"]
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 8, 16, 16, generator=gen)
    t = torch.tensor([10, 600])
    c = torch.nn.functional.normalize(torch.randn(2, 1, 512, generator=gen), dim=-1)
    with ldm.ema_scope():
        theirs = ldm.apply_model(x, t, c)
    ours = model.unet(x, t, encoder_hidden_states=None, class_labels=c[:, 0]).sample
    with torch.no_grad():
        raw = ldm.apply_model(x, t, c)  # outside ema_scope: the training weights, which must differ
    z = torch.randn(1, 8, 16, 16, generator=gen)
    theirs_mel = ldm.decode_first_stage(z)[:, 0]
    ours_mel = TorchDecoder(model.vae, model.vocoder).mel(z)
    mel_in = torch.randn(1, 1, 64, 64, generator=gen)
    theirs_z = ldm.first_stage_model.encode(mel_in).mode()
    ours_z = model.vae.encode(mel_in).latent_dist.mode()
    mel = torch.randn(1, 50, 64, generator=gen) - 4
    theirs_wave = ldm.first_stage_model.vocoder(mel.permute(0, 2, 1)).reshape(1, -1)
    ours_wave = model.vocoder(mel).reshape(1, -1)
    errs = {
        "unet": rel_err(ours, theirs),
        "vae decode": rel_err(ours_mel, theirs_mel),
        "vae encode": rel_err(ours_z, theirs_z),
        "vocoder": rel_err(ours_wave, theirs_wave),
    }
    print("max relative error:", {k: f"{v:.2e}" for k, v in errs.items()})
    assert max(errs.values()) < BOUND, errs
    assert rel_err(ours, raw) > 1e-2  # EMA weights, not the raw ones


@torch.no_grad()
def test_ddim_waveform_matches_the_original(setup: dict[str, Any], model: Any) -> None:
    """10 deterministic DDIM steps with guidance from the same noise, decoded: the engine's own loop."""
    from audioldm_daw.engine.conditioning import text_embeddings
    from audioldm_daw.engine.decode import TorchDecoder
    from audioldm_daw.engine.fast_sampling import step_table, table_denoise
    from audioldm_daw.engine.sampling import Conditioning, initial_noise
    from audioldm_daw.engine.schedulers import make_scheduler

    noise, gen = initial_noise((1, 8, 16, 16), seed=11, device=torch.device("cpu"), dtype=torch.float32)
    theirs_latents, theirs_wave = original.ddim_waveform(setup["ldm"], PROMPTS[1], noise, steps=10, guidance=2.5)
    scheduler = make_scheduler("ddim", model.scheduler_config, 10)
    scheduler.set_timesteps(10)
    cond = Conditioning(text_embeddings(model, [PROMPTS[1]]), text_embeddings(model, [""]), 2.5)
    latents = table_denoise(model.unet, step_table(scheduler), noise, cond, generator=gen)
    wave = TorchDecoder(model.vae, model.vocoder).decode(latents)
    errs = {"latents": rel_err(latents, theirs_latents), "waveform": rel_err(wave, theirs_wave)}
    print("DDIM 10 steps, max relative error:", {k: f"{v:.2e}" for k, v in errs.items()})
    assert max(errs.values()) < BOUND, errs
    assert float(theirs_wave.abs().max()) > 1e-3  # audible, not a trivially silent comparison


def test_converted_folder_is_complete_and_generates(setup: dict[str, Any], model: Any) -> None:
    from audioldm_daw.engine import Engine, GenerateRequest

    folder = setup["folder"]
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert (sched["beta_start"], sched["beta_end"], sched["beta_schedule"]) == (0.001, 0.02, "scaled_linear")
    assert model.vae.config.scaling_factor == pytest.approx(0.73)
    assert list(model.unet.config.attention_head_dim) == [1, 2, 3, 5]  # channels / 32, the original's heads
    fe = model.clap_feature_extractor
    assert (fe.sampling_rate, fe.feature_size, fe.fft_window_size, fe.hop_length, fe.nb_max_samples) == (
        48000,
        64,
        1024,
        480,
        480000,
    )
    assert (fe.truncation, fe.padding) == ("rand_trunc", "repeatpad")
    text = model.text_encoder.state_dict()
    full = model.clap.state_dict()
    for name, tensor in text.items():  # one text tower, stored twice
        assert torch.equal(tensor, full[name]), name
    engine = Engine(model)
    clip = engine.generate(GenerateRequest(PROMPTS[0], duration=1.0, steps=2, seed=1, sample_rate=16000))
    assert np.isfinite(clip.audio).all() and len(clip.audio) == 16000
    print("stage times (s):", {k: round(v, 1) for k, v in setup["times"].items()})


def test_cli_hub_heads_and_refusals_write_nothing(setup: dict[str, Any], tmp_path: Path) -> None:
    from audioldm_daw.bridge.cli import main

    ckpt, tok = str(setup["ckpt"]), str(setup["tok"])
    out = tmp_path / "hub"
    assert main(["convert", ckpt, "--out", str(out), "--tokenizer", tok, "--hub-heads"]) == 0
    assert json.loads((out / "unet" / "config.json").read_text())["attention_head_dim"] == [8, 8, 8, 8]

    def refused(argv: list[str], dest: Path, words: str, capsys: Any = None) -> None:
        assert main(["convert", *argv, "--out", str(dest)]) == 2
        assert not dest.exists(), f"{dest} was written"
        assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]

    bad = tmp_path / "not-audioldm.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, bad)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(setup["ckpt"].read_bytes()[: 1 << 20])
    refused([str(bad), "--tokenizer", tok], tmp_path / "a", "not an AudioLDM checkpoint")
    refused([str(truncated), "--tokenizer", tok], tmp_path / "b", "truncated")
    refused([ckpt, "--tokenizer", tok], tmp_path / "c", "none of AudioLDM's sizes")  # 32 channels, no --head-channels
    refused([ckpt, "--head-channels", "32"], tmp_path / "d", "--tokenizer")  # no tokenizer
    refused([ckpt, "--head-channels", "32", "--tokenizer", str(tmp_path / "nowhere")], tmp_path / "e", "tokenizer")


def test_errors_say_what_was_expected(setup: dict[str, Any], tmp_path: Path) -> None:
    from audioldm_daw.workbench.convert import ConversionError, convert_checkpoint

    bad = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, bad)
    with pytest.raises(ConversionError, match="not an AudioLDM checkpoint"):
        convert_checkpoint(bad, tmp_path / "o1", setup["tok"])
    truncated = tmp_path / "t.ckpt"
    truncated.write_bytes(setup["ckpt"].read_bytes()[: 1 << 20])
    with pytest.raises(ConversionError, match="truncated"):
        convert_checkpoint(truncated, tmp_path / "o2", setup["tok"])
    with pytest.raises(ConversionError, match=r"none of AudioLDM's sizes .*--head-channels"):
        convert_checkpoint(setup["ckpt"], tmp_path / "o3", setup["tok"])
    with pytest.raises(ConversionError, match="pass --tokenizer"):
        convert_checkpoint(setup["ckpt"], tmp_path / "o4", None, head_channels=32)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


@pytest.mark.parametrize(
    ("name", "channels", "heads"),
    [("s-full", 128, [4, 8, 12, 20]), ("m-full", 192, [6, 12, 18, 30]), ("l-full", 256, [4, 8, 12, 20])],
)
def test_public_unet_sizes_are_detected_from_the_original_layout(
    setup: dict[str, Any], name: str, channels: int, heads: list[int]
) -> None:
    """The public UNets, built by the original code on the meta device (shapes only, no memory): size and
    the original's heads per block (32 channels a head, 64 for L)."""
    import importlib

    from audioldm_daw.workbench.convert import unet
    from audioldm_daw.workbench.convert.checkpoint import UNET_SIZES

    utils = importlib.import_module("audioldm.utils")
    openaimodel = importlib.import_module("audioldm.latent_diffusion.openaimodel")
    params = utils.default_audioldm_config(f"audioldm-{name}")["model"]["params"]["unet_config"]["params"]
    with torch.device("meta"):
        net = openaimodel.UNetModel(**params)
    shape = unet.detect(net.state_dict())
    size, head_channels = UNET_SIZES[shape.model_channels]
    assert (shape.model_channels, shape.channel_mult, shape.num_res_blocks) == (channels, (1, 2, 3, 5), 2)
    assert shape.attention_levels == (False, True, True, True)
    assert size == name[0].upper()
    assert list(unet.heads_per_block(shape, head_channels)) == heads
    assert all(not k.startswith("up_blocks.9") for k in unet.convert(net.state_dict(), shape))
