"""What the policy may reach: http(s) only, and no loopback, private or metadata addresses.

The check runs on resolved addresses inside the HTTP client's resolver, so it holds
for every connection, redirects included, and a hostname that resolves to a private
address is refused just like the address itself.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["BlockedAddress", "SafeResolver", "UrlPolicy"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(OSError):
    """A connection was refused by the URL policy (raised inside the resolver)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlPolicy:
    """Which URLs and addresses the live web backend may reach.

    Example:
        >>> policy = UrlPolicy()
        >>> policy.check_url("file:///etc/passwd")
        "the scheme 'file' is not allowed (only http, https)"
        >>> policy.check_url("http://169.254.169.254/latest/meta-data/")
        'the address 169.254.169.254 is not public (link-local)'
        >>> UrlPolicy(allow=("127.0.0.0/8",)).check_url("http://127.0.0.1:8080/") is None
        True
    """

    schemes: tuple[str, ...] = ("http", "https")
    """URL schemes allowed."""
    allow: tuple[str, ...] = ()
    """Hostnames or networks (CIDR) opened despite the address rules, for example the
    simulated web on loopback in tests."""
    block_private: bool = True
    """Refuse every address that is not globally routable (loopback, private, link-local,
    cloud metadata, carrier-grade NAT, multicast, reserved)."""

    def check_url(self, url: str) -> str | None:
        """Why ``url`` may not be fetched, or ``None``; IP literals are checked here."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as exc:
            return f"the URL is malformed ({exc})"
        if parts.scheme.lower() not in self.schemes:
            return (f"the scheme {parts.scheme.lower()!r} is not allowed "
                    f"(only {', '.join(self.schemes)})")
        if not host:
            return "the URL has no host"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: checked after resolution
        return self.check_address(address, host=host)

    def check_address(self, address: IPAddress, *, host: str = "") -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, or ``None``."""
        if not self.block_private or self._allowed(address, host):
            return None
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        if address.is_global and not address.is_multicast:
            return None
        kind = ("loopback" if address.is_loopback else "link-local" if address.is_link_local
                else "private" if address.is_private else "reserved")
        return f"the address {address} is not public ({kind})"

    def _allowed(self, address: IPAddress, host: str) -> bool:
        for entry in self.allow:
            if entry.lower() == host.lower():
                return True
            network = _network(entry)
            if network is not None and address in network:
                return True
        return False


@lru_cache(maxsize=256)
def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An allowlist entry as a network (parsed once), or ``None`` for a hostname."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


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
        reason = policy.check_address(ipaddress.ip_address(result["host"]), host=host)
        if reason is None:
            allowed.append(result)
        else:
            reasons.append(reason)
    return allowed, reasons
