"""audioldm_daw: a local AudioLDM engine for DAWs, Max/MSP and Pure Data.

The import root maps onto the repository's top-level folders: ``audioldm_daw.engine`` (``engine/``, the
runtime), ``audioldm_daw.export`` (``export/``), ``audioldm_daw.workbench`` (``workbench/``: training, the
synthetic dataset, checkpoint conversion, evaluation) and ``audioldm_daw.bridge`` (``bridge/``). This file lives in
``importroot/``, not in a folder named ``audioldm_daw``: such a folder in the checkout would shadow the installed
package for anything run from the repository root (``python -m pytest``), since the current directory comes
first on ``sys.path``.
"""

import importlib
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"


def lazy_exports(
    table: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for a package whose public names live in heavy modules:
    ``table`` maps each name to its module, imported on first use and cached in ``namespace`` (the package's
    globals), so a command line that only prints its help never imports torch."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
