"""When to try a request again: backoff with jitter, Retry-After, and a per-host circuit breaker."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

__all__ = ["CircuitBreaker", "RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    Example:
        >>> policy = RetryPolicy(base_s=1.0, max_backoff_s=8.0)
        >>> [policy.backoff(a, random.Random(0)) <= min(8.0, 2 ** a) for a in range(5)]
        [True, True, True, True, True]
    """

    attempts: int = 4
    """Tries in all, the first included."""
    base_s: float = 0.5
    """First backoff ceiling; it doubles on every retry."""
    max_backoff_s: float = 30.0
    """Longest backoff between tries."""
    max_retry_after_s: float = 120.0
    """Longest ``Retry-After`` obeyed; a longer one fails the call at once."""
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    """HTTP statuses worth another try."""

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff before try ``attempt + 1`` (``attempt`` from 0)."""
        return rng.uniform(0.0, min(self.max_backoff_s, self.base_s * 2.0**attempt))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or ``None``.

    Example:
        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
        10.0
        >>> parse_retry_after("soon") is None
        True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class CircuitBreaker:
    """Short-circuits a key (a host) after ``threshold`` failures in a row, for ``cooldown_s``.

    After the cooldown one request goes through; a success closes the circuit, a
    failure opens it again.

    Example:
        >>> breaker = CircuitBreaker(threshold=2, cooldown_s=60)
        >>> breaker.failure("h"); breaker.failure("h")
        >>> breaker.open_for("h") > 0
        True
        >>> breaker.success("h"); breaker.open_for("h")
        0.0
    """

    def __init__(self, *, threshold: int = 5, cooldown_s: float = 60.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def open_for(self, key: str) -> float:
        """Seconds the circuit of ``key`` stays open (0 when requests may go)."""
        return max(0.0, self._open_until.get(key, 0.0) - time.monotonic())

    def success(self, key: str) -> None:
        self._failures.pop(key, None)
        self._open_until.pop(key, None)

    max_keys = 100_000
    """Hosts remembered; past it, the oldest failing hosts whose circuit is not open are
    forgotten, so memory does not grow with the hosts a long run meets."""

    def failure(self, key: str) -> None:
        if len(self._failures) >= self.max_keys:
            now = time.monotonic()
            self._failures = {k: v for k, v in self._failures.items()
                              if self._open_until.get(k, 0.0) > now}
            self._open_until = {k: v for k, v in self._open_until.items() if v > now}
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if count >= self.threshold:
            self._open_until[key] = time.monotonic() + self.cooldown_s
