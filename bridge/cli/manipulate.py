"""The manipulation subcommands: ``variation``, ``transfer``, ``inpaint``, ``upsample`` and ``continue``.

Each takes an input clip (any soundfile-readable file, any rate and channels) and writes a new clip
with the same sidecar as ``generate``, input path included, so it can be regenerated too. Their
arguments come from the request parameters, like ``generate``'s.
"""

from __future__ import annotations

from audioldm_daw.bridge.cli.generate import RequestCommand

COMMANDS = {
    "variation": RequestCommand(
        "variation", "new audio in the spirit of INPUT (its CLAP audio embedding as condition)"
    ),
    "transfer": RequestCommand("transfer", "text-guided style transfer of INPUT (strength 0..1)"),
    "inpaint": RequestCommand("inpaint", "regenerate the span START..END of INPUT, keep the rest"),
    "upsample": RequestCommand("upsample", "super-resolution: keep INPUT's low band, generate the missing highs"),
    "continue": RequestCommand("continue", "extend INPUT by SECONDS, seamlessly"),
}
