"""Who is calling: the client address the sign-in and API limits count by.

Behind a load balancer every request comes from the balancer's address, so one guesser
would lock everybody out; but X-Forwarded-For is whatever the client writes, so it is
believed only from the proxies FORWARDED_ALLOW_IPS names. Read from the right, the first
address that is not one of those proxies is the client: the part a client wrote itself,
further left, is never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

UNKNOWN = "unknown"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
             proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(request: HTTPConnection, trusted_proxies: Iterable[str]) -> str:
    """The caller's address: the socket's, or, when the socket is a trusted proxy, the
    right-most address of X-Forwarded-For that is not a trusted proxy."""
    peer = request.client.host if request.client else UNKNOWN
    proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
    if not proxies or not _trusted(_address(peer), proxies):
        return peer
    hops = [h for header in request.headers.getlist("x-forwarded-for")
            for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage in the chain: stop believing it here
            return peer
        if not _trusted(address, proxies):
            return str(address)
    return peer
