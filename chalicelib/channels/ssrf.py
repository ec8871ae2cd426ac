"""Which URLs the notifier may call: the SSRF guard.

A channel URL is user input, and the notifier runs inside the operator's AWS account, next to
the instance metadata service and private VPC endpoints. Deployed, a URL is refused when its
host resolves to any address that is not public: private, loopback, link-local (which holds
169.254.169.254), cloud metadata (also fd00:ec2::254 on IPv6), multicast, reserved,
unspecified, or shared (100.64/10). Every resolved address is checked, not just the first,
and IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo,
NAT64 ``64:ff9b::/96``) are judged by the IPv4 address inside.

The vetted addresses travel with the target, and the sender connects to them instead of
resolving the name again: otherwise a DNS answer that changes between check and connect
(DNS rebinding) would walk around the guard. The local stack sets ``allow_loopback``, because
its capture servers listen on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]  # (host, port) → IP address strings

SCHEMES = {"http": 80, "https": 443}
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # EC2 / Lambda-adjacent instance metadata (IMDS), GCP, Azure
        "169.254.170.2",  # ECS task metadata and credentials
        "fd00:ec2::254",  # EC2 IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """A URL Vigil will not call. Permanent: retrying cannot make it safe."""


class ResolutionFailed(OSError):
    """The host did not resolve. Transient: DNS may answer on a later attempt."""


@dataclass(frozen=True)
class Target:
    """A vetted URL: connect to ``addresses`` (in order), send ``Host: host``."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise ResolutionFailed(f"cannot resolve {host}: {error}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet_url(
    url: str, *, resolve: Resolver = system_resolver, allow_loopback: bool = False
) -> Target:
    """The target to connect to, or ``UnsafeUrl`` saying why not."""
    scheme, host, port = _parse(url)
    literal = _literal_address(host)
    names = [str(literal)] if literal is not None else list(resolve(host, port))
    if not names:
        raise ResolutionFailed(f"{host} has no addresses")
    for name in names:
        problem = address_problem(_address(name, host), allow_loopback=allow_loopback)
        if problem:
            where = host if literal is not None else f"{host} resolves to {name}, which"
            raise UnsafeUrl(f"{where} is {problem}")
    return Target(scheme, host, port, tuple(names))


def vet_url_shape(url: str, *, allow_loopback: bool = False) -> None:
    """The checks that need no DNS, for when a channel is created (the rest run at send time).

    Refuses bad schemes, credentials, literal addresses that are not public, and ``localhost``
    names (RFC 6761 reserves them for loopback). A name's addresses can change, so they are
    judged on every send.
    """
    _, host, _ = _parse(url)
    literal = _literal_address(host)
    if literal is not None:
        problem = address_problem(literal, allow_loopback=allow_loopback)
        if problem:
            raise UnsafeUrl(f"{host} is {problem}")
    elif not allow_loopback and (host == "localhost" or host.endswith(".localhost")):
        raise UnsafeUrl(f"{host} is a loopback address")


def address_problem(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``ip`` may not be called (e.g. ``"a private address"``), or None if it is public."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_problem(embedded, allow_loopback=allow_loopback)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((problem for failed, problem in checks if failed), None)


def _parse(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeUrl("only http:// and https:// URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not supported")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("the URL has no host")
    return scheme, host, port if port is not None else SCHEMES[scheme]


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _address(name: str, host: str) -> IPAddress:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        raise UnsafeUrl(f"{host} resolved to {name!r}, not an IP address") from None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
