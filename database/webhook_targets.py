"""Where a webhook may point (docs/integrations.md, "Receivers"): http or https, to a host
whose every address is public. Checked when a subscription is made and again before every
request (a name can be pointed elsewhere later), so a subscription cannot be used to reach
the services next to the product: loopback, private networks, link-local addresses (the
cloud metadata service at 169.254.169.254 among them) and the reserved ranges.

WEBHOOKS_ALLOW_PRIVATE: `off` (the default), `loopback` (127.0.0.0/8 and ::1 only: a receiver
on the same machine, as in the tests), `on` (every address: a private network's receivers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

ALLOW_PRIVATE_VALUES = ("off", "loopback", "on")
# Metadata services that are not in a link-local or private range everywhere.
METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


def parse_allow_private(value: str) -> str:
    v = value.strip().lower()
    v = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off",
         "": "off"}.get(v, v)
    if v not in ALLOW_PRIVATE_VALUES:
        raise ValueError(f"WEBHOOKS_ALLOW_PRIVATE must be one of {', '.join(ALLOW_PRIVATE_VALUES)}"
                         f" (or 1/0), not {value!r}")
    return v


def check_url_form(url: str) -> tuple[str, int]:
    """The URL's host and port, or TargetRefused: http(s) only, a host, no user:password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise TargetRefused(f"not a URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("a webhook URL is http:// or https://")
    if not parts.hostname:
        raise TargetRefused("a webhook URL names a host")
    if parts.username or parts.password:
        raise TargetRefused("a webhook URL carries no user or password (the secret signs "
                            "every request)")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refused_address(address: str, allow_private: str) -> str | None:
    """Why this address may not be reached (None: it may)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private == "on":
        return None
    if ip.is_loopback:
        return None if allow_private == "loopback" else "a loopback address"
    if ip in METADATA or ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified \
            or not ip.is_global:
        return "a private or reserved address"
    return None


async def check_target(url: str, allow_private: str) -> list[str]:
    """Resolve the URL's host; TargetRefused unless every address it has may be reached.
    Returns the addresses."""
    host, port = check_url_form(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise TargetRefused(f"{host} does not resolve: {err}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        why = refused_address(address, allow_private)
        if why is not None:
            raise TargetRefused(f"{host} resolves to {address}, {why}: webhooks go to public "
                                "addresses only (WEBHOOKS_ALLOW_PRIVATE)")
    return addresses
