"""Synthetic captioned audio (an AudioCaps stand-in) for training and evaluating the small model.

See :mod:`.synth` for the layout on disk and the determinism guarantees.
"""

from .captions import caption_variants
from .sources import ATTRIBUTE_SPACE, CATEGORIES, ItemSpec
from .synth import DatasetInfo, generate_dataset, synthesize_clip, write_prompts_file
from .tools import MissingToolError

__all__ = [
    "ATTRIBUTE_SPACE",
    "CATEGORIES",
    "DatasetInfo",
    "ItemSpec",
    "MissingToolError",
    "caption_variants",
    "generate_dataset",
    "synthesize_clip",
    "write_prompts_file",
]
