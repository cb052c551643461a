"""The OSC server: the UDP door (``osc_server``), its job queue and journal, the file and check doors, the
audition player, the ports it sees the engine through, and the generator of docs/OSC.md (``docs``).

It imports the contract (``bridge/protocol.py``) and the engine, never the command line or the clients: ``serve``
(``bridge/cli/serve.py``) builds it, and a client reaches it only over the wire.
"""
