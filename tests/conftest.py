"""Shared fixtures: tiny random AudioLDM model folders in the diffusers layout, built locally.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on the spot and every weight is
random. The folders go through the same loading code as the public checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# torch.compile on the CPU writes scalar C++, in this process and the ones it starts (read when inductor's config
# is first imported; it cannot be switched within a process: inductor keeps per-process state built from it).
# g++ takes less than half the time over it, and what the tests check is the engine's side, the same either way:
# what compiles where and when, and that compiled code gives the plain modules' output.
# TORCHINDUCTOR_VEC_ISA_OK=1 runs them on vectorised code.
os.environ.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "0")
#: The most pytest-xdist workers ``-n auto`` starts (scripts/test.sh): past four, the few long tests set the time.
MAX_WORKERS = 4


def _cores() -> int:
    """The cores this process may run on (its affinity: a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; the GPU scripts run pytest without xdist installed
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per core, at most :data:`MAX_WORKERS`, and none (the tests run in this process) on
    one core; PYTEST_XDIST_AUTO_NUM_WORKERS still rules (xdist's own hook reads it: 0 runs them in this process)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    workers = min(_cores(), MAX_WORKERS)
    return workers if workers > 1 else 0


#: Modules whose module-scoped fixtures take minutes to build (the retraining script's whole run, the GPU
#: training trip, the original model's build and conversion), or that share a cache (inductor's) or a fixed port:
#: one worker runs each of them whole, so the fixture is built once. pytest-xdist's own ``--dist loadgroup`` would
#: do this from marks, but it marks tests by rewriting their node ids, which pytest 9.2 no longer takes
#: (pytest-xdist issue 1386): its groups are silently ignored there, and these fixtures were built on both workers.
ONE_WORKER_MODULES = frozenset(
    {
        "tests/test_train_bundled.py",
        "tests/test_gpu_training.py",
        "tests/test_convert.py",
        "tests/test_compilation.py",
        "tests/test_osc_clients.py",  # its Pd tests each bind the patch's fixed engine port, 9000: one at a time
    }
)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``-n``'s default distribution (``load``) with :data:`ONE_WORKER_MODULES` kept whole: every other test is a
    unit of its own, handed to whichever worker is free. The scheduler is xdist's scope scheduler, which starts
    with the largest units (so these modules run first, not as a long tail at the end)."""
    if config.getvalue("dist") != "load":
        return None  # another --dist was asked for: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class WholeSlowModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return WholeSlowModules(config, log)


#: The fast lane (``bash scripts/test.sh --fast``, pytest's ``-m fast``): the request model, the geometry, the OSC
#: protocol, the sidecars and their recall, and one end-to-end generate on a tiny model folder, the checks a
#: contributor runs before every commit. Whole modules, and single tests from modules that are slow as a whole.
FAST_MODULES = frozenset(
    {
        "tests/test_every_os.py",
        "tests/test_geometry.py",
        "tests/test_recall.py",
        "tests/test_request_doors.py",
        "tests/test_wav_chunks.py",
    }
)
FAST_TESTS = frozenset(
    {
        "tests/test_cli.py::test_generate_then_regenerate",
        "tests/test_osc_server.py::test_every_request_has_a_handler_and_documented_replies",
        "tests/test_osc_server.py::test_committed_docs_match_the_table",
        "tests/test_osc_server.py::test_osc_float32_values_are_taken_as_typed",
        "tests/test_osc_server.py::test_prompt_words_and_options_split",
        "tests/test_osc_server.py::test_generate_end_to_end",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the fast lane's tests ``fast`` (one list here, not a mark scattered over the modules)."""
    for item in items:
        module, _, _ = item.nodeid.partition("::")
        if module in FAST_MODULES or item.nodeid.partition("[")[0] in FAST_TESTS:
            item.add_marker(pytest.mark.fast)


# Under pytest-xdist each worker, and the processes it starts, gets its share of the cores: torch's default of
# one thread per core in every worker oversubscribes them, and OpenMP's spinning threads then slow the
# convolution-bound tests down far more than the parallelism gains. Read by torch (and, through torch's count,
# ONNX Runtime) when first imported, so set before that.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores() // _workers)))
if "AUDIOLDM_DAW_ONNX_CACHE" not in os.environ:  # exports and calibrations stay out of the user's cache
    import tempfile

    os.environ["AUDIOLDM_DAW_ONNX_CACHE"] = tempfile.mkdtemp(prefix="audioldm-daw-onnx-")


@pytest.fixture(scope="session")
def checkout_build_lock() -> object:
    """Held while the package is built from the checkout: setuptools writes the checkout's build/ and egg-info,
    so two builds at once (on two pytest-xdist workers) break each other."""
    from filelock import FileLock

    root = Path(__file__).resolve().parent.parent
    (root / "build").mkdir(exist_ok=True)
    return FileLock(str(root / "build" / ".package-build.lock"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model folder with a clap/ audio tower (read-only by convention: copy to modify)."""
    from audioldm_daw.engine.architecture import build_random_folder

    return build_random_folder(tmp_path_factory.mktemp("models") / "tiny", "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir_no_clap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny architecture without clap/ (features that need an audio tower must say so)."""
    from audioldm_daw.engine.architecture import build_random_folder

    return build_random_folder(tmp_path_factory.mktemp("models") / "tiny-noclap", "tiny", seed=0, with_clap=False)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):
    """One loaded Engine on the tiny folder, shared by the tests (CPU, fp32, torch decoder)."""
    from audioldm_daw.engine import Engine

    return Engine.load(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny4_engine(tmp_path_factory: pytest.TempPathFactory):
    """The tiny model in AudioLDM's own geometry: a 4-level UNet over a 3-level VAE (latent lengths must divide
    by 8 there unless the UNet upsamples to its skip connections' sizes, which is where a rounding rule shows;
    640 samples per latent cell at 16 kHz, as in the public checkpoints)."""
    from audioldm_daw.engine import Engine
    from audioldm_daw.engine.architecture import build_random_folder

    folder = build_random_folder(
        tmp_path_factory.mktemp("models") / "tiny4",
        "tiny",
        seed=1,
        unet_channels=(16, 24, 32, 40),
        vae_channels=(16, 32, 32),
    )
    return Engine.load(folder, device="cpu")


@pytest.fixture(scope="session")
def ort_cuda():
    """onnxruntime, when it offers the CUDA EP (the onnxruntime-gpu wheel) and torch sees a GPU; the tests that
    take it skip otherwise, saying which. (The CPU-only wheel on a GPU machine is the common case: the engine then
    decodes with torch, tests/test_onnx.py checks that.)"""
    import torch

    if os.environ.get("AUDIOLDM_DAW_TEST_DEVICE", "cuda") == "cpu" or not torch.cuda.is_available():
        pytest.skip("the CUDA execution provider needs a CUDA device")
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(
            f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (providers: "
            f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu (scripts/gpu_wheels.sh --ort)"
        )
    return ort
