"""Which addresses a link from a feed may reach (SPEC §8, server-side request forgery).

Fulltext links come from feeds that anyone can write: a feed item whose link is
`http://169.254.169.254/latest/meta-data/` would otherwise make watcher fetch the
cloud metadata service and store the answer as evidence. So before each hop of a
fulltext fetch the host name is resolved here and every address it resolves to
must be a public one; the fetch then connects to the address that was checked
(see `Target.connect_url`), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot redirect it.

Staff-configured source URLs are trusted and do not come through here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: AWS/GCP/Azure/OpenStack (link-local), AWS IPv6, Alibaba.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address


class Refused(Exception):
    """A link that must not be fetched; the message says why, for a person."""


@dataclass(frozen=True)
class Target:
    """One checked hop: where to connect, and the names to present there."""

    url: str  # the URL as written
    host: str  # its host name, for the Host header, TLS SNI and per-host limits
    connect_url: str  # the same URL with the checked address in place of the name
    address: str | None  # the checked address (None when a proxy resolves names)


def address_kind(address: Address) -> str | None:
    """Why `address` is not public ("loopback", "private", …), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(embedded)
    if address in _METADATA:
        return "cloud metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "carrier-grade NAT"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _netloc(address: str, port: int | None) -> str:
    shown = f"[{address}]" if ":" in address else address
    return f"{shown}:{port}" if port else shown


async def check_url(
    url: str,
    *,
    allow_private: bool = False,
    proxied: bool = False,
    exempt: frozenset[tuple[str, int]] = frozenset(),
) -> Target:
    """Resolve `url`'s host and refuse it unless every address is public.

    `allow_private` (the source's `allow_private = true`) skips the address check.
    With `proxied`, names are resolved by the proxy (Tor must resolve them, or DNS
    leaks), so only literal addresses and `localhost` names can be checked here.
    `exempt` lists (address, port) pairs treated as public: test equipment only.
    Raises Refused with a reason a person understands.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"refused: only http and https links are fetched, not {scheme or 'none'}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise Refused("refused: the link has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise Refused(f"refused: bad port in link ({exc})") from exc
    literal = _literal(host)
    if proxied or allow_private:
        if not allow_private:
            if literal is not None:
                _refuse(host, [literal], port or _default_port(scheme), exempt)
            elif host == "localhost" or host.endswith(".localhost"):
                raise Refused(f"refused: {host} is a loopback name")
        return Target(url, host, url, None)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _resolve(host, port or _default_port(scheme))
    effective_port = port or _default_port(scheme)
    _refuse(host, addresses, effective_port, exempt)
    chosen = str(addresses[0])
    connect = urlunsplit((parts.scheme, _netloc(chosen, port), parts.path or "/", parts.query, ""))
    return Target(url, host, connect, chosen)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _refuse(
    host: str, addresses: list[Address], port: int, exempt: frozenset[tuple[str, int]]
) -> None:
    # Every address must be public: a name that resolves to one public and one
    # private address is exactly what a rebinding attacker would publish.
    for address in addresses:
        if (str(address), port) in exempt:
            continue
        kind = address_kind(address)
        if kind is None:
            continue
        if _literal(host) is not None:
            raise Refused(f"refused: {address} is a {kind} address")
        raise Refused(f"refused: {host} resolves to {address}, a {kind} address")


async def _resolve(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"cannot resolve {host}: {exc.args[-1] if exc.args else exc}") from exc
    seen: list[Address] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(raw)
        if address not in seen:
            seen.append(address)
    if not seen:
        raise Refused(f"cannot resolve {host}")
    return seen
