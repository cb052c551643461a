"""``audioldm-daw regenerate SIDECAR.json``: re-render a clip exactly from its sidecar."""

from __future__ import annotations

import argparse
import dataclasses

from audioldm_daw.bridge.cli.generate import add_output_options, output_path, render_and_report, start_loading
from audioldm_daw.bridge.cli.options import add_model_options, load_engine
from audioldm_daw.bridge.param_text import converter
from audioldm_daw.engine.params import PARAMS

HELP = "re-render a clip from its JSON sidecar (same model + seed + parameters = same audio)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sidecar", help="the .json written beside a clip (or the clip's .wav)")
    add_output_options(p)
    p.add_argument("--seed", type=converter(PARAMS["seed"]), default=None, help="override the recorded seed")
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine.output import read_sidecar

    data = read_sidecar(args.sidecar)
    if args.model is None:
        args.model = data.get("model", {}).get("path") or data.get("model", {}).get("id")
    if args.vocoder == "auto" and data.get("vocoder"):
        args.vocoder = data["vocoder"]  # the clip's own, even where the model folder now asks for another
    clock = start_loading(args)
    engine = load_engine(args)
    request = engine.request_from_sidecar(args.sidecar)
    if args.seed is not None:
        request = dataclasses.replace(request, seed=args.seed)
    out = output_path(args.out, request.prompt[:40] or request.mode)
    status = render_and_report(engine, request, out, as_json=args.json)
    clock.done()
    return status
