"""GPU decode stage: ORT CUDA EP session options and torch fp16 settings, timed side by side in one run.

    python benchmarks/bench_decode.py --device cuda --export-dir /tmp/sfull    # exports the fp16 graph once
    python benchmarks/bench_decode_cuda_options.py --export-dir /tmp/sfull     # then the options compared here

``bench_decode.py`` times the two backends as the engine runs them; this one times the choices behind
them on the same S-full random weights and the same exported graph, so that the defaults in
``export/runtime.py`` rest on a measurement: CUDA graphs on or off, cuDNN's algorithm search, NHWC
kernels, a dynamic-shape session, and torch with ``cudnn.benchmark`` and ``torch.compile`` under a CUDA graph
(plain, and with inductor's freezing and tuning options: ``INDUCTOR_OPTIONS``), whole and each half alone
(VAE decoder, vocoder: where the time goes, with each half's kernels listed by GPU time); ``--torch-only``
times these alone, with no export. Each configuration is built, warmed up, then
timed with CUDA events; its medians and its ratio to plain torch fp16 are printed.
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decode import build_decode_parts


def cuda_time(fn: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    """Milliseconds per call, CUDA-event timed on torch's current stream (ORT shares the device)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


PROFILED_CALLS = 5  # calls a kernel table sums over
# torch.compile's ``options`` (torch._inductor.config keys) each timed as a row of its own
INDUCTOR_OPTIONS: dict[str, dict[str, bool]] = {
    "freezing": {"freezing": True},
    "freezing, coordinate-descent tuning, 1x1 as matmul": {
        "freezing": True,
        "coordinate_descent_tuning": True,
        "conv_1x1_as_mm": True,
    },
}


def say_failed(what: str, exc: Exception) -> None:
    """One row that could not be measured, and why: a setting or tool this build lacks must not hide the others."""
    print(f"{what}: failed ({type(exc).__name__}: {str(exc)[:300]})", flush=True)


def kernel_table(fn: Callable[[], object], rows: int = 12, calls: int = PROFILED_CALLS) -> str:
    """The operators and kernels that take ``fn``'s time over ``calls`` calls, most first: where the next
    millisecond is (GPU time on CUDA, else CPU time, so that the table can be checked on a CPU)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode():
        fn()
        with profile(activities=activities) as prof:
            for _ in range(calls):
                fn()
            if cuda:
                torch.cuda.synchronize()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=80)


def ort_runner(graph: Path, shape: tuple[int, int, int, int], out_len: int, options: dict[str, str], static: bool):
    """A zero-argument call that runs the graph on bound CUDA buffers (the engine's IO binding)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if static:
        so.add_free_dimension_override_by_name("batch", shape[0])
        so.add_free_dimension_override_by_name("frames", shape[2])
    provider = {"device_id": "0", "do_copy_in_default_stream": "1", **options}
    sess = ort.InferenceSession(str(graph), so, providers=[("CUDAExecutionProvider", provider), "CPUExecutionProvider"])
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to("cuda", torch.float16)
    out = torch.empty(shape[0], out_len, device="cuda", dtype=torch.float32)
    binding = sess.io_binding()
    binding.bind_input("latent", "cuda", 0, np.float16, tuple(x.shape), x.data_ptr())
    binding.bind_output("waveform", "cuda", 0, np.float32, tuple(out.shape), out.data_ptr())

    def run() -> None:
        sess.run_with_iobinding(binding)

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--export-dir", default=None, help="folder holding the validated fp16 export of bench_decode")
    p.add_argument("--torch-only", action="store_true", help="only torch's settings (no export needed)")
    p.add_argument("--autotune", action="store_true", help="also inductor's max-autotune (compiles for minutes)")
    p.add_argument("--frames", type=int, default=256, help="latent time cells (256 = 10.24 s)")
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)
    if args.export_dir is None and not args.torch_only:
        p.error("--export-dir is required unless --torch-only")

    from audioldm_daw.engine.cuda_graphs import GraphCache
    from audioldm_daw.engine.decode import CapturedDecode, TorchDecoder
    from audioldm_daw.export.onnx_export import GRAPH_NAME, DecodeGeometry, HifiGan2d, read_manifest
    from audioldm_daw.export.runtime import preload_cuda_libraries

    vae, vocoder = build_decode_parts("s-full")
    torch.nn.Module.to(vae, "cuda", torch.float16)
    torch.nn.Module.to(vocoder, "cuda", torch.float16)
    dec = TorchDecoder(vae, vocoder)
    if args.torch_only:
        graph = None
        channels = int(vae.config.latent_channels)
        bins = int(vocoder.config.model_in_dim) // (2 ** (len(vae.config.block_out_channels) - 1))
        shape = (1, channels, args.frames, bins)
    else:
        preload_cuda_libraries()
        graph = Path(args.export_dir) / GRAPH_NAME["fp16"]
        geometry = DecodeGeometry(**read_manifest(graph)["geometry"])
        shape = (1, geometry.latent_channels, args.frames, geometry.latent_bins)
        out_len = geometry.output_length(args.frames)
    z = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to("cuda", torch.float16)

    results: dict[str, list[float]] = {}

    def torch_run() -> None:
        with torch.inference_mode():
            dec.decode(z)

    def timed(name: str) -> None:
        results[name] = cuda_time(torch_run, args.repeats)
        print(f"{name}: median {statistics.median(results[name]):.2f} ms", flush=True)  # if cut off later

    timed("torch fp16")
    with torch.inference_mode():
        reference = dec.decode(z)
    torch.backends.cudnn.benchmark = True
    timed("torch fp16, cudnn.benchmark")
    torch.backends.cudnn.benchmark = False

    def replayed(fn, name: str, inp: torch.Tensor = z, ref: torch.Tensor | None = reference) -> None:
        """``fn`` captured in a CUDA graph over ``inp``, timed, and checked against ``ref`` (the plain decode)."""
        try:
            with torch.inference_mode():
                run = CapturedDecode(fn, inp, GraphCache(1).pool)
                err = float((run(inp) - ref).norm() / ref.norm()) if ref is not None else None
                results[name] = cuda_time(lambda: run(inp), args.repeats)
            diff = f", relative difference to torch fp16 {err:.2e}" if err is not None else ""
            print(f"{name}: median {statistics.median(results[name]):.2f} ms{diff}", flush=True)  # if cut off later
        except Exception as exc:
            say_failed(name, exc)

    # Channels-last memory was measured slower on a GPU for both halves (docs/benchmarks.md), so it has no row.
    # Most telling rows first: each prints when measured, so a time limit cuts off the least.
    replayed(torch.compile(dec.decode_eager, dynamic=False), "torch fp16, compiled, CUDA graph")
    # Inductor's settings that have sped up other convolutional diffusion models at inference, untried here:
    # freezing (the weights become constants, so inductor may fold them and pick each convolution's memory
    # layout itself, what the hand-made channels-last tries above could not), and with it Triton's
    # coordinate-descent tuning of the fused kernels' launch shapes and 1x1 convolutions run as matrix products.
    for name, options in INDUCTOR_OPTIONS.items():
        torch._dynamo.reset()  # a new configuration compiles anew rather than reusing the guards above
        replayed(
            torch.compile(dec.decode_eager, dynamic=False, options=options), f"torch fp16, compiled, {name}, CUDA graph"
        )
    torch._dynamo.reset()  # and the rows below compile without them (the last one is decode_eager again)
    with torch.inference_mode():  # where the time goes: each half compiled and captured alone
        mel = dec.mel(z).to(vocoder.dtype)
    halves = {
        "VAE decoder": (torch.compile(dec.mel, dynamic=False), z),
        "vocoder": (torch.compile(vocoder, dynamic=False), mel),
    }
    for half, (fn, inp) in halves.items():
        replayed(fn, f"  of which the {half}, compiled, CUDA graph", inp, None)
    for half, (fn, inp) in halves.items():  # the compiled code again, uncaptured, so that each kernel shows
        try:
            table = kernel_table(functools.partial(fn, inp))
            print(f"\nthe {half}'s kernels, compiled, {PROFILED_CALLS} calls:\n{table}", flush=True)
        except Exception as exc:
            say_failed(f"the {half}'s kernels", exc)
    # The ONNX export's vocoder in torch: each transposed convolution as its polyphase equivalent (one ordinary
    # convolution and a reshape), which cuDNN may run faster than its transposed kernels.
    twin = HifiGan2d(copy.deepcopy(vocoder).float().cpu()).to("cuda", torch.float16).eval()

    def polyphase(m: torch.Tensor) -> torch.Tensor:
        return twin(m.transpose(1, 2).unsqueeze(2)).reshape(m.shape[0], -1)

    with torch.inference_mode():
        voc_ref = vocoder(mel).reshape(mel.shape[0], -1)
    replayed(
        torch.compile(polyphase, dynamic=False),
        "  the vocoder, polyphase upsampling, compiled, CUDA graph",
        mel,
        voc_ref,
    )
    torch.backends.cudnn.benchmark = True  # the convolutions stay cuDNN's under inductor: let cuDNN time its own
    # last: measured as a wash before (docs/benchmarks.md)
    replayed(torch.compile(dec.decode_eager, dynamic=False), "torch fp16, compiled, cudnn.benchmark, CUDA graph")
    torch.backends.cudnn.benchmark = False
    if args.autotune:  # inductor times its own kernels (convolutions included) against cuDNN's: minutes, not seconds
        torch._dynamo.reset()
        tuned = torch.compile(dec.decode_eager, dynamic=False, mode="max-autotune-no-cudagraphs")
        replayed(tuned, "torch fp16, compiled max-autotune, CUDA graph")
    if graph is None:
        return report(results, shape, None)

    exhaustive = {"cudnn_conv_algo_search": "EXHAUSTIVE", "cudnn_conv_use_max_workspace": "1"}
    nhwc = {**exhaustive, "prefer_nhwc": "1"}
    configs: dict[str, tuple[dict[str, str], bool]] = {
        "ort static, exhaustive, CUDA graph": ({**exhaustive, "enable_cuda_graph": "1"}, True),
        "ort static, exhaustive, no graph": ({**exhaustive, "enable_cuda_graph": "0"}, True),
        "ort static, heuristic, CUDA graph": ({"cudnn_conv_algo_search": "HEURISTIC", "enable_cuda_graph": "1"}, True),
        "ort static, exhaustive, NHWC, CUDA graph": ({**nhwc, "enable_cuda_graph": "1"}, True),
        "ort dynamic, exhaustive": ({**exhaustive, "enable_cuda_graph": "0"}, False),
    }
    for name, (options, static) in configs.items():
        try:
            results[name] = cuda_time(ort_runner(graph, shape, out_len, options, static), args.repeats)
        except Exception as exc:
            say_failed(name, exc)

    return report(results, shape, out_len)


def report(results: dict[str, list[float]], shape: tuple[int, ...], out_len: int | None) -> int:
    """Each configuration's median and its ratio to plain torch fp16."""
    base = statistics.median(results["torch fp16"])
    audio = f" -> {out_len / 16000:.2f} s audio" if out_len else ""
    print(f"\ndecode S-full latent {shape}{audio} on {torch.cuda.get_device_name()}")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:44s} median {med:7.2f} ms  min {min(times):7.2f}  torch/this {base / med:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
