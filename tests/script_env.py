"""The environment the training scripts' tests run them in: offline, on the CPU, with this interpreter and no
setup step, clips written under the test's own folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def script_env(tmp: Path, **settings: str) -> dict[str, str]:
    """os.environ with the scripts' common test settings, then ``settings``; no ``OUT`` (the GPU machine's)."""
    env = dict(
        os.environ,
        SETUP="0",
        PYTHON=sys.executable,
        DEVICE="cpu",
        HF_HUB_OFFLINE="1",
        AUDIOLDM_DAW_CLIPS=str(tmp / "clips"),
    )
    env.pop("OUT", None)
    return {**env, **settings}
