"""Per-host state does not grow with the number of hosts a long run meets."""

from __future__ import annotations

import asyncio

from webresearch.net.rate_limit import LocalAuthority, Rate, RateLimiter
from webresearch.net.retry import CircuitBreaker


def test_the_rate_authority_forgets_hosts_whose_slots_are_past() -> None:
    authority = LocalAuthority()
    authority.max_keys = 10
    rate = Rate(per_second=1e9, burst=1)

    async def many() -> None:
        for i in range(1000):
            await authority.reserve(f"host{i}.test", rate, 1)

    asyncio.run(many())
    assert len(authority._tat) <= 11


def test_the_limiter_keeps_no_empty_lease_per_host() -> None:
    limiter = RateLimiter(default=Rate(per_second=1e9, burst=1))

    async def many() -> None:
        for i in range(1000):
            assert await limiter.acquire(f"host{i}.test")

    asyncio.run(many())
    assert len(limiter._slots) == 0


def test_the_circuit_breaker_forgets_old_hosts_but_keeps_open_circuits() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown_s=60)
    breaker.max_keys = 10
    breaker.failure("down.test")
    breaker.failure("down.test")  # open
    for i in range(1000):
        breaker.failure(f"host{i}.test")
    assert len(breaker._failures) <= 11 and breaker.open_for("down.test") > 0
