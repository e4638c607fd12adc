"""What kind of address an axon IP or a chain endpoint is.

``routable``: a globally routable unicast IP, which is what a validator on a
real network queries (see ``neurons.validating.loop``). ``is_loopback_endpoint``:
a ws:// or wss:// URL to this machine, i.e. a chain whose neurons are local too.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["routable", "is_loopback_endpoint"]


def routable(ip: str) -> bool:
    """True for a globally routable unicast IP; False for loopback, private, shared
    (100.64/10), link-local, unspecified, reserved and multicast addresses, and for
    anything that is not an IP at all."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def is_loopback_endpoint(url: str) -> bool:
    """True for a ws:// or wss:// URL whose host is ``localhost`` or a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:  # another host name: not known to be this machine
        return False
