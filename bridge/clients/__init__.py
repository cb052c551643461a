"""What talks to a running engine over OSC: :class:`~audioldm_daw.bridge.clients.client.EngineClient` (``send``,
scripts, the benchmarks) and the inbox watcher that turns request files into requests.

It imports the contract (``bridge/protocol.py``) and the text-to-value reading it shares with the command line
(``bridge/param_text.py``), never the server: a client knows the server only by what the contract says.
"""
