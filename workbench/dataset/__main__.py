"""``python -m audioldm_daw.workbench.dataset OUT --n-train 200 --n-test 50 [--prompts PATH]``."""

from .synth import main

raise SystemExit(main())
