"""Converting the original AudioLDM checkpoints (``audioldm-s-full.ckpt`` and kin) into model folders.

One module per part (:mod:`.unet`, :mod:`.vae`, :mod:`.vocoder`, :mod:`.clap`), each a renaming of the
original's tensors into the diffusers / transformers layout; :mod:`.checkpoint` reads the file, detects
the size, and writes the folder atomically. Nothing here imports the original code.
"""

from __future__ import annotations

from audioldm_daw.workbench.convert.checkpoint import Report, convert_checkpoint
from audioldm_daw.workbench.convert.errors import ConversionError

__all__ = ["ConversionError", "Report", "convert_checkpoint"]
