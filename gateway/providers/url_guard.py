"""The one check of a URL that a user supplies (a media task's callback URL, a file to
fetch) before the gateway calls it: ``assert_public_url``.

The URL must be http or https with a host, and every address the host resolves to must be
public: no loopback, private, link-local (which holds the cloud metadata service at
169.254.169.254), shared, multicast, reserved or unspecified (0.0.0.0, ``::``) address, in
IPv4 or IPv6, and none hidden inside IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4). Numeric
spellings (``2130706433``, ``0x7f.1``) are caught because the check is made on what the name
resolves to, not on its text. The transport then connects to the address that was checked
(``gateway.providers.transport.request(..., user_url=True)``), so a name that resolves
differently a moment later (DNS rebinding) cannot redirect the call.

Provider base URLs are the admin's and are not checked (a provider may run on the same
machine or network); a user's own provider's are (``gateway.self_route``), at registration
and at every connection.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from config.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class PublicUrl:
    """A URL that passed the check, and the public addresses its host resolved to."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def address_refusal(ip: IPAddress) -> str | None:
    """Why the gateway must not call ``ip`` on a user's behalf (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_refusal(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            inner = address_refusal(ip.sixtofour)
            if inner is not None:
                return f"6to4-wrapped {inner}"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "non-public"
    return None


def _refuse(message: str, param: str | None) -> DomainError:
    return DomainError("invalid_url", message, param=param)


def assert_public_url(url: str, *, param: str | None = None) -> PublicUrl:
    """The checked URL, or DomainError ``invalid_url`` (400; ``param`` names the request
    field that held it) if it is not an http(s) URL whose every address is public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse("The URL is not valid", param) from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise _refuse("The URL must be http or https with a host", param)
    port = port or (443 if scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise _refuse(f"The URL's host {host} does not resolve", param) from exc
    addresses: list[str] = []
    for *_, sockaddr in found:
        text = str(sockaddr[0])
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        refusal = address_refusal(ip)
        if refusal is not None:
            raise _refuse(
                f"The URL's host {host} resolves to a {refusal} address ({ip}), which the "
                "gateway does not call",
                param,
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise _refuse(f"The URL's host {host} does not resolve", param)
    return PublicUrl(scheme, host, port, tuple(addresses))
