"""Decode stage (scaled latent -> waveform): torch vs the ONNX Runtime export, in one run, same weights.

    python benchmarks/bench_decode.py                 # S-full shapes, 10.24 s latent (1, 8, 256, 16), CPU fp32
    python benchmarks/bench_decode.py --quick         # tiny preset (seconds; a smoke test of the script)
    python benchmarks/bench_decode.py --device cuda   # GPU: torch fp16 vs ORT fp16 (IO binding, CUDA graphs)

The VAE and vocoder are built at the preset's shapes with random weights through
``engine.architecture.build_components`` (the UNet and text tower are shrunk: they play no part here).
Runs alternate torch / ORT so load from other processes hits both alike; the medians and their ratio
are printed. torch runs under ``inference_mode`` with the same thread count ORT gets.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch


def build_decode_parts(preset: str, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """VAE + vocoder at ``preset``'s shapes; the rest of the model is shrunk to save build time."""
    from audioldm_daw.engine.architecture import PRESETS, build_components

    arch = dataclasses.replace(
        PRESETS[preset],
        unet_channels=(32, 64),
        unet_layers=1,
        unet_groups=8,
        text_hidden=32,
        text_layers=1,
        text_heads=2,
        text_ffn=64,
        embed_dim=32,
        clap_audio=None,
    )
    parts = build_components(arch, vocab_size=600, seed=seed)
    return parts["vae"].eval(), parts["vocoder"].eval()


def _timer(fn: Callable[[], object], cuda: bool) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call.

    CPU seconds are printed beside wall time because a shared machine's load stretches wall time
    unevenly; both runtimes spin-wait a little, so CPU time is an upper bound on the work done.
    """
    if cuda:
        torch.cuda.synchronize()
    c0 = time.process_time()
    t0 = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny preset instead of s-full")
    p.add_argument("--frames", type=int, default=256, help="latent time cells (256 = 10.24 s, the default)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5, help="timed runs per backend (after one warm-up each)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for both (default: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--export-dir", default=None, help="reuse/keep the export here (default: a temp dir)")
    args = p.parse_args(argv)

    from audioldm_daw.engine.decode import TorchDecoder
    from audioldm_daw.engine.geometry import Geometry
    from audioldm_daw.export.onnx_export import GRAPH_NAME, ExportError, export_decoder
    from audioldm_daw.export.runtime import load_decoder, validation_providers

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    fp16 = cuda
    preset = "tiny" if args.quick else "s-full"
    t0 = time.perf_counter()
    vae, vocoder = build_decode_parts(preset)
    print(f"built {preset} VAE + vocoder with random weights in {time.perf_counter() - t0:.1f} s", flush=True)

    tmp = None
    if args.export_dir:
        out = Path(args.export_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-decode-")
        out = Path(tmp.name)
    graph = out / GRAPH_NAME["fp16" if fp16 else "fp32"]
    try:
        ort_dec = load_decoder(graph, device=device)  # --export-dir from an earlier run
    except ExportError:
        t0 = time.perf_counter()
        manifest = export_decoder(vae, vocoder, out, fp16=fp16, providers=validation_providers(fp16))
        worst = max(c["max_err_over_peak"] for c in manifest["validation"]["cases"])
        took = time.perf_counter() - t0
        print(f"exported + validated {graph.name} in {took:.1f} s (worst error {worst:.2e} of peak)")
        ort_dec = load_decoder(graph, device=device)
    threads = torch.get_num_threads()
    print(f"ORT provider {ort_dec.provider}, {ort_dec.threads} intra-op threads; torch {threads} threads")

    dtype = torch.float16 if fp16 else torch.float32
    torch.nn.Module.to(vae, device, dtype)  # nn.Module.to: diffusers' own .to logs a note on every cast
    torch.nn.Module.to(vocoder, device, dtype)
    torch_dec = TorchDecoder(vae, vocoder)
    g = torch.Generator().manual_seed(0)
    shape = Geometry.of_decoder(vae.config, vocoder.config).latent_shape(args.batch, args.frames)
    latents = torch.randn(shape, generator=g).to(device, dtype)

    with torch.inference_mode():
        ref = torch_dec.decode(latents).float().cpu()
        got = ort_dec.decode(latents).float().cpu()
        corr = torch.corrcoef(torch.stack([ref.flatten(), got.flatten()]))[0, 1].item()
        err = ((got - ref).abs().max() / ref.abs().max()).item()
        print(f"parity at this size: max error {err:.2e} of peak, correlation {corr:.6f}")
        times: dict[str, list[float]] = {"torch": [], "onnx": []}
        cpu: dict[str, list[float]] = {"torch": [], "onnx": []}
        decoders = {"torch": torch_dec, "onnx": ort_dec}
        for _ in range(args.repeats):  # interleaved, so background load affects both alike
            for name, dec in decoders.items():
                wall, used = _timer(lambda dec=dec: dec.decode(latents), cuda)
                times[name].append(wall)
                cpu[name].append(used)

    seconds = ort_dec.geometry.output_length(args.frames) / int(vocoder.config.sampling_rate)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    med_cpu = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
    prec = "fp16" if fp16 else "fp32"
    where = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"\ndecode {preset} latent {shape} -> {seconds:.2f} s audio, {where}")
    for k in ("torch", "onnx"):
        runs = ", ".join(f"{t * 1000:.0f}" for t in times[k])
        print(f"  {k:5s} {prec}: median {med[k]:9.1f} ms   (runs: {runs})   CPU time {med_cpu[k]:9.1f} ms")
    ratio, ratio_cpu = med["torch"] / med["onnx"], med_cpu["torch"] / med_cpu["onnx"]
    print(f"  ratio torch/onnx: {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU time")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
