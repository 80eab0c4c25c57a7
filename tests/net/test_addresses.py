"""Host spellings: IPv4 in ``inet_aton``'s grammar, IPv4 carried in IPv6, the special ranges."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.net import spellings
from webresearch.net.addresses import address_kind, host_address, parse_ipv4
from webresearch.net.safety import UrlPolicy


@settings(max_examples=500)
@given(spellings.ipv4_spellings())
def test_every_ipv4_spelling_is_decided_as_its_address(
        spelled: tuple[str, ipaddress.IPv4Address]) -> None:
    host, address = spelled
    try:
        raw_host = URL(f"http://{host}/").raw_host  # as aiohttp will hold it
    except UnicodeError:  # IDNA refuses it (an empty label): no client can use it
        assert UrlPolicy().check_url(f"http://{host}/") is not None
        return
    assert raw_host is not None and host_address(raw_host) == address


@settings(max_examples=500)
@given(spellings.blocked_urls(port=8080))
def test_generated_spellings_of_blocked_addresses_are_refused(url: str) -> None:
    assert UrlPolicy().check_url(url) is not None


@settings(max_examples=300)
@given(st.text("0123456789abcdefxX.", min_size=1, max_size=24).filter(
    lambda s: not s.endswith(".")))
@example("0x")
@example("00x1")
@example("1.0x")
@example("08")
@example("4294967295")
def test_parse_ipv4_agrees_with_the_c_library(text: str) -> None:
    try:
        libc: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        libc = None
    if libc is not None:  # never another address than a resolver would connect to
        assert parse_ipv4(text) == libc


@pytest.mark.parametrize("host", ["0x7f.1", "１２７。０。０。１", "[::ffff:127.0.0.1]"])
def test_spellings_of_a_public_address_are_that_address(host: str) -> None:
    public = host.replace("7f", "5d").replace("１２７", "９３").replace("127", "93")
    raw_host = URL(f"http://{public}/").raw_host
    assert raw_host is not None
    address = host_address(raw_host)
    assert address is not None and str(address).endswith(("93.0.0.1", "5d00:1"))
    assert UrlPolicy().check_url(f"http://{public}/") is None


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("169.254.169.254", "link-local"), ("10.1.2.3", "private"),
    ("100.100.100.200", "carrier-grade NAT"), ("0.0.0.0", "this network"),
    ("255.255.255.255", "reserved"), ("224.0.0.251", "multicast"),
    ("::", "unspecified"), ("::1", "loopback"), ("::127.0.0.1", "IPv4-compatible, deprecated"),
    ("::ffff:10.0.0.1", "IPv4-mapped of 10.0.0.1, private"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254, link-local"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1, loopback"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo tunnel"),
    ("fd00:ec2::254", "private"), ("fe80::1", "link-local"), ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"), ("64:ff9b:1::a00:1", "local NAT64"),
], ids=str)
def test_address_kinds(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "64:ff9b::808:808", "2002:808:808::1", "::ffff:1.1.1.1"])
def test_public_addresses(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("host", "message"), [
    ("1.2.3.4.5", "Expects an IPv4 address after its numeric last label, actual: '1.2.3.4.5'"),
    ("a*b.test", "Expects a host name of letters, digits"),
    ("fe80::1%25lo", "Expects an IPv6 address without a zone id, actual: 'fe80::1%25lo'"),
    ("%31%32%37.0.0.1", "Expects an IPv4 address after its numeric last label"),
    ("%6c%6f%63%61%6c%68%6f%73%74", "Expects a host name of letters, digits"),
    ("example.123", "Expects an IPv4 address after its numeric last label"),
])
def test_malformed_hosts(host: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        host_address(host)


@pytest.mark.parametrize("host", ["example.com", "xn--caf-dma.test", "a_b.example", "1e100.net",
                                  "0x.example"])
def test_names(host: str) -> None:
    assert host_address(host) is None
