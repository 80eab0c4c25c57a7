"""Backoff, Retry-After and the circuit breaker."""

from __future__ import annotations

import random
import time

from webresearch.net.retry import CircuitBreaker, RetryPolicy, parse_retry_after


def test_backoff_is_bounded_full_jitter() -> None:
    policy, rng = RetryPolicy(base_s=0.5, max_backoff_s=4.0), random.Random(1)
    waits = [policy.backoff(a, rng) for a in range(10) for _ in range(50)]
    assert min(waits) >= 0 and max(waits) <= 4.0 and len(set(waits)) > 100


def test_retry_after_forms() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= (parse_retry_after(date) or 0) <= 31


def test_breaker_opens_and_recovers() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=0.05)
    for _ in range(2):
        breaker.failure("h")
    assert breaker.open_for("h") == 0
    breaker.failure("h")
    assert breaker.open_for("h") > 0 and breaker.open_for("other") == 0
    time.sleep(0.06)
    assert breaker.open_for("h") == 0
