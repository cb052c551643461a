"""Finding engines on the local network: the zeroconf (DNS-SD) browse, shared by ``audioldm-daw engines`` (the
clients) and the OSC server's ``/audioldm/engines`` (the server), which never import each other.

An engine announces ``_audioldm._tcp.local.`` with a TXT record (bridge/server/announce.py); :func:`browse`
listens for a while and reads each announcement into an :class:`Engine` (name, address, model, GPU, version,
URL). How busy each engine is comes from its info endpoint (bridge/clients/discovery.py asks it). The two
halves meet only over the network and through the service type and TXT keys in bridge/remote_api.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from audioldm_daw.bridge import remote_api as api

BROWSE_S = 3.0  # how long to listen: engines answer a query within a second on a quiet network


@dataclass
class Engine:
    """One engine found on the network."""

    name: str
    address: str
    port: int
    model: str = ""
    gpu: str = ""
    version: str = ""
    path: str = api.PREFIX
    tls: bool = False
    queue: int | None = None  # from the info endpoint; None when it could not be asked
    note: str = ""  # why the queue is unknown

    @property
    def url(self) -> str:
        """The engine's base URL (what RemoteEngine and ``--engine`` take)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def engine_from_info(info: Any) -> Engine | None:
    """A zeroconf ServiceInfo -> :class:`Engine` (None when it carries no address or port)."""
    addresses = list(info.parsed_addresses()) if info is not None else []
    if not addresses or not info.port:
        return None
    txt = {_text(k): _text(v) for k, v in (info.properties or {}).items()}
    name = _text(info.name)
    if name.endswith("." + api.SERVICE_TYPE):
        name = name[: -len(api.SERVICE_TYPE) - 1]
    return Engine(
        name=name,
        address=addresses[0],
        port=int(info.port),
        model=txt.get("model", ""),
        gpu=txt.get("gpu", ""),
        version=txt.get("version", ""),
        path=txt.get("path", api.PREFIX) or api.PREFIX,
        tls=txt.get("tls") == "1",
    )


def browse(seconds: float = BROWSE_S, interfaces: Iterable[str] | None = None) -> list[Engine]:
    """The engines that announce themselves within ``seconds`` (``interfaces``: the addresses to listen on;
    default every interface), sorted by name."""
    from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

    chosen: Any = list(interfaces) if interfaces is not None else InterfaceChoice.All
    zc = Zeroconf(interfaces=chosen, ip_version=IPVersion.V4Only)
    names: set[str] = set()
    lock = threading.Lock()

    def seen(zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            with lock:
                names.add(name)

    browser = ServiceBrowser(zc, api.SERVICE_TYPE, handlers=[seen])
    try:
        time.sleep(max(seconds, 0.0))
        with lock:
            found = sorted(names)
        engines = []
        for name in found:
            info = zc.get_service_info(api.SERVICE_TYPE, name, timeout=int(max(seconds, 1.0) * 1000))
            engine = engine_from_info(info)
            if engine is not None:
                engines.append(engine)
        return sorted(engines, key=lambda e: e.name)
    finally:
        browser.cancel()
        zc.close()
