"""Hosts as a connection sees them: IP literals in every spelling, and which addresses are public.

A resolver treats far more than dotted quads as IPv4 literals: ``2130706433``,
``0177.0.0.1``, ``0x7f.1`` and ``127.1`` all connect to 127.0.0.1 (``inet_aton``'s
grammar, which the WHATWG URL standard adopts). :func:`host_address` reads a host in
that grammar, so such a host is decided as the address it stands for, never as a name;
a host that ends in a number but is not a valid address is malformed, not a name.
IPv6 addresses that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged
by the address they carry too (:func:`address_kind`). The special-purpose ranges are
spelled out here rather than taken from :mod:`ipaddress`, whose ``is_global`` changes
between Python releases (3.11 calls ``::127.0.0.1`` global).
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["IPAddress", "address_kind", "host_address", "parse_ipv4"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4_SPECIAL = tuple((ipaddress.IPv4Network(net), kind) for net, kind in (
    ("0.0.0.0/8", "this network"), ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"), ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"), ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"), ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
))
"""IANA's IPv4 special-purpose ranges (RFC 6890 and successors), and multicast."""

_V6_SPECIAL = tuple((ipaddress.IPv6Network(net), kind) for net, kind in (
    ("::/128", "unspecified"), ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible, deprecated"),
    ("::ffff:0:0:0/96", "IPv4-translated"), ("64:ff9b:1::/48", "local NAT64"),
    ("100::/64", "discard-only"), ("2001::/32", "Teredo tunnel"),
    ("2001:db8::/32", "documentation"), ("3fff::/20", "documentation"),
    ("fc00::/7", "private"), ("fe80::/10", "link-local"), ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
))
"""IANA's IPv6 special-purpose ranges that are not globally reachable, and multicast.
IPv4-mapped (``::ffff:0:0/96``), NAT64 (``64:ff9b::/96``) and 6to4 (``2002::/16``)
addresses are judged by the IPv4 address they carry instead."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.*")
_HEX = re.compile(r"0x[0-9a-f]*")


def _number(part: str) -> int | None:
    """One part of an ``inet_aton`` address: decimal, ``0`` octal or ``0x`` hex."""
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not part.isascii() or not part.isdigit():
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` spells in ``inet_aton``'s grammar, or ``None``.

    One to four parts, each decimal, octal (a leading ``0``) or hex (``0x``); the last
    part fills the bytes the others leave. Trailing dots are ignored.

    Example:
        >>> [str(parse_ipv4(h)) for h in ("2130706433", "0177.0.0.1", "0x7f.1", "127.1.")]
        ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1']
        >>> parse_ipv4("example.com") is None, parse_ipv4("256.1.1.1") is None
        (True, True)
    """
    parts = host.lower().rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_number(part) for part in parts]
    *head, last = numbers
    if last is None or any(n is None or n > 255 for n in head):
        return None
    if last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += (number or 0) << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ends_in_a_number(host: str) -> bool:
    """WHATWG's rule: a host whose last label is numeric must be an IPv4 address."""
    last = host.lower().rstrip(".").rsplit(".", 1)[-1]
    return (last.isascii() and last.isdigit()) or bool(_HEX.fullmatch(last))


def host_address(host: str) -> IPAddress | None:
    """The address an IP-literal ``host`` connects to, or ``None`` when it is a name.

    ``host`` is a URL's host as the HTTP client holds it (yarl's ``raw_host``: IDNA
    applied, lower case, IPv6 without brackets).

    Raises:
        ValueError: The host is neither a valid address nor a valid name (a numeric
            last label that is no IPv4 address, an IPv6 zone id, percent-encoding).

    Example:
        >>> host_address("0x7f000001"), host_address("::ffff:7f00:1")
        (IPv4Address('127.0.0.1'), IPv6Address('::ffff:7f00:1'))
        >>> host_address("example.com") is None
        True
        >>> host_address("1.2.3.4.5")
        Traceback (most recent call last):
        ...
        ValueError: Expects an IPv4 address after its numeric last label, actual: '1.2.3.4.5'
    """
    if ":" in host:
        if "%" in host:
            raise ValueError(f"Expects an IPv6 address without a zone id, actual: {host!r}")
        return ipaddress.IPv6Address(host.strip("[]"))
    if _ends_in_a_number(host):
        address = parse_ipv4(host)
        if address is None:
            raise ValueError(
                f"Expects an IPv4 address after its numeric last label, actual: {host!r}")
        return address
    if not _NAME.fullmatch(host):
        raise ValueError(f"Expects a host name of letters, digits, '-', '_' and dots, "
                         f"actual: {host!r}")
    return None


def _carried(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, and how: mapped, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not public (``"loopback"``, ``"private"``...), or ``None``.

    Example:
        >>> address_kind(ipaddress.ip_address("169.254.169.254"))
        'link-local'
        >>> address_kind(ipaddress.ip_address("64:ff9b::7f00:1"))
        'NAT64 of 127.0.0.1, loopback'
        >>> address_kind(ipaddress.ip_address("93.184.216.34")) is None
        True
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(address.compressed.split("%")[0])
        carried = _carried(address)
        if carried is not None:
            how, inner = carried
            kind = address_kind(inner)
            return None if kind is None else f"{how} of {inner}, {kind}"
        special = next((k for net, k in _V6_SPECIAL if address in net), None)
    else:
        special = next((k for net, k in _V4_SPECIAL if address in net), None)
    if special is not None:
        return special
    return None if address.is_global else "reserved"
