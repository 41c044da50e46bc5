"""The client's address: the peer's, or, behind a trusted reverse proxy, the one the proxy saw.

Behind a reverse proxy every request comes from the proxy's address, so a
limit per address (failed authentications) would count every client
together. The proxy says who connected to it in ``X-Forwarded-For``, but a
client can send that header too: it is read only when the peer is one of the
``trusted_proxies`` (setting; default none), and then from the right, the end
each proxy appends to, skipping the trusted proxies' own addresses. The
right-most address that is not a trusted proxy is the client; what lies to its
left was written by the client and is never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR = "x-forwarded-for"


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.5``, ``10.0.0.0/8`` or ``::1`` as networks; a ValueError names a value that is none of these."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies: {value!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address a request is counted and audited under.

    Parameters
    ----------
    peer : str or None
        The address of the connection's other end (``request.client.host``).
    forwarded_for : sequence of str
        Every ``X-Forwarded-For`` header of the request, in order (each a comma-separated list of hops).
    trusted : sequence of networks
        The reverse proxies whose ``X-Forwarded-For`` is believed.

    Returns
    -------
    str
        ``peer`` when it is not a trusted proxy or no usable hop was forwarded; otherwise the right-most
        forwarded hop that is not a trusted proxy (or the left-most, when every hop is one). A hop that is
        not an IP address ends the walk at the hop before it: a trusted proxy writes addresses only.
    """
    peer = peer or "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address
        address = hop
        if not _trusted(hop, trusted):
            return hop
    return address
