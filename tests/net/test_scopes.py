"""Scopes: an allow-list name opens that name exactly; endpoints open one host:port only."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from yarl import URL

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


HOMOGLYPHS = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "o": "\u043e",
              "p": "\u0440", "s": "\u0455", "x": "\u0445", "y": "\u0443", "k": "\u212a"}
"""Letters and a lookalike of each (Cyrillic; the Kelvin sign, which ``str.lower`` and IDNA
turn into ``k``)."""


def _lookalike(draw: st.DrawFn, entry: str) -> str:
    """``entry`` with one letter replaced by a lookalike (``.test`` always has one)."""
    spots = [i for i, c in enumerate(entry) if c in HOMOGLYPHS]
    i = draw(st.sampled_from(spots))
    return entry[:i] + HOMOGLYPHS[entry[i]] + entry[i + 1:]


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[str, str]:
    """An allow-list name and a name close to it that is another host: glued to a prefix
    or a suffix (in any case), a subdomain or a parent, another TLD, a lookalike letter,
    stray dots."""
    entry = draw(NAMES) + ".test"
    other = draw(NAMES)
    shout = draw(st.booleans())
    glue = other.upper() if shout else other
    tld = draw(st.sampled_from(["com", "tests", "tes", "testt", "internal", "local", "t"]))
    near = draw(st.sampled_from([
        glue + entry, glue + "." + entry, entry + "." + glue, entry + glue,
        entry + "-" + glue, glue + "-" + entry, (glue + entry).upper(), entry[1:], entry[:-1],
        entry.replace(".", "-"), entry.replace(".", ""), entry.rsplit(".", 1)[0],
        entry.split(".", 1)[1], entry + ".evil.com", "www." + entry,
        entry.rsplit(".", 1)[0] + "." + tld, _lookalike(draw, entry),
        _lookalike(draw, entry).upper(), entry + "..", "." + entry, entry + ". ",
        " " + entry]))
    assume(near.lower() not in (entry, entry + "."))  # those are the entry itself
    return entry, near


def _refused_for(entry: str, host: str) -> None:
    resolver = SafeResolver(UrlPolicy(allow=(entry,)), FixedResolver({host: [PRIVATE]}))
    with pytest.raises(BlockedAddress, match="is not public"):
        asyncio.run(resolver.resolve(host, 80))
    guard = ConnectGuard(UrlPolicy(allow=(entry,)))
    with connecting_to(host), pytest.raises(BlockedAddress):
        guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE, 80)))


@settings(max_examples=500, deadline=None)
@given(pair=near_misses())
@example(pair=("intranet.test", "evilintranet.test"))
@example(pair=("ka.test", "\u212aa.test"))  # the Kelvin sign: str.lower() makes it "k"
@example(pair=("intranet.test", "intranet.test.."))
def test_an_allowed_name_opens_no_name_near_it(pair: tuple[str, str]) -> None:
    """As the resolver and the socket see it: the host as written, and as aiohttp asks
    for it (yarl's IDNA form, unless that is the entry's own name)."""
    entry, near = pair
    _refused_for(entry, near)
    try:
        raw_host = URL(f"http://{near}/").raw_host
    except (UnicodeError, ValueError):
        return  # no client can ask for it
    if raw_host and raw_host.removesuffix(".") != entry:
        _refused_for(entry, raw_host)


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
    if not _client_can_use(host):  # IDNA refuses it (an empty label): refused as malformed
        assert on_port is not None and "malformed" in on_port, on_port
        return
    assert (on_port is None) == (address == ipaddress.IPv4Address("127.0.0.1")), on_port
    assert policy.check_url(f"http://{host}:{other}/") is not None
    assert policy.check_sockaddr((str(address), other)) is not None
    assert (policy.check_sockaddr((str(address), port)) is None) == (str(address) == "127.0.0.1")


def _client_can_use(host: str) -> bool:
    try:
        URL(f"http://{host}/").raw_host  # noqa: B018  # as aiohttp will hold it
    except UnicodeError:
        return False
    return True


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
