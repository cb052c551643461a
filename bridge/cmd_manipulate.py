"""The manipulation subcommands: ``variation``, ``transfer``, ``inpaint``, ``upsample`` and ``continue``.

Each takes an input clip (any soundfile-readable file, any rate and channels) and writes a new clip
with the same sidecar as ``generate``, input path included, so it can be regenerated too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from audioldm_daw.bridge.cmd_generate import output_path, render_and_report
from audioldm_daw.bridge.options import add_model_options, add_sampling_options, load_engine, request_kwargs
from audioldm_daw.engine.request import GenerateRequest


@dataclass(frozen=True)
class Manipulation:
    """One subcommand: its mode, help line and the positional arguments after INPUT."""

    mode: str
    HELP: str

    def configure(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("input", help="input audio file (WAV, FLAC, OGG, AIFF ...; any rate and channel count)")
        if self.mode == "transfer":
            p.add_argument("prompt", help="the style to move the input towards")
            p.add_argument("--strength", type=float, default=0.5, help="0 keeps the input, 1 ignores it (default 0.5)")
        elif self.mode == "inpaint":
            p.add_argument("start", type=float, help="span start, seconds")
            p.add_argument("end", type=float, help="span end, seconds")
            p.add_argument("prompt", help="what the span should become")
        elif self.mode == "continue":
            p.add_argument("seconds", type=float, help="how many seconds to add")
            p.add_argument("prompt", nargs="?", default="", help="optional; default: the input's own CLAP embedding")
        elif self.mode == "upsample":
            p.add_argument("prompt", nargs="?", default="", help="optional text guidance for the new high band")
            p.add_argument("--cutoff", type=float, default=None, help="band limit of the input in Hz (default: detect)")
        p.add_argument("--out", default=None, help="output WAV path (default: the clips folder)")
        add_model_options(p)
        add_sampling_options(p)

    def run(self, args: argparse.Namespace) -> int:
        kwargs = request_kwargs(args)
        extra = {
            "transfer": lambda: {"strength": args.strength},
            "inpaint": lambda: {"span_start": args.start, "span_end": args.end},
            "continue": lambda: {"extend_s": args.seconds},
            "upsample": lambda: {"cutoff_hz": args.cutoff},
        }.get(self.mode, dict)()
        prompt = getattr(args, "prompt", "")
        input_path = str(Path(args.input).expanduser().resolve())
        request = GenerateRequest(prompt, mode=self.mode, input_path=input_path, **kwargs, **extra).resolved()
        out = output_path(args.out, f"{Path(args.input).stem}-{self.mode}")
        return render_and_report(load_engine(args), request, out, self.mode)


COMMANDS = {
    "variation": Manipulation("variation", "new audio in the spirit of INPUT (its CLAP audio embedding as condition)"),
    "transfer": Manipulation("transfer", "text-guided style transfer of INPUT (strength 0..1)"),
    "inpaint": Manipulation("inpaint", "regenerate the span START..END of INPUT from a prompt, keep the rest"),
    "upsample": Manipulation("upsample", "super-resolution: keep INPUT's low band, generate the missing highs"),
    "continue": Manipulation("continue", "extend INPUT by SECONDS, seamlessly"),
}
