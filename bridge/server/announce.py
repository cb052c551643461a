"""The engine's announcement on the local network (zeroconf / DNS-SD, ``_audioldm._tcp.local.``), so a laptop
finds GPU engines with ``audioldm-daw engines`` instead of typing addresses.

What is announced is what a person picks an engine by (the TXT record: model, GPU, version, the API's path,
whether it speaks TLS); how busy it is comes from the engine's info endpoint, asked when listing, since a
queue changes faster than an announcement should. The name is the host's, made unique by zeroconf's own
probing when two engines share a host name.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from audioldm_daw.bridge import remote_api as api

log = logging.getLogger(__name__)


def local_addresses() -> list[str]:
    """This computer's IPv4 addresses other than loopback (where an engine bound to every interface is reached)."""
    import ifaddr  # zeroconf's own dependency

    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                out.append(ip.ip)
    return out


class Announcement:
    """One engine announced until :meth:`close` (which says goodbye, so browsers drop it at once)."""

    def __init__(self, name: str, host: str, port: int, txt: dict[str, str]) -> None:
        """``host``: the address the HTTP door is bound to (``0.0.0.0``: every interface, each announced)."""
        from zeroconf import InterfaceChoice, IPVersion, ServiceInfo, Zeroconf

        everywhere = host in ("0.0.0.0", "::", "")
        addresses = local_addresses() if everywhere else [socket.gethostbyname(host)]
        interfaces = InterfaceChoice.All if everywhere else addresses
        label = "".join(c if c.isalnum() or c in "-_ " else "-" for c in name)[:60] or "audioldm-engine"
        self.zeroconf = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        self.info = ServiceInfo(
            api.SERVICE_TYPE,
            f"{label}.{api.SERVICE_TYPE}",
            port=port,
            properties={k: v for k, v in txt.items() if k in api.TXT_KEYS},
            server=f"{label.replace(' ', '-')}.local.",
            parsed_addresses=addresses,
        )
        self.zeroconf.register_service(self.info, allow_name_change=True)
        self.name = self.info.name

    def close(self) -> None:
        try:
            self.zeroconf.unregister_service(self.info)
        except Exception:  # a network gone meanwhile: nothing left to say goodbye on
            log.info("could not withdraw the announcement %s", self.name)
        self.zeroconf.close()


def announce(name: str, host: str, port: int, *, model: str, gpu: str, tls: bool) -> Announcement:
    """Announce this engine's HTTP door; ValueError in words when the network does not let it."""
    from audioldm_daw import __version__

    txt = {
        "model": model,
        "gpu": gpu,
        "version": __version__,
        "path": api.PREFIX,
        "tls": "1" if tls else "0",
        "api": str(api.API_VERSION),
    }
    try:
        return Announcement(name, host, port, txt)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"the engine could not announce itself on the local network ({str(exc) or 'no details'}); start it "
            "with --no-announce and give clients its address"
        ) from None
