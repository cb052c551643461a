"""``audioldm-daw export-onnx``: export the decode stage (VAE decoder + vocoder) to ONNX, validated.

The graph goes into the per-user cache keyed by the model's content hash (where ``--decoder auto`` and
``--decoder onnx`` look for it), or into ``--out``. It is checked against torch on random latents of
several lengths before this command reports success; a graph that fails is never used.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "export the decode stage (VAE decoder + HiFi-GAN) to ONNX for ONNX Runtime, validated against torch"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model folder (diffusers AudioLDM layout) or hub id "
        "(default: $AUDIOLDM_DAW_MODEL, else the bundled model)",
    )
    p.add_argument("--out", default=None, help="folder to write into (default: the ONNX cache for this model's hash)")
    p.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 weights and activations (for GPU providers; validated against torch fp32 with a looser bound)",
    )


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine import default_model, load_model
    from audioldm_daw.export.onnx_export import ExportError, export_model
    from audioldm_daw.export.runtime import validation_providers
    from audioldm_daw.export.select import model_cache_dir

    # The HiFi-GAN whatever the folder prefers: the graph holds it (Griffin-Lim decodes in torch).
    model = load_model(args.model or default_model(), device="cpu", dtype="fp32", vocoder="hifigan")
    out = Path(args.out) if args.out else model_cache_dir(model.content_hash)
    t0 = time.perf_counter()
    try:
        manifest = export_model(model, out, fp16=args.fp16, providers=validation_providers(args.fp16))
    except ExportError as exc:
        print(f"audioldm-daw export-onnx: error: {exc}")
        return 1
    val = manifest["validation"]
    print(f"exported {manifest['precision']} decode graph {out / manifest['graph']} ({manifest['bytes'] / 1e6:.1f} MB)")
    print(f"validated against torch fp32 on {val['provider']} (bound: max error <= {val['bound']:g} of peak):")
    for case in val["cases"]:
        print(f"  batch {case['batch']}, {case['frames']:4d} latent frames: max error {case['max_err_over_peak']:.2e}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
