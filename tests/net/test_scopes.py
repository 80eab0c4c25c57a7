"""Scopes: an allow-list name opens that name exactly; endpoints open one host:port only."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.net.canary import FixedResolver
from tests.net.spellings import ipv4_spellings
from webresearch.errors import ConfigError
from webresearch.net.safety import (
    BlockedAddress,
    ConnectGuard,
    SafeResolver,
    UrlPolicy,
    connecting_to,
)

LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
NAMES = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
PRIVATE = "10.1.1.1"


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[str, str]:
    """An allow-list name and a name close to it that is another host."""
    entry = draw(NAMES) + ".test"
    other = draw(NAMES)
    near = draw(st.sampled_from([
        other + entry, other + "." + entry, entry + "." + other, entry + other,
        entry + "-" + other, other + "-" + entry, entry[1:], entry[:-1],
        entry.replace(".", "-"), entry.replace(".", ""), entry.rsplit(".", 1)[0],
        entry + ".evil.com", "www." + entry]))
    assume(near.rstrip(".") != entry)
    return entry, near


@settings(max_examples=300, deadline=None)
@given(pair=near_misses())
def test_an_allowed_name_opens_no_name_near_it(pair: tuple[str, str]) -> None:
    entry, near = pair
    resolver = SafeResolver(UrlPolicy(allow=(entry,)), FixedResolver({near: [PRIVATE]}))
    with pytest.raises(BlockedAddress, match="is not public"):
        asyncio.run(resolver.resolve(near, 80))
    guard = ConnectGuard(UrlPolicy(allow=(entry,)))
    with connecting_to(near), pytest.raises(BlockedAddress):
        guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, 80)))


@settings(max_examples=100, deadline=None)
@given(entry=NAMES, upper=st.booleans(), dot=st.booleans())
def test_an_allowed_name_opens_itself_in_any_case(entry: str, upper: bool, dot: bool) -> None:
    host = (entry.upper() if upper else entry) + ("." if dot else "")
    resolver = SafeResolver(UrlPolicy(allow=(entry,)), FixedResolver({host: [PRIVATE]}))
    assert [r["host"] for r in asyncio.run(resolver.resolve(host, 80))] == [PRIVATE]


# endpoints ----------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["127.0.0.1", "http://127.0.0.1:80", "h:port", "[::1]", ":80",
                                   "h:99999", "u@h:80", "h:80/path", "", "a b:80", "1.2.3.4.5:80"])
def test_endpoint_entries_are_checked(entry: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "Expects UrlPolicy.only_endpoints entries as 'host:port' (or '[v6]:port'), actual:")):
        UrlPolicy(only_endpoints=(entry,))


@settings(max_examples=300, deadline=None)
@given(spelled=ipv4_spellings(), port=st.integers(1, 65535), other=st.integers(1, 65535))
def test_an_endpoint_opens_its_address_in_any_spelling_on_its_port_only(
        spelled: tuple[str, ipaddress.IPv4Address], port: int, other: int) -> None:
    assume(port != other)
    host, address = spelled
    policy = UrlPolicy(only_endpoints=(f"127.0.0.1:{port}",))
    on_port = policy.check_url(f"http://{host}:{port}/")
    assert (on_port is None) == (address == ipaddress.IPv4Address("127.0.0.1")), on_port
    assert policy.check_url(f"http://{host}:{other}/") is not None
    assert policy.check_sockaddr((str(address), other)) is not None
    assert (policy.check_sockaddr((str(address), port)) is None) == (str(address) == "127.0.0.1")


def test_an_endpoint_refuses_public_hosts_and_sockets_without_a_port() -> None:
    policy = UrlPolicy(only_endpoints=("127.0.0.1:8080",))
    assert policy.check_url("http://93.184.216.34:8080/") is not None
    assert policy.check_url("https://example.com/") is not None
    assert policy.check_sockaddr(("127.0.0.1",)) is not None  # no port: refused


def test_a_named_endpoint_through_the_resolver_and_the_guard() -> None:
    policy = UrlPolicy(only_endpoints=("svc.test:8080",))
    inner = FixedResolver({"svc.test": [PRIVATE], "evilsvc.test": [PRIVATE]})
    resolver = SafeResolver(policy, inner)
    assert [r["host"] for r in asyncio.run(resolver.resolve("svc.test", 8080))] == [PRIVATE]
    for host, port in [("svc.test", 8081), ("evilsvc.test", 8080)]:
        with pytest.raises(BlockedAddress, match="is not one this policy reaches"):
            asyncio.run(resolver.resolve(host, port))
    guard = ConnectGuard(policy)
    with connecting_to("svc.test"):
        guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, 8080))).close()
        with pytest.raises(BlockedAddress, match=re.escape("svc.test:22 is not one")):
            guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, 22)))
    with pytest.raises(BlockedAddress, match=re.escape(f"the endpoint {PRIVATE}:8080 is not")):
        guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, 8080)))  # for no host
    assert guard.refused == 2


def test_an_ipv6_endpoint() -> None:
    policy = UrlPolicy(only_endpoints=("[::1]:8080",))
    assert policy.check_url("http://[::1]:8080/") is None
    assert policy.check_url("http://[0:0:0:0:0:0:0:1]:8080/") is None
    assert policy.check_url("http://[::1]:8081/") == (
        "the endpoint [::1]:8081 is not one this policy reaches (only [::1]:8080)")
    assert policy.check_sockaddr(("::1", 8080, 0, 0)) is None
    assert policy.check_sockaddr(("127.0.0.1", 8080)) is not None
