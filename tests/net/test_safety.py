"""The URL policy: schemes, private and metadata addresses, the allowlist, the resolver."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from tests.net.canary import FixedResolver
from webresearch.errors import ConfigError
from webresearch.net.safety import (
    BlockedAddress,
    ConnectGuard,
    SafeResolver,
    UrlPolicy,
    connecting_to,
)
from webresearch.net.urls import normalize_query, normalize_url, origin


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "the scheme 'file' is not allowed"),
    ("ftp://example.com/", "the scheme 'ftp' is not allowed"),
    ("gopher://x/", "the scheme 'gopher' is not allowed"),
    ("http:///nohost", "the URL has no host"),
    ("http://127.0.0.1/", "127.0.0.1 is not public (loopback)"),
    ("http://127.1.2.3:8080/", "127.1.2.3 is not public (loopback)"),
    ("http://10.0.0.1/", "10.0.0.1 is not public (private)"),
    ("http://192.168.1.1/", "is not public (private)"),
    ("http://172.16.0.1/", "is not public (private)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not public (link-local)"),
    ("http://100.64.0.1/", "100.64.0.1 is not public"),
    ("http://0.0.0.0/", "0.0.0.0 is not public"),
    ("http://[::1]/", "::1 is not public (loopback)"),
    ("http://[fd00:ec2::254]/", "is not public (private)"),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1 is not public (loopback)"),
    ("http://224.0.0.1/", "is not public"),
], ids=lambda v: v if v.startswith(("http", "file", "ftp", "gopher")) else None)
def test_refused_urls(url: str, reason: str) -> None:
    refused = UrlPolicy().check_url(url)
    assert refused is not None and reason in refused


def test_public_and_allowed_urls() -> None:
    assert UrlPolicy().check_url("https://example.com/a") is None  # a name: checked on resolve
    assert UrlPolicy().check_url("http://93.184.216.34/") is None
    policy = UrlPolicy(allow=("127.0.0.0/8", "intranet.test"))
    assert policy.check_url("http://127.0.0.9:1/") is None
    assert policy.check_url("http://10.0.0.1/") is not None
    assert UrlPolicy(block_private=False).check_url("http://10.0.0.1/") is None


def test_resolver_drops_refused_addresses() -> None:
    inner = FixedResolver({"evil.test": ["127.0.0.1"], "mixed.test": ["10.0.0.1", "93.184.216.34"],
                           "intranet.test": ["10.1.1.1"]})
    resolver = SafeResolver(UrlPolicy(allow=("intranet.test",)), inner)
    with pytest.raises(BlockedAddress, match=r"evil.test is refused: .*127.0.0.1 is not public"):
        asyncio.run(resolver.resolve("evil.test", 80))
    assert [r["host"] for r in asyncio.run(resolver.resolve("mixed.test", 80))] == ["93.184.216.34"]
    assert [r["host"] for r in asyncio.run(resolver.resolve("intranet.test", 80))] == ["10.1.1.1"]


def test_normalization() -> None:
    assert normalize_url("HTTP://A.test:80/x?b=2&a=1&utm_medium=m#f") == "http://a.test/x?a=1&b=2"
    assert normalize_url("https://a.test:8443") == "https://a.test:8443/"
    assert normalize_url("http://[::1]:8080/p") == "http://[::1]:8080/p"
    assert origin("http://A.test/x/y") == "http://a.test"
    assert normalize_query("A  b") == normalize_query("a b")


def test_resolved_strings_that_are_no_address_are_refused() -> None:
    resolver = SafeResolver(UrlPolicy(), FixedResolver({"odd.test": ["0177.0.0.1", "x"]}))
    with pytest.raises(BlockedAddress, match=re.escape(
            "odd.test is refused: the address ('0177.0.0.1',) is not an IP address")):
        asyncio.run(resolver.resolve("odd.test", 80))


def test_the_connect_guard_opens_allowlisted_names_only_for_their_own_connections() -> None:
    guard = ConnectGuard(UrlPolicy(allow=("intranet.test",)))
    info = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.1.1", 80))
    with connecting_to("intranet.test"):
        guard(info).close()
    with pytest.raises(BlockedAddress, match=re.escape(
            "the address 10.1.1.1 is not public (private)")):
        guard(info)  # the same address for another host (or none)
    assert guard.refused == 1


def test_allowlist_entries_are_checked() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "Expects UrlPolicy.allow entries to be host names or networks, actual: ''")):
        UrlPolicy(allow=("",))
