"""The HTTP client never connects where the URL policy refuses, however the host is written.

Every test runs a canary (sockets on 127.0.0.1 and ::1 that record any connection,
and a record of every connection attempt, kept on this machine) and asserts that
nothing reached it: requests to each spelling, redirects (raw ``Location`` headers)
to each, with the first check on, and with it switched off so that the connect-time
guard alone has to hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.net import spellings
from tests.net.canary import Canary, FixedResolver, Redirector
from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.retry import RetryPolicy
from webresearch.net.safety import UrlPolicy

DNS = {"redirect.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"],
       "metadata.google.internal": ["169.254.169.254"], "mapped.test": ["::ffff:127.0.0.1"],
       "six.test": ["::1"], "odd.test": ["0177.0.0.1"], "mixed.test": ["10.0.0.1", "127.0.0.1"],
       "nat64.test": ["64:ff9b::7f00:1"], "localhost": ["127.0.0.1"],
       "127.0.0.1.nip.test": ["127.0.0.1"]}
"""A stand-in DNS: only ``redirect.test`` (the redirector) is allowed by the policy."""
NAMES = [spellings.url(name) for name in DNS if name != "redirect.test"]
POLICY = UrlPolicy(allow=("redirect.test",))


def every_url() -> list[str]:
    return [*spellings.loopback_urls(), *spellings.elsewhere_urls(), *NAMES]


async def attempt(urls: list[str], *, redirect: bool) -> tuple[dict[str, str], list[object],
                                                              list[str]]:
    """Fetch each URL (or a redirect to it) with a canary up: each URL's error, the
    canary's leaks, and the paths the redirector served."""
    redirector = Redirector([])
    async with redirector, Canary(open_ports=(redirector.port,)) as canary:
        targets = [u.replace("{p}", str(canary.port)) for u in urls]
        redirector.targets = targets
        config = HttpConfig(url_policy=POLICY, retry=RetryPolicy(attempts=1),
                            connect_timeout_s=10.0, deadline_s=20.0)
        client = HttpClient(config, resolver=FixedResolver(DNS))
        try:
            start = [f"http://redirect.test:{redirector.port}/r/{i}" if redirect else target
                     for i, target in enumerate(targets)]
            responses = [await client.request("GET", url) for url in start]
            ok = await client.request("GET", f"http://redirect.test:{redirector.port}/ok")
        finally:
            await client.aclose()
        assert ok.status == 200 and ok.body == b"ok"  # the allowed host itself works
        errors = {url: r.error or f"HTTP {r.status}" for url, r in zip(urls, responses,
                                                                       strict=True)}
        return errors, canary.leaks(), redirector.requests


def check(urls: list[str], *, redirect: bool, refused: bool = True) -> None:
    errors, leaks, served = asyncio.run(attempt(urls, redirect=redirect))
    assert leaks == []
    if refused:
        wrong = {url: e for url, e in errors.items() if not e.startswith("refused: ")}
        assert wrong == {}
    assert served == ([f"/r/{i}" for i in range(len(urls))] if redirect else []) + ["/ok"]


@pytest.mark.parametrize("redirect", [False, True], ids=["direct", "redirect"])
def test_no_spelling_reaches_the_canary(redirect: bool) -> None:
    check(every_url(), redirect=redirect)


@pytest.mark.parametrize("redirect", [False, True], ids=["direct", "redirect"])
def test_the_connect_guard_alone_keeps_every_spelling_out(monkeypatch: Any,
                                                          redirect: bool) -> None:
    monkeypatch.setattr(UrlPolicy, "check_url", lambda self, url: None)  # a first check gone
    check(every_url(), redirect=redirect, refused=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spellings.blocked_urls(), min_size=1, max_size=20), st.booleans())
def test_generated_spellings_never_reach_the_canary(urls: list[str], redirect: bool) -> None:
    check(urls, redirect=redirect)


def test_a_name_with_public_and_private_addresses_connects_to_a_public_one() -> None:
    async def main() -> tuple[list[str], list[object]]:
        redirector = Redirector([])
        async with redirector, Canary(open_ports=(redirector.port,)) as canary:
            policy = UrlPolicy(allow=("127.0.0.1/32",))  # the redirector's address stands
            dns = FixedResolver({"mixed.test": ["10.0.0.1", "127.0.0.1"]})  # for a public one
            client = HttpClient(HttpConfig(url_policy=policy, retry=RetryPolicy(attempts=1)),
                                resolver=dns)
            try:
                ok = await client.request("GET", f"http://mixed.test:{redirector.port}/ok")
            finally:
                await client.aclose()
            assert ok.status == 200
            return [str(a[0]) for a in canary.attempts], canary.leaks()

    attempts, leaks = asyncio.run(main())
    assert attempts == ["127.0.0.1"] and leaks == []  # 10.0.0.1 was never tried
