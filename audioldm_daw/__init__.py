"""audioldm_daw: a local AudioLDM engine for DAWs, Max/MSP and Pure Data.

The import root maps onto the repository's top-level folders: ``audioldm_daw.engine`` (``engine/``),
``audioldm_daw.export`` (``export/``) and ``audioldm_daw.bridge`` (``bridge/``).
"""

__version__ = "0.1.0"
