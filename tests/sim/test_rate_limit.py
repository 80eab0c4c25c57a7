"""serve-web's real rate limit: a token bucket over every client, answered 429 + Retry-After."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.cli import build_parser
from webresearch.errors import ConfigError
from webresearch.sim.faults import Faults, TokenBucket
from webresearch.sim.server import SimInternet


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.5, 1000.0), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0.0, 2.0), max_size=300))
def test_the_bucket_never_admits_more_than_its_rate_and_burst(rate: float, burst: int,
                                                              gaps: list[float]) -> None:
    bucket, now, admitted = TokenBucket(rate, burst, now=0.0), 0.0, 0
    for gap in gaps:
        now += gap
        admitted += bucket.admit(now)
        assert admitted <= burst + rate * now + 1e-6


def test_a_steady_client_under_the_rate_is_always_admitted() -> None:
    bucket = TokenBucket(10.0, 1, now=0.0)
    assert all(bucket.admit(0.11 * i + 0.11) for i in range(100))


def test_past_the_limit_the_server_answers_429_with_retry_after_and_counts_no_token() -> None:
    async def scenario() -> tuple[list[int], str | None, int, int]:
        faults = Faults(rate_limit_rps=0.5, rate_limit_burst=3, retry_after_s=7.0)
        async with SimInternet(faults=faults) as net, aiohttp.ClientSession() as http:
            statuses, retry_after = [], None
            for _ in range(8):  # at once: the burst passes, the rest is refused
                async with http.get(net.url("Simpedia")) as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        retry_after = response.headers.get("Retry-After")
            async with http.get(net.base_url + "/robots.txt") as robots:  # not limited
                robots_status = robots.status
            limited = sum(r.fault == "limited" for r in net.log)
        return statuses, retry_after, robots_status, limited

    statuses, retry_after, robots_status, limited = asyncio.run(scenario())
    assert 429 not in statuses[:3] and statuses[3:].count(429) >= 4, statuses
    assert retry_after == "7"
    assert robots_status == 200 and limited == statuses.count(429)


def test_serve_web_takes_the_rate_limit_flags() -> None:
    args = build_parser().parse_args(["serve-web", "--rate-limit-rps", "40",
                                      "--rate-limit-burst", "5", "--retry-after-s", "1"])
    assert (args.rate_limit_rps, args.rate_limit_burst, args.retry_after_s) == (40.0, 5, 1.0)


@pytest.mark.parametrize("kwargs", [{"rate_limit_rps": -1.0}, {"rate_limit_burst": 0}],
                         ids=["rate", "burst"])
def test_a_bad_rate_limit_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=re.escape("Expects rate_limit_rps >= 0 and "
                                                    "rate_limit_burst >= 1")):
        Faults(**kwargs)  # type: ignore[arg-type]


def test_refused_requests_can_be_made_to_count_against_the_limit() -> None:
    """Hammering a bucket that counts refusals lets less through than waiting would."""
    lenient = TokenBucket(10.0, 2, now=0.0)
    strict = TokenBucket(10.0, 2, now=0.0, counts_refused=True)
    hammered = [t / 100 for t in range(100)]  # 100 requests/s for one second
    assert sum(lenient.admit(t) for t in hammered) == 11  # burst + rate: refusals are free
    assert sum(strict.admit(t) for t in hammered) < 6
    assert strict.tokens >= -strict.burst  # the debt is bounded: a pause pays it off
    assert strict.admit(1.0 + 0.4) and strict.admit(1.4)
