"""The GPU setting of the training recipe, end to end on the CPU at the smallest scale.

``scripts/pack_gpu_training.sh`` renders a 14-clip dataset and packs it; ``scripts/gpu_train.sh`` (what runs on the
lent GPU machine) unpacks it and runs every stage of ``scripts/train_bundled.sh`` on the CPU with the ``tiny``
preset against a deadline already past, so each stage trains exactly one step, stops as at the end of a GPU slot
and exports, and the models are assembled and packed as float16; ``scripts/unpack_gpu_training.sh`` widens them
here again (``EVALUATE=0``: its evaluation is ``train_bundled.sh``'s own, which tests/test_train_bundled.py runs),
and one model generates. About a minute and a half on one core, nearly all of it the eleven Python processes'
start-up. The packing itself (codec choice under a byte budget, float16 round trip) is checked directly on the
module below the scripts.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.workbench.training import transfer
from tests.script_env import script_env

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
STAGES = ("vae", "vae-decoder", "clap", "vocoder-rec", "vocoder", "clap-eval", "ldm-audio", "ldm-text")
RETURNED = {"model-audio.tar.gz", "model-text.tar.gz", "runs.tar.gz", "gpu_train.log"}


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return script_env(tmp, PRESET="tiny", **extra)


def _run(script: str, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Pack here, train as on the GPU machine (into an $OUT of its own), unpack and evaluate here."""
    tmp = tmp_path_factory.mktemp("gpu-training")
    t = SimpleNamespace(tmp=tmp, work=tmp / "work", pack_dir=tmp / "pack", out=tmp / "out", gpu_work=tmp / "gpu-work")
    t.pack = _run(
        "pack_gpu_training.sh",
        t.work,
        env=_env(tmp, N_TRAIN="14", N_TEST="14", WHEELS="0", PACK=str(t.pack_dir), JOBS="1"),
    )
    # RESERVE_S one second short of BUDGET_S: every stage's deadline is one second after the start.
    gpu_env = _env(tmp, INSTALL="0", BATCH_X="1", BUDGET_S="600", RESERVE_S="599", PACK=str(t.pack_dir))
    t.gpu = _run("gpu_train.sh", env={**gpu_env, "WORK": str(t.gpu_work), "OUT": str(t.out)})
    t.unpack = _run("unpack_gpu_training.sh", t.out, t.work, env=_env(tmp, EVALUATE="0"))
    return t


def test_the_pack_holds_the_training_split_losslessly_within_the_limit(trip: SimpleNamespace) -> None:
    assert trip.pack.returncode == 0, trip.pack.stderr[-3000:]
    report = json.loads((trip.pack_dir / "pack.json").read_text())
    assert report["stored_as"] == {"flac": 14} and report["mean_log_mel_error"] == 0.0
    assert (trip.pack_dir / "data.tar.gz").stat().st_size == report["archive_bytes"] <= report["budget_bytes"]
    assert not list((trip.pack_dir / "whl").iterdir())  # WHEELS=0
    assert "of 64.00 MiB" in trip.pack.stdout


def test_the_gpu_script_trains_every_stage_until_its_deadline(trip: SimpleNamespace) -> None:
    assert trip.gpu.returncode == 0, trip.gpu.stdout[-3000:] + trip.gpu.stderr[-3000:]
    assert {p.name for p in trip.out.iterdir()} == RETURNED
    assert all(p.stat().st_size <= 16 * 2**20 for p in trip.out.iterdir())  # what one file may bring back
    log = (trip.out / "gpu_train.log").read_text()
    assert "training and assembly ended with status 0" in log
    # the data the stages read is the packed one, unpacked under the original names
    assert sorted(p.name for p in (trip.gpu_work / "data" / "train").glob("*.wav")) == [
        f"{i:05d}.wav" for i in range(14)
    ]
    for stage in STAGES:  # summaries as they came back in runs.tar.gz
        summary = json.loads((trip.work / stage / "summary.json").read_text())
        assert summary["steps"] == 1 and summary["stopped_by_time_limit"] is True, stage
        assert (trip.work / stage / "losses.jsonl").is_file(), stage
        assert json.loads((trip.work / stage / "config.json").read_text())["config"]["deadline"] > 0, stage


def test_the_models_come_back_in_float32_and_generate(trip: SimpleNamespace) -> None:
    import torch
    from safetensors.torch import load_file

    assert trip.unpack.returncode == 0, trip.unpack.stderr[-3000:]
    for model, there in (
        (trip.work / "model", trip.gpu_work / "model"),
        (trip.work / "ldm-text" / "model", trip.gpu_work / "ldm-text" / "model"),
    ):
        for f in there.rglob("*.safetensors"):
            back, sent = load_file(model / f.relative_to(there)), load_file(f)
            assert back.keys() == sent.keys(), f
            for k, t in sent.items():
                assert back[k].dtype == t.dtype, (f, k)
                if t.dtype == torch.float32:  # float16 rounding: half a unit in the 11th bit
                    torch.testing.assert_close(back[k], t, rtol=2**-11, atol=2**-24)
        assert (model / "decode.json").read_text() == (there / "decode.json").read_text()  # its vocoder choice
    clip = trip.tmp / "clip.wav"
    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "generate", "a piano plays a slow, low melody"]
    cmd += ["--model", str(trip.work / "model"), "--duration", "1.5"]
    cmd += ["--steps", "2", "--sr", "22050", "--out", str(clip)]
    g = subprocess.run(cmd, capture_output=True, text=True, env=_env(trip.tmp), timeout=300)
    assert g.returncode == 0, g.stderr[-2000:]
    audio, sr = sf.read(clip)
    assert sr == 22050 and len(audio) == round(1.5 * 22050)


def test_the_pack_refuses_what_cannot_travel(trip: SimpleNamespace, tmp_path: Path) -> None:
    env = _env(tmp_path, DATA=str(trip.work / "data"), WHEELS="0", PACK=str(tmp_path / "pack"), CARRY_MIB="1")
    r = _run("pack_gpu_training.sh", tmp_path / "work", env=env)
    assert r.returncode == 2
    assert "no room for the dataset" in r.stderr and "1.00 MiB that may travel" in r.stderr
    assert not (tmp_path / "pack" / "data.tar.gz").exists()


def test_the_gpu_script_needs_a_destination_and_a_pack(tmp_path: Path) -> None:
    r = _run("gpu_train.sh", env=_env(tmp_path, INSTALL="0"))
    assert r.returncode == 2 and "expected $OUT" in r.stderr
    r = _run("gpu_train.sh", tmp_path / "out", env=_env(tmp_path, INSTALL="0", PACK=str(tmp_path / "none")))
    assert r.returncode == 2 and "pack_gpu_training.sh first" in r.stdout + r.stderr  # the log takes both
    assert "pack_gpu_training.sh first" in (tmp_path / "out" / "gpu_train.log").read_text()


# -- the module under the scripts ---------------------------------------------------------------------------


def _option(size: int, error: float) -> transfer.Option:
    return transfer.Option(transfer.LOSSY, 0.0, b"x" * size, error)


def test_choose_fits_the_budget_and_finds_the_least_error() -> None:
    rng = np.random.default_rng(3)
    options = []
    for _ in range(6):  # per clip: exact and big, then smaller with more error
        sizes = sorted(rng.integers(10, 100, size=3).tolist(), reverse=True)
        errors = sorted(rng.uniform(0.05, 0.5, size=2).tolist())
        options.append([_option(sizes[0] + 50, 0.0)] + [_option(s, e) for s, e in zip(sizes[1:], errors, strict=True)])
    everything = sum(o[0].size for o in options)
    assert [o.error for o in transfer.choose(options, everything)] == [0.0] * 6
    smallest = sum(min(o.size for o in opts) for opts in options)
    for budget in np.linspace(smallest, everything, 6).astype(int).tolist():
        picks = transfer.choose(options, budget)
        assert sum(o.size for o in picks) <= budget
        error = sum(o.error for o in picks)
        best = min(
            sum(o.error for o in combo) for combo in itertools.product(*options) if sum(o.size for o in combo) <= budget
        )
        # the relaxation's bound: short of the optimum by at most one clip's step (here 0.5), in practice less
        assert best - 1e-9 <= error <= best + 0.2
        for k in range(3):  # and never worse than storing every clip the same way
            if sum(opts[k].size for opts in options) <= budget:
                assert error <= sum(opts[k].error for opts in options)
    with pytest.raises(transfer.PackError, match="smallest"):
        transfer.choose(options, smallest - 1)


def test_a_tight_budget_mixes_flac_and_vorbis_and_unpacks_to_the_original_names(
    trip: SimpleNamespace, tmp_path: Path
) -> None:
    assert trip.pack.returncode == 0, trip.pack.stderr[-3000:]
    data = trip.work / "data"
    lossless = json.loads((trip.pack_dir / "pack.json").read_text())["archive_bytes"]
    budget = int(0.6 * lossless)
    report = transfer.pack_dataset(data, tmp_path / "d.tar.gz", budget, log=lambda _: None)
    assert report["archive_bytes"] == (tmp_path / "d.tar.gz").stat().st_size <= budget
    codecs = {c["codec"] for c in report["clips"]}
    assert codecs == {"flac", "vorbis"}, report["stored_as"]
    back = transfer.unpack_dataset(tmp_path / "d.tar.gz", tmp_path / "data")
    assert (tmp_path / "data" / "train" / "metadata.jsonl").read_bytes() == (
        data / "train" / "metadata.jsonl"
    ).read_bytes()
    for clip in back["clips"]:
        a, sr = sf.read(tmp_path / "data" / "train" / clip["file"], dtype="int16")
        b, _ = sf.read(data / "train" / clip["file"], dtype="int16")
        assert sr == 16000 and len(a) == len(b)
        if clip["codec"] == "flac":
            assert np.array_equal(a, b), clip["file"]
        else:
            assert 0.0 < clip["log_mel_error"] < 1.0


def test_a_tree_travels_in_float16_and_comes_back_in_float32(tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    (run / "unet").mkdir(parents=True)
    (run / "cache").mkdir()
    (run / "checkpoints" / "step-1").mkdir(parents=True)
    (run / "cache" / "audio.f32").write_bytes(b"0" * 100)
    (run / "checkpoints" / "step-1" / "state.pt").write_bytes(b"0" * 100)
    (run / "summary.json").write_text("{}")
    weights = {
        "w": torch.randn(64, 64),
        "huge": torch.full((3,), 1e6),  # beyond float16: travels as float32
        "ids": torch.arange(5),
    }
    save_file(weights, str(run / "unet" / "model.safetensors"), metadata={"format": "pt"})
    info = transfer.pack_tree(tmp_path, tmp_path / "t.tar.gz", ["run"])
    assert info["halved_files"] == 1 and info["files"] == 2  # cache/ and checkpoints/ stay behind
    with tarfile.open(tmp_path / "t.tar.gz") as tar:
        f = tar.extractfile("run/unet/model.safetensors")
        assert f is not None
        sent = f.read()
    (tmp_path / "sent.safetensors").write_bytes(sent)
    with safe_open(str(tmp_path / "sent.safetensors"), framework="pt") as half:
        assert half.get_tensor("w").dtype == torch.float16 and half.get_tensor("huge").dtype == torch.float32
    transfer.unpack_tree(tmp_path / "t.tar.gz", tmp_path / "back")
    back = load_file(str(tmp_path / "back" / "run" / "unet" / "model.safetensors"))
    assert back["w"].dtype == torch.float32
    torch.testing.assert_close(back["w"], weights["w"], rtol=2**-11, atol=2**-24)
    assert torch.equal(back["huge"], weights["huge"]) and torch.equal(back["ids"], weights["ids"])
    assert not (tmp_path / "back" / transfer.HALF_FILE).exists()
    assert not (tmp_path / "back" / "run" / "cache").exists()


def test_unpack_refuses_paths_outside_its_folder(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "bad.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(transfer.PackError, match="escape"):
        transfer.unpack_tree(tmp_path / "bad.tar.gz", tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()
