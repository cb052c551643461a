"""Finding engines on the local network: the zeroconf (DNS-SD) browse behind ``audioldm-daw engines``.

An engine announces ``_audioldm._tcp.local.`` with a TXT record (bridge/server/announce.py); this module
listens for a while, reads each announcement into an :class:`Engine` (name, address, model, GPU, version,
URL), and asks each one's info endpoint how busy it is. The listening itself is in bridge/discovery.py, where
the OSC server's ``/audioldm/engines`` uses it too. The two halves meet only over the network and through the
service type and TXT keys in bridge/remote_api.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audioldm_daw.bridge.discovery import BROWSE_S, Engine, browse, engine_from_info

__all__ = ["BROWSE_S", "Engine", "ask_queues", "browse", "engine_from_info"]  # the browse lives in bridge/discovery.py


def ask_queues(engines: list[Engine], ask: Callable[[Engine], dict[str, Any]]) -> None:
    """Fill each engine's ``queue`` from ``ask`` (its info endpoint); a failure goes into ``note`` in words."""
    for engine in engines:
        try:
            engine.queue = int(ask(engine)["queue"])
        except Exception as exc:  # each engine answers for itself: one refusal does not hide the others
            engine.note = str(exc) or "no answer"
