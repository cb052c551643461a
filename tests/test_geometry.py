"""engine.geometry, the one rule from seconds to samples to latent cells, and its users: the loaded model,
the ONNX export and its calibration, and training's crops."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from audioldm_daw.engine.geometry import Geometry

DURATIONS = [0.5, 0.51, 1.0, 1.27, 2.5, 5.12, 7.3, 10.24, 59.99]
# Plus durations that sit just off every cell boundary of every geometry below.
DURATIONS += [round(float(s), 6) for s in np.random.default_rng(0).uniform(0.01, 30.0, 200)]
DURATIONS += [k * 0.04 + d for k in range(1, 40) for d in (-1e-4, 0.0, 1e-4)]


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> Any:
    from audioldm_daw.engine.model import load_model

    return load_model(tiny_model_dir, device="cpu")


def test_of_reads_the_tiny_folders_configs(model: Any) -> None:
    """The tiny preset: HiFi-GAN rates 5*4*2*2*2, a 2-level VAE (16, 32) and a 2-level UNet (32, 64)."""
    g = model.geometry
    assert g == Geometry(sample_rate=16000, hop=160, mel_bins=64, vae_factor=2, unet_multiple=2, latent_channels=4)
    assert (g.latent_bins, g.samples_per_cell, g.cell_seconds) == (32, 320, 0.02)
    assert model.sampling_rate == 16000
    assert g.latent_shape(3, 10) == (3, 4, 10, 32)
    # The decode half alone (what the ONNX export has) agrees on everything but the UNet's multiple.
    dec = Geometry.of_decoder(model.vae.config, model.vocoder.config)
    assert dec == Geometry(16000, 160, 64, vae_factor=2, unet_multiple=1, latent_channels=4)


def test_of_reads_the_public_checkpoint_shapes() -> None:
    """AudioLDM-S-full: 4-level UNet (multiple 8), 3-level VAE (factor 4): 640 samples per cell, 16 bins."""
    unet = SimpleNamespace(block_out_channels=(128, 256, 384, 640), in_channels=8)
    vae = SimpleNamespace(block_out_channels=(128, 256, 512), latent_channels=8)
    vocoder = SimpleNamespace(upsample_rates=[5, 4, 2, 2, 2], sampling_rate=16000, model_in_dim=64)
    g = Geometry.of(unet, vae, vocoder)
    assert (g.hop, g.vae_factor, g.unet_multiple, g.latent_bins, g.samples_per_cell) == (160, 4, 8, 16, 640)
    assert g.cells(10.24) == 256
    assert Geometry.of_mel(16000, 160, 64, vae, unet) == g


GEOMETRIES = [
    Geometry(16000, 160, 64, vae_factor=vf, unet_multiple=um, latent_channels=8)
    for vf in (2, 4)
    for um in (4, 8)  # a 3-level and a 4-level UNet
] + [Geometry(22050, 256, 80, vae_factor=4, unet_multiple=8, latent_channels=8)]


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: f"sr{g.sample_rate}-vae{g.vae_factor}-unet{g.unet_multiple}")
def test_cells_cover_the_duration_in_whole_unet_multiples(g: Geometry) -> None:
    for seconds in DURATIONS:
        cells, samples = g.unet_cells(seconds), g.samples(seconds)
        assert cells % g.unet_multiple == 0 and cells >= g.unet_multiple, seconds
        assert cells * g.samples_per_cell >= samples, seconds  # the decode can be cut to the duration
        if cells > g.unet_multiple:  # and it is the smallest such length
            assert (cells - g.unet_multiple) * g.samples_per_cell < samples, seconds
        assert g.cells_for(seconds, 1) == cells
        assert math.ceil(samples / g.hop) <= cells * g.vae_factor  # mel frames fit too


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: f"sr{g.sample_rate}-vae{g.vae_factor}-unet{g.unet_multiple}")
def test_loop_cells_are_within_half_a_cell(g: Geometry) -> None:
    for seconds in DURATIONS:
        n = g.loop_cells(seconds)
        assert n >= 1
        if seconds >= g.cell_seconds / 2:
            assert abs(n * g.samples_per_cell - g.samples(seconds)) <= g.samples_per_cell / 2, seconds


def test_export_calibrates_on_the_engines_cells(model: Any) -> None:
    from audioldm_daw.export import select
    from audioldm_daw.export.onnx_export import DecodeGeometry

    for seconds in [*DURATIONS[:9], select.CALIBRATION_SECONDS]:
        assert select.calibration_frames(model, seconds) == model.geometry.cells(seconds)

    seen: list[tuple[int, ...]] = []

    class Recorder:
        def decode(self, latents: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(latents.shape))
            return torch.zeros(1)

    entry = select.calibrate(model, Recorder(), Recorder(), repeats=1)  # type: ignore[arg-type]
    cells = model.geometry.cells(select.CALIBRATION_SECONDS)
    assert entry["frames"] == cells
    assert set(seen) == {model.geometry.latent_shape(1, cells)}
    dec = DecodeGeometry.of(model.vae, model.vocoder)
    g = model.geometry
    assert (dec.latent_channels, dec.latent_bins, dec.vae_scale) == (g.latent_channels, g.latent_bins, g.vae_factor)


@pytest.mark.parametrize("unet_levels", [2, 3, 4])
@pytest.mark.parametrize("vae_levels", [2, 3])
def test_training_crops_keep_their_length(unet_levels: int, vae_levels: int) -> None:
    """Training used ``max(mult, ceil(round(s * 100, 6) / mult) * mult)`` mel frames at 100 frames/s with
    mult = VAE factor * UNet multiple; its geometry must give the same crops (cached latents stay valid)."""
    from audioldm_daw.workbench.training.ldm import training_geometry

    unet = SimpleNamespace(block_out_channels=(32,) * unet_levels, in_channels=4)
    vae = SimpleNamespace(block_out_channels=(16,) * vae_levels, latent_channels=4)
    g = training_geometry(unet, vae)
    mult = 2 ** (vae_levels - 1) * 2 ** (unet_levels - 1)
    for seconds in [0.32, 0.5, 0.64, 1.0, 1.28, 2.0, 2.56, 4.0, 5.12, 7.3, 10.0, 10.24, 0.37, 3.333]:
        old = max(mult, math.ceil(round(seconds * 100, 6) / mult) * mult)
        assert g.unet_cells(seconds) * g.vae_factor == old, seconds
    assert g.latent_shape(2, g.cells(5.12)) == (2, 4, g.cells(5.12), 64 // 2 ** (vae_levels - 1))


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: f"sr{g.sample_rate}-vae{g.vae_factor}-unet{g.unet_multiple}")
def test_cells_are_the_smallest_cover_in_vae_cells(g: Geometry) -> None:
    """Recipe 2 sizes latents as diffusers' pipeline does: whole VAE cells, no UNet rounding."""
    for seconds in DURATIONS:
        cells, samples = g.cells(seconds), g.samples(seconds)
        assert cells * g.samples_per_cell >= samples > (cells - 1) * g.samples_per_cell - g.hop, seconds
        assert g.cells_for(seconds, 2) == cells <= g.unet_cells(seconds)


def test_cells_equal_diffusers_wherever_its_latent_covers_the_duration() -> None:
    """diffusers floors the mel frames (``int(seconds / (hop / sr))``) and rounds up to the VAE factor; where
    that covers the duration, the counts agree; elsewhere the engine adds the one cell diffusers lacks."""
    g = Geometry(16000, 160, 64, vae_factor=4, unet_multiple=8, latent_channels=8)
    agree = longer = 0
    for i in range(50, 6001):
        seconds = i / 100
        frames = int(seconds / (160 / 16000))
        theirs = math.ceil(frames / 4)
        if theirs * g.samples_per_cell >= int(seconds * 16000):
            assert g.cells(seconds) == theirs, seconds
            agree += 1
        else:
            assert g.cells(seconds) == theirs + 1, seconds
            longer += 1
    assert agree > 0.95 * (agree + longer)
