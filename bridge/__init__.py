"""audioldm_daw.bridge: the doors into the engine, grouped by what they serve.

- ``protocol.py``: the OSC contract (addresses, arguments, replies), shared by all three groups below.
- ``param_text.py``: a request parameter read from typed text, shared by the command line and the inbox.
- ``cli/``: the ``audioldm-daw`` command line; it may import ``server`` and ``clients``, and nothing imports it.
- ``server/``: the OSC server (jobs, journal, file doors, audition, the docs/OSC.md generator).
- ``clients/``: what talks to a running server (``EngineClient``, the inbox watcher).

``server`` and ``clients`` never import each other: they meet only over the wire, as the contract says.
tests/test_packaging.py holds these arrows.
"""
