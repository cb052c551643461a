"""ONNX decode path: export + validation, parity with torch, the engine end to end, fallbacks, calibration.

Everything runs on the tiny random model on CPU. One export (through the CLI) is shared by the module;
tests that damage an export work on a copy in their own cache root.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from audioldm_daw.engine import Engine, GenerateRequest, TorchDecoder  # noqa: E402
from audioldm_daw.engine.model import AudioLDMModel  # noqa: E402
from audioldm_daw.export import onnx_export as ox  # noqa: E402
from audioldm_daw.export import select  # noqa: E402
from audioldm_daw.export.runtime import OrtDecoder, load_decoder  # noqa: E402


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX cache root of this module's own (never the user's cache)."""
    root = tmp_path_factory.mktemp("onnx-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv(select.ENV_CACHE, str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def model(tiny_engine: Engine) -> AudioLDMModel:
    return tiny_engine.model


@pytest.fixture(scope="module")
def exported(onnx_root: Path, tiny_model_dir: Path, model: AudioLDMModel) -> Path:
    """The tiny model's fp32 graph, exported through ``audioldm-daw export-onnx`` into the cache."""
    from audioldm_daw.bridge.cli import main

    assert main(["export-onnx", "--model", str(tiny_model_dir)]) == 0
    path = select.graph_path(model, "fp32")
    assert path.is_file()
    return path


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    return float(np.mean(a * b))


def _copy_root(exported: Path, model: AudioLDMModel, tmp_path: Path) -> Path:
    """A private cache root holding a copy of the shared export (safe to damage)."""
    dst = tmp_path / "root" / model.content_hash
    shutil.copytree(exported.parent, dst)
    return tmp_path / "root"


def _latents(model: AudioLDMModel, batch: int, frames: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(model.geometry.latent_shape(batch, frames), generator=g)


# -- export + validation ---------------------------------------------------------------------------
def test_export_is_validated_at_several_lengths(exported: Path, model: AudioLDMModel) -> None:
    manifest = ox.read_manifest(exported)
    val = manifest["validation"]
    assert manifest["model_hash"] == model.content_hash
    assert manifest["sha256"] == ox.file_sha256(exported)
    assert val["passed"] and val["bound"] == ox.FP32_BOUND
    frames = {c["frames"] for c in val["cases"]}
    assert len(frames) >= 3 and any(c["batch"] > 1 for c in val["cases"])
    assert all(c["max_err_over_peak"] <= 1e-4 for c in val["cases"])
    graph = onnx.load(str(exported), load_external_data=False)
    ops = {n.op_type for n in graph.graph.node}
    # nothing the CUDA EP would hand to the CPU: no shape arithmetic, no transposed convs
    assert not ops & {"Shape", "Size", "ConvTranspose", "Gather"}, ops
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[2] == "frames"


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_ort_matches_torch(precision: str, exported: Path, model: AudioLDMModel, tmp_path: Path) -> None:
    if precision == "fp32":
        graph = exported
    else:
        ox.export_model(model, tmp_path, fp16=True)
        graph = tmp_path / ox.GRAPH_NAME["fp16"]
    dec = load_decoder(graph, model_hash=model.content_hash)
    assert dec.name == "onnx" and dec.precision == precision
    ref = TorchDecoder(model.vae, model.vocoder)
    bound = ox.FP32_BOUND if precision == "fp32" else ox.FP16_BOUND
    for batch, frames in [(1, 2), (1, 6), (2, 10), (1, 32)]:  # lengths the export never saw
        z = _latents(model, batch, frames, seed=frames)
        want = ref.decode(z).numpy()
        got = dec.decode(z)
        assert got.dtype == torch.float32
        assert got.shape == want.shape == (batch, dec.geometry.output_length(frames))
        assert np.abs(got.numpy() - want).max() <= bound * np.abs(want).max()


def test_static_shape_session_folds_everything(exported: Path, model: AudioLDMModel) -> None:
    """The per-bucket session (pinned dims, as used for CUDA graphs) runs and matches the dynamic one."""
    dec = load_decoder(exported, model_hash=model.content_hash)
    sess = dec._session(cuda_graph=False, shape=(1, 6))
    z = _latents(model, 1, 6, seed=3)
    got = sess.run(None, {ox.INPUT_NAME: z.numpy()})[0]
    np.testing.assert_allclose(got, dec.decode(z).numpy(), rtol=0, atol=1e-6)


def test_winograd_conv_matches_torch() -> None:
    """The tiny model's VAE is too narrow for Winograd; check the F(4,3) conv itself at 256 channels."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1)
    x = torch.randn(1, 256, 12, 16)  # (B, C, T, F) as diffusers lays it out
    fast = ox._FreqConv3x3(conv, winograd=True)
    assert fast.winograd
    with torch.no_grad():
        want = conv(x).transpose(2, 3)
        got = fast(x.transpose(2, 3).contiguous())
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


def test_polyphase_upsampler_matches_conv_transpose() -> None:
    torch.manual_seed(0)
    for k, s in [(16, 5), (16, 4), (8, 2), (4, 2), (10, 5)]:
        up = torch.nn.ConvTranspose1d(8, 4, k, stride=s, padding=(k - s) // 2)
        w, b, j = ox._polyphase(up)
        x = torch.randn(2, 8, 13)
        with torch.no_grad():
            want = up(x)
            y = torch.nn.functional.conv2d(x.unsqueeze(2), w, b, padding=(0, j - 1))
            y = y.reshape(2, s, 4, -1).permute(0, 2, 3, 1).reshape(2, 4, -1)
            tail = j * s - k + up.padding[0]
            got = y[..., up.padding[0] : (-tail if tail else None)]
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


# -- engine end to end -------------------------------------------------------------------------------
def test_engine_with_onnx_backend_matches_torch(tiny_engine: Engine, exported: Path) -> None:
    from audioldm_daw.bridge.cli.backends import decoder_factory

    factory = decoder_factory("onnx")
    assert factory is not None
    onnx_engine = Engine(tiny_engine.model, factory(tiny_engine.model))
    assert isinstance(onnx_engine.decoder, OrtDecoder)
    req = GenerateRequest("a low piano melody", duration=0.64, steps=2, seed=5, sample_rate=16000)
    a = tiny_engine.generate(req).audio
    clip = onnx_engine.generate(req)
    assert a.shape == clip.audio.shape
    assert _corr(a, clip.audio) >= 0.9999
    assert onnx_engine.sidecar(clip)["decoder"] == "onnx"


# -- fallbacks -----------------------------------------------------------------------------------------
def test_corrupt_export_falls_back_to_torch_with_warning(
    exported: Path, model: AudioLDMModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _copy_root(exported, model, tmp_path)
    graph = select.graph_path(model, "fp32", root)
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights: still parses, must not be used
    graph.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        dec = select.choose_decoder(model, "onnx", root=root)
    assert isinstance(dec, TorchDecoder)
    assert "corrupt" in caplog.text and "export-onnx" in caplog.text

    # garbage that matches its (rewritten) manifest: ONNX Runtime refuses it -> still torch, with a warning
    graph.write_bytes(b"not an onnx file")
    manifest = ox.read_manifest(graph)
    manifest["sha256"] = ox.file_sha256(graph)
    ox.manifest_path(graph).write_text(json.dumps(manifest))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dec = select.choose_decoder(model, "auto", root=root)
    assert isinstance(dec, TorchDecoder)
    assert "could not load" in caplog.text


def test_missing_manifest_or_failed_validation_falls_back(
    exported: Path, model: AudioLDMModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _copy_root(exported, model, tmp_path)
    graph = select.graph_path(model, "fp32", root)
    manifest = ox.read_manifest(graph)
    manifest["validation"]["passed"] = False
    ox.manifest_path(graph).write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        assert isinstance(select.choose_decoder(model, "onnx", root=root), TorchDecoder)
    assert "did not pass validation" in caplog.text
    ox.manifest_path(graph).unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert isinstance(select.choose_decoder(model, "onnx", root=root), TorchDecoder)
    assert "missing" in caplog.text


@pytest.mark.parametrize("choice", ["onnx", "auto"])
def test_gpu_model_without_the_cuda_provider_decodes_with_torch(
    choice: str, model: AudioLDMModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime's CPU-only wheel on a GPU machine (the wheel pip installs by default): the ONNX decoder would
    take the GPU's latents to the CPU, so the GPU keeps the torch decoder, with no export, measurement or
    calibration, and a forced ``onnx`` says what to install."""
    gpu_model = copy.copy(model)
    gpu_model.device = torch.device("cuda", 0)
    monkeypatch.setattr(select, "device_description", lambda m: "cuda:a GPU")

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing ONNX should run for a GPU model without the CUDA provider")

    monkeypatch.setattr(select, "load_onnx_decoder", must_not_run)
    monkeypatch.setattr(select, "calibrate", must_not_run)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.INFO):
        dec = select.choose_decoder(gpu_model, choice)
    assert isinstance(dec, TorchDecoder)
    said = [r for r in caplog.records if "no CUDA provider" in r.getMessage()]
    assert len(said) == 1 and "onnxruntime-gpu" in said[0].getMessage()
    assert said[0].levelno == (logging.WARNING if choice == "onnx" else logging.INFO)


def test_missing_or_outdated_export_is_exported_on_demand(model: AudioLDMModel, tmp_path: Path) -> None:
    graph = select.graph_path(model, "fp32", tmp_path)
    dec = select.choose_decoder(model, "onnx", root=tmp_path)
    assert isinstance(dec, OrtDecoder) and graph.is_file()
    manifest = ox.read_manifest(graph)
    manifest["format"] = ox.EXPORT_FORMAT - 1  # written by an older build: replaced, not refused
    ox.manifest_path(graph).write_text(json.dumps(manifest))
    assert isinstance(select.choose_decoder(model, "onnx", root=tmp_path), OrtDecoder)
    assert ox.read_manifest(graph)["format"] == ox.EXPORT_FORMAT


def test_failed_export_falls_back(
    model: AudioLDMModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args, **kwargs):
        raise ox.ExportError("simulated parity failure")

    monkeypatch.setattr(ox, "export_model", broken)
    with caplog.at_level(logging.WARNING):
        assert isinstance(select.choose_decoder(model, "auto", root=tmp_path), TorchDecoder)
    assert "simulated parity failure" in caplog.text


# -- calibration ---------------------------------------------------------------------------------------
def test_auto_calibrates_once_and_caches_the_choice(
    exported: Path, model: AudioLDMModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy_root(exported, model, tmp_path)
    dec = select.choose_decoder(model, "auto", root=root)
    cache = json.loads(select.calibration_file(root).read_text())
    key = select.calibration_key(model)
    entry = cache[key]
    assert entry["choice"] in ("onnx", "torch") and entry["torch_ms"] > 0 and entry["onnx_ms"] > 0
    assert dec.name == entry["choice"]
    assert model.content_hash in key and ort.__version__ in key

    def no_calibration(*args, **kwargs):
        raise AssertionError("calibration should come from the cache")

    monkeypatch.setattr(select, "calibrate", no_calibration)
    for choice in ("onnx", "torch"):
        entry["choice"] = choice
        select.write_calibration(key, entry, root)
        assert select.choose_decoder(model, "auto", root=root).name == choice
    # a cached "torch" decision does not even open the ONNX file
    monkeypatch.setattr(select, "load_onnx_decoder", no_calibration)
    assert select.choose_decoder(model, "auto", root=root).name == "torch"


def test_choice_torch_and_bad_choice(model: AudioLDMModel) -> None:
    assert isinstance(select.choose_decoder(model, "torch"), TorchDecoder)
    with pytest.raises(ValueError, match="decoder"):
        select.choose_decoder(model, "tensorrt")


def test_cli_export_onnx_to_out_dir(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--out writes a self-contained export (graph + manifest) elsewhere; the report names the bound."""
    from audioldm_daw.bridge.cli import main

    out = tmp_path / "export"
    assert main(["export-onnx", "--model", str(tiny_model_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "decode-fp32.onnx" in text and "max error" in text
    assert (out / "decode-fp32.onnx").is_file() and (out / "decode-fp32.json").is_file()


def test_weight_norm_is_folded_before_export(model: AudioLDMModel) -> None:
    """A vocoder fine-tuned with weight norm exports the same function with plain conv weights."""
    import copy

    voc = copy.deepcopy(model.vocoder)
    voc.apply_weight_norm()
    mel = torch.randn(1, 24, voc.config.model_in_dim)
    with torch.no_grad():
        want = voc(mel)
        fast = ox.HifiGan2d(copy.deepcopy(voc))
        got = fast(mel.transpose(1, 2).unsqueeze(2)).reshape(1, -1)
    assert not any("parametrizations" in n for n, _ in fast.named_modules())
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


@pytest.mark.cuda
def test_cuda_fp16_io_binding_and_cuda_graph_buckets(ort_cuda, tiny_model_dir: Path, tmp_path: Path) -> None:
    """GPU path: fp16 graph on the CUDA EP, latents bound in place, one CUDA-graph bucket per shape."""
    from audioldm_daw.engine import load_model

    m = load_model(tiny_model_dir, device="cuda")  # fp16 by default on a GPU
    dec = select.choose_decoder(m, "onnx", root=tmp_path)
    assert isinstance(dec, OrtDecoder)
    assert dec.precision == "fp16" and dec.provider == "CUDAExecutionProvider"
    ref = TorchDecoder(m.vae, m.vocoder)
    for seed in (1, 2):  # a second latent must not replay the first one's result
        z = _latents(m, 1, 8, seed).to("cuda", torch.float16)
        want = ref.decode(z).float()
        for _ in range(3):  # first runs capture the CUDA graph, later ones replay it
            got = dec.decode(z)
        assert got.device.type == "cuda" and got.dtype == torch.float32
        assert (got - want).abs().max() <= 2 * ox.FP16_BOUND * want.abs().max()
    assert (1, 8) in dec._buckets or not dec.cuda_graphs
