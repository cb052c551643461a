"""benchmarks/gpu_check.sh, the one script a GPU machine runs: its dry mode end to end on the CPU (every key
of gpu_check.json present), and the parts that only run there (joining the onnxruntime-gpu pieces, installing
wheels without pip, counting JUnit results) on small stand-ins."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

TOP_KEYS = {
    "schema", "mode", "started", "finished", "wall_s", "budget_s", "out_dir", "gpu", "versions", "install",
    "ort_cuda_ep", "phases", "tests", "benchmark", "targets", "summary",
}  # fmt: skip
TARGETS = {
    "end_to_end_s", "dpm_solver_s", "decode_ms", "peak_memory_gib", "serve_ready_s", "serve_compile_ready_s",
    "served_compiled_end_to_end_s", "served_compiled_dpm_solver_s",
}  # fmt: skip


def test_dry_mode_writes_every_key(tmp_path: Path) -> None:
    env = dict(os.environ, GPU_CHECK_DRY="1", PYTHON=sys.executable)
    env.pop("OUT", None)
    out = tmp_path / "out"
    r = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads((out / "gpu_check.json").read_text())
    assert set(data) >= TOP_KEYS, TOP_KEYS - set(data)
    assert data["mode"] == "dry" and data["finished"] and data["wall_s"] < data["budget_s"]
    assert {k: v["status"] for k, v in data["phases"].items()} == {"probe": "ok", "tests": "ok", "bench": "ok"}
    assert set(data["tests"]) >= {"passed", "failed", "errors", "skipped", "total", "failures", "skip_reasons"}
    assert data["tests"]["failed"] == data["tests"]["errors"] == 0 and data["tests"]["total"] > 0
    assert set(data["ort_cuda_ep"]) >= {"tested", "test_outcomes", "benchmarked"}
    assert data["versions"]["torch"] and data["versions"]["imports"]["audioldm_daw.engine.engine"].endswith(".py")

    bench = data["benchmark"]
    assert bench["mode"] == "dry" and bench["errors"] == []
    assert {p: bench["parts"][p]["status"] for p in ("decode_torch", "serve", "decode_onnx")} == dict.fromkeys(
        ("decode_torch", "serve", "decode_onnx"), "ok"
    )
    variants = {v["name"]: v for v in bench["variants"]}
    assert variants["default"]["status"] == "ok"
    for key in ("end_to_end", "dpm_solver"):
        figures = variants["default"][key]
        assert figures["engine_s"] > 0 and figures["pipeline_s"] > 0 and figures["ratio_pipeline_over_engine"] > 0
    assert {t["name"] for t in data["targets"]} == TARGETS
    for t in data["targets"]:
        assert set(t) >= {"measured", "target", "unit", "met"}
        assert (t["met"] is None) == (t["measured"] is None)
    assert bench["parts"]["serve"]["ready_s"] > 0
    served = bench["parts"]["serve"]["served"]  # the OSC client's jobs, each twice, request to done
    assert set(served) == {"end_to_end", "dpm_solver"} and all(len(r) == 2 and min(r) > 0 for r in served.values())
    log = (out / "gpu_check.log").read_text()
    assert "=== summary" in log and "=== bench: ok" in log


def _pieces(folder: Path, payload: bytes, n: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(payload) // n)
    names = []
    for i in range(n):
        name = f"onnxruntime_gpu-1.0-cp312-cp312-manylinux_2_28_x86_64.whl.part{i:02d}"
        (folder / name).write_bytes(payload[i * size : (i + 1) * size])
        names.append(name)
    manifest = {
        "wheel": "onnxruntime_gpu-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
        "pieces": names,
    }
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    return manifest


def test_ort_pieces_join_only_when_all_arrived_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check = gpu_check.Check(tmp_path / "out", dry=True, budget=60)
    ort_dir = tmp_path / "ort"
    monkeypatch.setattr(gpu_check, "ORT_DIR", ort_dir)
    assert gpu_check.join_ort(check) is None and check.data["ort_cuda_ep"]["wheel"].startswith("absent")

    payload = os.urandom(10_000)
    manifest = _pieces(ort_dir, payload, 3)
    wheel = gpu_check.join_ort(check)
    assert wheel is not None and wheel.read_bytes() == payload
    assert check.data["ort_cuda_ep"]["wheel"] == f"installed: {manifest['wheel']}"

    (ort_dir / manifest["pieces"][1]).unlink()
    assert gpu_check.join_ort(check) is None
    assert check.data["ort_cuda_ep"]["wheel"].startswith("incomplete: 2 of 3 pieces")

    _pieces(ort_dir, payload, 3)
    (ort_dir / manifest["pieces"][2]).write_bytes(b"damaged")
    assert gpu_check.join_ort(check) is None and check.data["ort_cuda_ep"]["wheel"].startswith("corrupt")


def test_wheels_unpack_without_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    monkeypatch.setattr(gpu_check, "SITE", site)
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo/__init__.py", "X = 1\n")
        zf.writestr("demo-1.0.data/purelib/demo_extra.py", "Y = 2\n")
        zf.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nVersion: 1.0\n")
    assert gpu_check.unpack([wheel]) == [wheel.name]
    assert (site / "demo" / "__init__.py").is_file() and (site / "demo_extra.py").is_file()
    assert not list(site.glob("*.data"))


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_cuda" name="test_a"/>'
        '<testcase classname="tests.test_cuda" name="test_b[x]">'
        '<failure message="assert 1 == 2">tb</failure></testcase>'
        '<testcase classname="tests.test_cuda" name="test_c"><skipped message="needs a CUDA GPU"/></testcase>'
        '<testcase classname="tests.test_cuda" name="test_d"><error message="fixture broke"/></testcase>'
        "</testsuite></testsuites>"
    )
    counts = gpu_check.count_junit(xml)
    assert (counts["passed"], counts["failed"], counts["skipped"], counts["errors"], counts["total"]) == (1, 1, 1, 1, 4)
    assert counts["failures"][0].startswith("tests.test_cuda::test_b[x]: assert 1 == 2")
    assert counts["skip_reasons"] == {"needs a CUDA GPU": 1}
    assert counts["outcomes"]["test_c"] == "skipped"
    assert "error" in gpu_check.count_junit(tmp_path / "missing.xml")


def test_a_hung_phase_is_stopped_and_recorded(tmp_path: Path) -> None:
    check = gpu_check.Check(tmp_path / "out", dry=True, budget=60)
    t = time.monotonic()
    script = "import subprocess, time; subprocess.Popen(['sleep', '120']); time.sleep(120)"
    result = check.phase("hang", [sys.executable, "-c", script], 1)  # the shortest limit a phase gets is 5 s
    assert result["status"] == "timeout" and time.monotonic() - t < 30
    assert json.loads((tmp_path / "out" / "gpu_check.json").read_text())["phases"]["hang"]["status"] == "timeout"


def test_a_follow_up_check_narrows_the_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GPU_CHECK_VARIANTS and GPU_CHECK_PARTS reach bench_gpu.py as its options; unset, it runs everything."""
    check = gpu_check.Check(tmp_path / "out", dry=True, budget=60)
    for env in gpu_check.BENCH_ENV:
        monkeypatch.delenv(env, raising=False)
    plain = gpu_check.bench_command(check, tmp_path / "b.json", 300)
    assert "--variants" not in plain and "--parts" not in plain and plain[-1] == "--dry"
    assert plain[plain.index("--budget-s") + 1] == "275"
    variants = '[{"name": "default", "kwargs": {}}]'
    monkeypatch.setenv("GPU_CHECK_VARIANTS", variants)
    monkeypatch.setenv("GPU_CHECK_PARTS", "")
    cmd = gpu_check.bench_command(check, tmp_path / "b.json", 300)
    assert cmd[cmd.index("--variants") + 1] == variants and cmd[cmd.index("--parts") + 1] == ""


def test_served_clips_are_judged_against_the_pipeline_of_the_same_run() -> None:
    """serve --compile's OSC jobs: the faster of each job's two runs is the figure, set beside diffusers' pipeline
    (the variants' median in that run)."""
    import bench_gpu

    served = {"end_to_end": [0.71, 0.65], "dpm_solver": "failed: no result within 120 s"}
    pipeline = {"end_to_end_s": 6.5, "dpm_solver_s": 0.9}
    report = type("R", (), {"data": {"variants": [], "parts": {"serve_compiled": {"served": served}}}})()
    bench_gpu.judge(report, bench_gpu.Settings(True, "cpu", torch.float32))
    targets = {t["name"]: t for t in report.data["targets"]}
    e2e, dpm = targets["served_compiled_end_to_end_s"], targets["served_compiled_dpm_solver_s"]
    assert (e2e["measured"], e2e["met"]) == (0.65, True) and (dpm["measured"], dpm["met"]) == (None, None)
    assert "pipeline_s" not in e2e  # no variant ran: nothing to compare with
    figures = {"end_to_end": {"pipeline_s": 6.5}, "dpm_solver": {"pipeline_s": 0.9}}
    report.data["variants"] = [{"name": "default", "status": "ok", **figures}]
    bench_gpu.judge(report, bench_gpu.Settings(True, "cpu", torch.float32))
    e2e = next(t for t in report.data["targets"] if t["name"] == "served_compiled_end_to_end_s")
    assert report.data["pipeline"] == pipeline and (e2e["pipeline_s"], e2e["ratio_pipeline_over_this"]) == (6.5, 10.0)


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    meta = "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            f"{name}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{meta}\n"
        )
    return path


def test_the_wheel_list_is_checked_and_split_for_install(tmp_path: Path) -> None:
    """scripts/gpu_wheels.py: a requirement nothing meets is refused; the engine's own needs are always installed,
    the rest only where the machine lacks them."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_wheels

    _wheel(tmp_path, "diffusers", "0.42.1", ("requests", "numpy", "pillow; extra == 'vision'"))
    _wheel(tmp_path, "requests", "2.34.2", ("idna<4", "certifi>=2023"))
    _wheel(tmp_path, "certifi", "2026.1.1")
    assert gpu_wheels.check(tmp_path) == []  # idna and numpy: on the machine; pillow: only for an extra
    _wheel(tmp_path, "soundfile", "0.14.0", ("cffi>=1.0", "an-unknown-package"))
    problems = gpu_wheels.check(tmp_path)
    assert any("cffi" in p for p in problems) and any("an-unknown-package" in p for p in problems)

    manifest = gpu_wheels.manifest(tmp_path, "stamp")
    assert manifest["always"] == ["diffusers-0.42.1-py3-none-any.whl", "soundfile-0.14.0-py3-none-any.whl"]
    assert manifest["if_missing"] == {
        "certifi-2026.1.1-py3-none-any.whl": "certifi",
        "requests-2.34.2-py3-none-any.whl": "requests",
    }
    assert not gpu_wheels.ort_kept("1.31.1", tmp_path / "nothing")


def test_the_machine_gets_only_the_wheels_it_lacks(tmp_path: Path) -> None:
    """``selection`` (the install step of both GPU jobs): what wheels.json always installs, plus each
    ``if_missing`` wheel whose distribution is not installed here; those installed are reported, not installed."""
    import gpu_wheels

    manifest = {
        "always": ["audioldm_daw-0.1.0-py3-none-any.whl"],
        "if_missing": {
            "numpy-2.0.0-cp312-none-any.whl": "numpy",
            "an_absent_dist-1.0-py3-none-any.whl": "an-absent-dist",
        },
        "source_stamp": None,
    }
    (tmp_path / "wheels.json").write_text(json.dumps(manifest))
    wheels, present = gpu_wheels.selection(tmp_path)
    assert [w.name for w in wheels] == ["audioldm_daw-0.1.0-py3-none-any.whl", "an_absent_dist-1.0-py3-none-any.whl"]
    assert len(present) == 1 and present[0].startswith("numpy ")
    cmd = gpu_wheels.install_command(wheels, tmp_path / "site")
    assert cmd[cmd.index("--target") + 1] == str(tmp_path / "site") and "--no-index" in cmd and "--no-deps" in cmd
    assert cmd[-2:] == [str(w) for w in wheels]


def test_the_speed_follow_up_runs_its_benchmark_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    """benchmarks/gpu_speed.sh in its dry mode: the variants given inline reach bench_gpu.py (a long JSON list
    once failed there as a file name, on the GPU), and the JSON and log come back in the destination."""
    root = Path(__file__).resolve().parent.parent
    variants = json.dumps(
        [{"name": f"v{i}", "kwargs": {"graphs": False}, "warm_up": {"durations": [1.0]}} for i in range(8)]
    )
    env = dict(os.environ, SPEED_DRY="1", SPEED_DECODE="0", SPEED_TESTS="", SPEED_VARIANTS=variants)
    env["SPEED_PARTS"] = "decode_torch"
    env |= {"SPEED_BUDGET_S": "300", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        ["bash", str(root / "benchmarks" / "gpu_speed.sh"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    bench = json.loads((tmp_path / "speed_bench.json").read_text())
    assert [v["name"] for v in bench["variants"]][:2] == ["v0", "v1"]
    assert bench["variants"][0]["status"] == "ok" and bench["variants"][0]["end_to_end"]["engine_s"] > 0
    assert bench["parts"]["decode_torch"]["status"] == "ok" and set(bench["parts"]) == {"decode_torch"}  # --parts
    assert "bench ended with status 0" in (tmp_path / "speed.log").read_text()


def test_the_benchmark_refuses_a_part_it_does_not_have() -> None:
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_gpu.py"), "--dry", "--parts", "serve,decode_tpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "--parts: unknown decode_tpu; expected some of decode_torch," in r.stderr, r.stderr


def test_the_decode_options_compile_and_profile_on_the_cpu() -> None:
    """The decode-options bench's inductor settings are options this torch accepts and that keep the output (a
    misspelt key would cost a GPU row: torch.compile checks its options only when it compiles), and its kernel
    table names the work of a compiled module (on the CPU it falls back to CPU time)."""
    import bench_decode_cuda_options as options

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(6, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.ConvTranspose1d(8, 4, 4, stride=2, padding=1)
    ).eval()
    x = torch.randn(1, 6, 37)  # an odd length, as the decode's are not all powers of two
    with torch.inference_mode():
        reference = net(x)
        for name, settings in options.INDUCTOR_OPTIONS.items():
            torch._dynamo.reset()
            out = torch.compile(net, dynamic=False, options=settings)(x)
            assert out.shape == reference.shape, name
            assert torch.allclose(out, reference, atol=1e-5, rtol=1e-4), name
        table = options.kernel_table(lambda: net(x), rows=5, calls=2)
    torch._dynamo.reset()
    assert "conv" in table.lower()
