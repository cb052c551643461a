"""audioldm_daw: a local AudioLDM engine for DAWs, Max/MSP and Pure Data.

The import root maps onto the repository's top-level folders: ``audioldm_daw.engine`` (``engine/``),
``audioldm_daw.export`` (``export/``) and ``audioldm_daw.bridge`` (``bridge/``). This file lives in
``importroot/``, not in a folder named ``audioldm_daw``: such a folder in the checkout would shadow the installed
package for anything run from the repository root (``python -m pytest``), since the current directory comes
first on ``sys.path``.
"""

__version__ = "0.1.0"
