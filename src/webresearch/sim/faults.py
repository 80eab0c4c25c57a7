"""Seeded failure injection for the simulated internet: latency, 429s, 5xx, resets, drips,
and a real rate limit (a token bucket the client is not told of)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from webresearch.errors import ConfigError

__all__ = ["LATENCIES", "Fault", "Faults", "TokenBucket"]

LATENCIES = ("fixed", "lognormal", "heavy")


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """What goes wrong, how often, on the simulated internet's pages and search endpoints.

    Example:
        >>> faults = Faults(seed=1, rate_429=1.0)
        >>> faults.draw(random.Random(0)).kind
        '429'
        >>> Faults().draw(random.Random(0)).kind
        'ok'
    """

    seed: int = 0
    """Seeds every draw, so a run's faults can be replayed."""
    latency: str = "fixed"
    """Latency distribution: ``fixed``, ``lognormal`` (median ``latency_ms``, sigma 0.5) or
    ``heavy`` (Pareto tail, alpha 1.5, capped at 30 s)."""
    latency_ms: float = 0.0
    """Latency scale in milliseconds (0: answer at once)."""
    rate_429: float = 0.0
    """Share of requests answered 429 with ``Retry-After``."""
    retry_after_s: float = 1.0
    """The ``Retry-After`` of injected 429s."""
    rate_5xx: float = 0.0
    """Share answered 500/502/503."""
    rate_reset: float = 0.0
    """Share whose connection is reset before any response."""
    rate_truncated: float = 0.0
    """Share whose body stops before its announced length."""
    rate_drip: float = 0.0
    """Share sent a few bytes at a time, slowly."""
    rate_redirect: float = 0.0
    """Share sent through a chain of redirects first."""
    pad_kb: int = 0
    """Pad every page with extra prose to at least this many kilobytes."""
    rate_limit_rps: float = 0.0
    """A real rate limit over every client together (0: none): a token bucket of this many
    requests per second, ``rate_limit_burst`` deep; a request that finds it empty is
    answered 429 at once with ``Retry-After: retry_after_s`` and takes no token."""
    rate_limit_burst: int = 1
    """Depth of the rate limit's bucket (requests admitted at once after a quiet spell)."""
    rate_limit_counts_refused: bool = False
    """Refused requests take a token too (the bucket owes up to one burst), as APIs that
    count unsuccessful requests against the limit do (OpenAI's): hammering then lowers
    what gets through."""

    def __post_init__(self) -> None:
        if self.latency not in LATENCIES:
            raise ConfigError(f"Expects latency in {list(LATENCIES)}, actual: {self.latency!r}")
        rates = [self.rate_429, self.rate_5xx, self.rate_reset, self.rate_truncated,
                 self.rate_drip, self.rate_redirect]
        if any(r < 0 for r in rates) or sum(rates) > 1.0:
            raise ConfigError(f"Expects fault rates >= 0 that sum to <= 1, actual: {rates}")
        if self.rate_limit_rps < 0 or self.rate_limit_burst < 1:
            raise ConfigError(f"Expects rate_limit_rps >= 0 and rate_limit_burst >= 1, actual: "
                              f"{self.rate_limit_rps}, {self.rate_limit_burst}")

    def delay_s(self, rng: random.Random) -> float:
        """A latency drawn from the configured distribution, in seconds."""
        scale = self.latency_ms / 1000.0
        if scale <= 0:
            return 0.0
        if self.latency == "lognormal":
            return scale * math.exp(rng.gauss(0.0, 0.5))
        if self.latency == "heavy":
            return min(30.0, scale * rng.paretovariate(1.5))
        return scale

    def draw(self, rng: random.Random) -> Fault:
        """The fault (or ``ok``) for one request."""
        roll = rng.random()
        for kind, rate in (("429", self.rate_429), ("5xx", self.rate_5xx),
                           ("reset", self.rate_reset), ("truncated", self.rate_truncated),
                           ("drip", self.rate_drip), ("redirect", self.rate_redirect)):
            if roll < rate:
                return Fault(kind, self.delay_s(rng))
            roll -= rate
        return Fault("ok", self.delay_s(rng))


@dataclass(frozen=True, slots=True)
class Fault:
    """One request's fate: ``kind`` (``ok``, ``429``, ``5xx``, ...) after ``delay_s``."""

    kind: str
    delay_s: float


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` kept; each admitted request takes one.

    Example:
        >>> bucket = TokenBucket(2.0, 1, now=0.0)
        >>> [bucket.admit(t) for t in (0.0, 0.1, 0.5, 0.6)]
        [True, False, True, False]
    """

    def __init__(self, rate: float, burst: int, *, now: float,
                 counts_refused: bool = False) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError(f"Expects rate > 0 and burst >= 1, actual: {rate}, {burst}")
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), now
        self.counts_refused = counts_refused

    def admit(self, now: float) -> bool:
        """Take a token at ``now`` (seconds, never going back) if one is there; a refused
        request takes one too with ``counts_refused`` (down to a debt of one burst)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        if self.counts_refused:
            self.tokens = max(-self.burst, self.tokens - 1.0)
        return False
