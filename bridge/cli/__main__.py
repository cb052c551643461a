"""``python -m audioldm_daw.bridge.cli``: the ``audioldm-daw`` console script without the script (tests and
benchmarks start the server this way, with the interpreter they run under)."""

import sys

from audioldm_daw.bridge.cli import main

sys.exit(main())
