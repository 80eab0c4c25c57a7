"""What the policy may reach: http(s) only, and no loopback, private or metadata addresses.

Two checks apply one rule. :meth:`UrlPolicy.check_url` decides on the host as the
HTTP client will see it: yarl parses the URL as aiohttp does (IDNA and Unicode
normalisation included, so fullwidth digits and ideographic full stops are the ASCII
they stand for), and a host in any IP-literal spelling is decided as that address
(:func:`~webresearch.net.addresses.host_address`). Then, for every connection,
:class:`ConnectGuard` checks the address the socket is about to connect to, an IP
literal or a resolved name alike, so no spelling and no resolver reaches an address
the policy refuses, even one the first check got wrong. :class:`SafeResolver` drops
refused addresses of a name up front, so that a name with a public address among
private ones still connects. A policy confined to endpoints (``only_endpoints``, what
``web="serve:<URL>"`` uses) reaches those ``host:port`` pairs and nothing else: another
port of the same host is refused, at the URL and again at the socket.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from webresearch.errors import ConfigError
from webresearch.net.addresses import IPAddress, address_kind, host_address

if TYPE_CHECKING:
    from aiohappyeyeballs import AddrInfoType

__all__ = ["BlockedAddress", "ConnectGuard", "SafeResolver", "UrlPolicy", "connecting_to"]

_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("webresearch_connect_host",
                                                            default="")
"""The host of the request being sent, for allowlisted names at connect time."""


class BlockedAddress(OSError):
    """A connection was refused by the URL policy (raised in the resolver or the socket
    factory, where aiohttp expects an ``OSError``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlPolicy:
    """Which URLs and addresses the live web backend may reach.

    Example:
        >>> policy = UrlPolicy()
        >>> policy.check_url("file:///etc/passwd")
        "the scheme 'file' is not allowed (only http, https)"
        >>> policy.check_url("http://169.254.169.254/latest/meta-data/")
        'the address 169.254.169.254 is not public (link-local)'
        >>> policy.check_url("http://\\uff11\\uff12\\uff17\\u30020\\u30020\\u30021/")  # fullwidth
        'the address 127.0.0.1 is not public (loopback)'
        >>> UrlPolicy(allow=("127.0.0.0/8",)).check_url("http://127.0.0.1:8080/") is None
        True
        >>> served = UrlPolicy(only_endpoints=("127.0.0.1:8080",))
        >>> served.check_url("http://127.0.0.1:8080/wiki/A") is None
        True
        >>> served.check_url("http://127.0.0.1:6379/")
        'the endpoint 127.0.0.1:6379 is not one this policy reaches (only 127.0.0.1:8080)'
    """

    schemes: tuple[str, ...] = ("http", "https")
    """URL schemes allowed."""
    allow: tuple[str, ...] = ()
    """Hostnames or networks (CIDR) opened despite the address rules, for example the
    simulated web on loopback in tests. A name opens exactly that name, in any case and
    with or without the root's trailing dot: not its subdomains, not a name that ends or
    begins with it, not a Unicode name (connections use the ASCII form, ``xn--...``)."""
    block_private: bool = True
    """Refuse every address that is not globally routable (loopback, private, link-local,
    cloud metadata, carrier-grade NAT, multicast, reserved), however it is spelled, and
    IPv6 addresses that carry such an IPv4 address (mapped, NAT64, 6to4)."""
    only_endpoints: tuple[str, ...] = ()
    """When given, the only ``host:port`` endpoints (``[v6]:port`` for IPv6) that may be
    reached, whatever their address: every other URL, another port of the same host
    included, is refused. An IP-literal host matches that address in any spelling; a
    name matches that name exactly, and whatever it resolves to."""

    def __post_init__(self) -> None:
        for entry in self.allow:
            if not isinstance(entry, str) or not entry:
                raise ConfigError(f"Expects UrlPolicy.allow entries to be host names or "
                                  f"networks, actual: {entry!r}")
        for entry in self.only_endpoints:
            _endpoint(entry)  # raises ConfigError for one that is not host:port

    def check_url(self, url: str | URL) -> str | None:
        """Why ``url`` may not be fetched, or ``None``; IP literals are checked here,
        names when they resolve. (A pure function of the policy and the URL, so its
        answers are memoised: a page served from the cache is checked again.)"""
        return _check_url(self, url)

    def _decide(self, url: str | URL) -> str | None:
        try:
            parsed = url if isinstance(url, URL) else URL(url)
            scheme, host = parsed.scheme.lower(), parsed.raw_host
        except (ValueError, TypeError) as exc:
            return f"the URL is malformed ({exc})"
        if scheme not in self.schemes:
            return f"the scheme {scheme!r} is not allowed (only {', '.join(self.schemes)})"
        if not host:
            return "the URL has no host"
        try:
            address = host_address(host)
        except ValueError as exc:
            return f"the host is malformed ({exc})"
        if self.only_endpoints:
            return self._check_endpoint(address, host, parsed.port)
        if address is None:
            return self._check_name(host)
        return self.check_address(address, host=host)

    def _check_name(self, host: str) -> str | None:
        """``localhost`` names are loopback by definition (RFC 6761), whatever DNS says."""
        name = host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return self.check_address(ipaddress.IPv4Address("127.0.0.1"), host=host)
        return None

    def _check_endpoint(self, address: IPAddress | None, host: str,
                        port: int | None) -> str | None:
        """Why ``host:port`` (at ``address``, when known) is not one of ``only_endpoints``."""
        name = host.lower().rstrip(".")
        for entry in self.only_endpoints:
            want_host, want_port = _endpoint(entry)
            if port != want_port:
                continue
            if want_host == name or (address is not None and _same_address(want_host, address)):
                return None
        shown = host or str(address)
        shown = f"[{shown}]" if ":" in shown else shown
        return (f"the endpoint {shown}:{port} is not one this policy reaches "
                f"(only {', '.join(self.only_endpoints)})")

    def check_address(self, address: IPAddress, *, host: str = "",
                      port: int | None = None) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) on ``port`` is refused,
        or ``None``. (A policy confined to endpoints needs the port: without it, it refuses.)"""
        if self.only_endpoints:
            return self._check_endpoint(address, host, port)
        if not self.block_private:
            return None
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:  # the same host as the IPv4 address, on a dual-stack socket
            address = mapped
        if self._allowed(address, host):
            return None
        kind = address_kind(address)
        return None if kind is None else f"the address {address} is not public ({kind})"

    def check_sockaddr(self, sockaddr: tuple[object, ...], *, host: str = "",
                       port: int | None = None) -> str | None:
        """Why a socket may not connect to ``sockaddr`` (a ``getaddrinfo`` address, whose
        port is ``port`` when it holds none), or ``None``; anything that is not an IP
        address is refused."""
        try:
            text = str(sockaddr[0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
        except (ValueError, IndexError):
            return f"the address {sockaddr!r} is not an IP address"
        if len(sockaddr) > 1 and isinstance(sockaddr[1], int):
            port = sockaddr[1]
        return self.check_address(address, host=host, port=port)

    def _allowed(self, address: IPAddress, host: str) -> bool:
        name = _dns_name(host)
        for entry in self.allow:
            if name and _dns_name(entry) == name:
                return True
            network = _network(entry)
            if network is not None and address in network:
                return True
        return False


@lru_cache(maxsize=1 << 14)
def _check_url(policy: UrlPolicy, url: str | URL) -> str | None:
    return policy._decide(url)


def _dns_name(host: str) -> str:
    """``host`` as DNS compares names: ASCII case folded, the root's trailing dot dropped;
    ``""`` for a name that is not ASCII (no connection asks for one: IDNA encodes it).

    Example:
        >>> _dns_name("Intranet.TEST."), _dns_name("intranet.test.."), _dns_name("\u212aa.test")
        ('intranet.test', 'intranet.test.', '')
    """
    return host.lower().removesuffix(".") if host.isascii() else ""


@lru_cache(maxsize=256)
def _endpoint(entry: str) -> tuple[str, int]:
    """An ``only_endpoints`` entry as (host, port): an IP literal in its canonical form,
    a name in lower case without a trailing dot."""
    try:
        parts = urlsplit(f"//{entry}")
        host, port = parts.hostname, parts.port
        address = host_address(host) if host else None
    except (ValueError, TypeError):
        host = port = None
    if not isinstance(entry, str) or not host or port is None or parts.path or parts.username:
        raise ConfigError(f"Expects UrlPolicy.only_endpoints entries as 'host:port' (or "
                          f"'[v6]:port'), actual: {entry!r}")
    return (str(address) if address is not None else host.rstrip(".")), port


def _same_address(entry_host: str, address: IPAddress) -> bool:
    """Whether an endpoint's host is an IP literal for ``address`` (IPv4-mapped included)."""
    try:
        wanted = ipaddress.ip_address(entry_host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return wanted == address or (mapped is not None and wanted == mapped)


@lru_cache(maxsize=256)
def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An allowlist entry as a network (parsed once), or ``None`` for a hostname."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


@contextlib.contextmanager
def connecting_to(host: str) -> Iterator[None]:
    """Name the host whose connections are opened inside (an allowlisted name's
    addresses pass :class:`ConnectGuard`)."""
    token = _HOST.set(host)
    try:
        yield
    finally:
        _HOST.reset(token)


class ConnectGuard:
    """A socket factory for aiohttp's connector that refuses to open a socket to an
    address the policy refuses: the last check, on the very address connected to.

    Example:
        >>> guard = ConnectGuard(UrlPolicy())
        >>> guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
        Traceback (most recent call last):
        ...
        webresearch.net.safety.BlockedAddress: the address 127.0.0.1 is not public (loopback)
    """

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self.refused = 0
        """Connections refused here (each would have reached an address the policy refuses)."""

    def __call__(self, addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        reason = self.policy.check_sockaddr(sockaddr, host=_HOST.get())
        if reason is not None:
            self.refused += 1
            raise BlockedAddress(reason)
        return socket.socket(family=family, type=kind, proto=proto)


class SafeResolver(AbstractResolver):
    """An aiohttp resolver that drops addresses the policy refuses.

    If every address of a host is refused, resolution fails with
    :class:`BlockedAddress`, which the HTTP client reports as a refused URL.
    """

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        allowed, reasons = _filter(self.policy, host, results)
        if not allowed:
            raise BlockedAddress(f"{host} is refused: {reasons[0]}" if reasons
                                 else f"{host} has no address")
        return allowed

    async def close(self) -> None:
        if self._inner is not None and self._owns_inner:
            await self._inner.close()


def _filter(policy: UrlPolicy, host: str, results: Sequence[ResolveResult]
            ) -> tuple[list[ResolveResult], list[str]]:
    allowed, reasons = [], []
    for result in results:
        reason = policy.check_sockaddr((result["host"],), host=host, port=result["port"])
        if reason is None:
            allowed.append(result)
        else:
            reasons.append(reason)
    return allowed, reasons
