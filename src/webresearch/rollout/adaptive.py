"""Adaptive concurrency: episodes in flight follow 429s, Retry-After and the policy's latency.

A rollout with ``RolloutConfig(adaptive=True)`` admits episodes through a
:class:`ConcurrencyGate` whose limit a :class:`ConcurrencyController` sets every
``interval_s`` from one window's :class:`Signals`: the tries, throttled answers and
``Retry-After`` of every HTTP client of the process (:mod:`webresearch.net.pressure`,
policy servers included) and the mean latency of the policy's calls.

The controller (pure, clock passed in, so tests drive it with a fake one):

* **slow start**: the limit doubles every window in which it was reached, until the
  first sign of congestion;
* **throttled** (429s over ``target_throttled`` of the tries): the limit becomes the
  window's peak in flight times ``1 - the excess share`` (at least ``min_cut`` off, at
  most halved): a
  proportional cut toward the rate the server admits, not a blind halving; no increase
  before ``Retry-After`` has passed; no second cut while episodes above the new limit
  are still draining (any 429 ends slow start);
* **slow policy** (latency past ``latency_tolerance`` times its baseline, the lowest
  window seen, drifting up slowly): cut by the ratio (gradient, as Netflix's
  concurrency-limits and TCP Vegas do on round-trip times);
* otherwise, if the limit was reached: additive increase, ``increase`` of the limit
  (at least one episode) a window.

The limit always stays within ``[min_concurrency, concurrency]``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.net.pressure import NetPressure, PressureMeter, process_meter
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams

__all__ = ["AdaptiveConfig", "AdaptiveTrace", "ConcurrencyController", "ConcurrencyGate",
           "Signals", "Steering", "TimedPolicy", "Window"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveConfig:
    """How the controller steers (the bounds are the rollout's)."""

    initial: int = 8
    """Episodes in flight at the start (clamped to the bounds)."""
    interval_s: float = 0.5
    """Seconds between two decisions (one window of signals)."""
    slow_start: float = 2.0
    """Growth factor per window during slow start."""
    increase: float = 0.05
    """Additive increase per window after slow start, as a share of the limit (>= 1 episode)."""
    target_throttled: float = 0.0
    """Share of tries answered 429 that is tolerated: above it the limit is cut by the
    excess, at or below it the limit may grow. 0 (the default) cuts at the first 429,
    by the share of tries throttled, which is gentle when 429s are few; a larger share
    keeps a bursty server's bucket busier at the price of more 429s."""
    min_cut: float = 0.1
    """The least a cut for 429s takes off (a share of the limit): a 429 or two in a window
    of many tries still backs off clearly, so the limit does not sit at the edge."""
    max_cut: float = 0.5
    """The most one decision cuts: the limit never falls below this share of itself."""
    latency_tolerance: float | None = 2.0
    """Policy latency over its baseline past which the limit is cut; ``None``: ignored."""
    latency_floor_s: float = 0.05
    """Added to both latencies before their ratio, so that microseconds of a scripted
    policy never read as a slowdown."""
    drain_s: float = 10.0
    """Longest wait for episodes above a cut limit to finish before cutting again."""
    history: int = 4096
    """Windows kept in the trace (the latest)."""

    def __post_init__(self) -> None:
        tolerance = self.latency_tolerance
        if (self.initial < 1 or self.interval_s <= 0 or self.slow_start <= 1
                or self.increase <= 0 or not 0 < self.max_cut < 1 or not 0 <= self.min_cut < 1
                or not 0 <= self.target_throttled < 1 or self.latency_floor_s < 0
                or self.history < 1 or (tolerance is not None and tolerance <= 1)):
            raise ConfigError(f"Expects initial >= 1, interval_s > 0, slow_start > 1, increase "
                              f"> 0, 0 < max_cut < 1, 0 <= min_cut < 1, 0 <= target_throttled < 1, "
                              f"latency_tolerance > 1 or None, latency_floor_s >= 0 and "
                              f"history >= 1, actual: {self}")


@dataclass(frozen=True, slots=True)
class Signals:
    """One window: what the wire and the policy said, and how many episodes were in flight."""

    net: NetPressure = field(default_factory=NetPressure)
    """Tries, throttled answers and Retry-After of the window."""
    policy_latency_s: float | None = None
    """Mean seconds of the policy's calls in the window; ``None`` for none."""
    in_flight: int = 0
    """The most episodes in flight at once during the window."""


@dataclass(frozen=True, slots=True)
class Window:
    """One decision: when (seconds from the start), the peak in flight, throttled tries,
    and the limit set."""

    t: float
    in_flight: int
    throttled: int
    limit: int


@dataclass(frozen=True, slots=True)
class AdaptiveTrace:
    """How an adaptive rollout's concurrency went: its bounds and the latest windows."""

    low: int
    high: int
    windows: tuple[Window, ...]

    @property
    def throttled(self) -> int:
        """Throttled tries over the kept windows."""
        return sum(w.throttled for w in self.windows)


class ConcurrencyController:
    """Sets the limit of episodes in flight from each window's :class:`Signals`.

    Example:
        >>> c = ConcurrencyController(low=1, high=64, now=0.0)
        >>> c.update(0.5, Signals(in_flight=8)), c.update(1.0, Signals(in_flight=16))
        (16, 32)
        >>> c.update(1.5, Signals(NetPressure(tries=100, throttled=25, last_retry_after_s=1),
        ...                       in_flight=32))
        24
        >>> c.update(2.0, Signals(in_flight=24)), c.update(3.0, Signals(in_flight=24))
        (24, 25)
    """

    def __init__(self, *, low: int, high: int, now: float,
                 config: AdaptiveConfig | None = None) -> None:
        if not 1 <= low <= high:
            raise ConfigError(f"Expects 1 <= min_concurrency <= concurrency, actual: {low}, {high}")
        self.config = config or AdaptiveConfig()
        self.low, self.high = low, high
        self._limit = float(min(high, max(low, self.config.initial)))
        self._slow_start = True
        self._hold_until = now
        self._cut_at = -float("inf")
        self._baseline: float | None = None

    @property
    def limit(self) -> int:
        """Episodes allowed in flight now."""
        return int(self._limit)

    def update(self, now: float, signals: Signals) -> int:
        """Take one window's signals at ``now`` (seconds); return the new limit."""
        net, tolerance = signals.net, self.config.latency_tolerance
        ratio = self._latency_ratio(signals.policy_latency_s)
        excess = net.throttled_share - self.config.target_throttled
        if net.throttled > 0:
            self._slow_start = False
        if net.throttled > 0 and excess > 0:
            self._cut(now, signals.in_flight, min(1.0 - excess, 1.0 - self.config.min_cut),
                      net.last_retry_after_s)
        elif tolerance is not None and ratio is not None and ratio > tolerance:
            self._cut(now, signals.in_flight, tolerance / ratio, 0.0)
        elif now >= self._hold_until and signals.in_flight >= self.limit:
            grown = (self._limit * self.config.slow_start if self._slow_start
                     else self._limit + max(1.0, self._limit * self.config.increase))
            self._limit = min(float(self.high), grown)
        return self.limit

    def _cut(self, now: float, in_flight: int, factor: float, retry_after_s: float) -> None:
        self._slow_start = False
        self._hold_until = max(self._hold_until, now + retry_after_s)
        draining = in_flight > self.limit and now - self._cut_at < self.config.drain_s
        if draining:
            return  # the last cut has not taken effect yet: episodes above it still run
        base = min(self._limit, float(max(in_flight, self.low)))
        self._limit = max(float(self.low), base * max(self.config.max_cut, factor))
        self._cut_at = now

    def _latency_ratio(self, latency: float | None) -> float | None:
        """The window's latency over the baseline (both plus the floor), then the baseline
        moves: down to any lower window at once, up by 5 % of the gap."""
        if latency is None:
            return None
        floor = self.config.latency_floor_s
        if self._baseline is None or latency < self._baseline:
            self._baseline = latency
        ratio = (latency + floor) / (self._baseline + floor) if floor or self._baseline else 1.0
        self._baseline += 0.05 * (latency - self._baseline)
        return ratio


class ConcurrencyGate:
    """Admits at most :attr:`limit` holders at once, first come first served; the limit can
    change at any time (a lower one lets holders finish, it admits no one new)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self._enter()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # admitted just as it was cancelled: hand the place on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def take_peak(self) -> int:
        """The most holders at once since the last call."""
        peak, self._peak = self._peak, self.in_flight
        return peak

    def _enter(self) -> None:
        self.in_flight += 1
        self._peak = max(self._peak, self.in_flight)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._enter()
                waiter.set_result(None)


class TimedPolicy(Policy):
    """A policy as it was, whose calls are timed (the latency signal when a policy server
    exposes nothing of its queue)."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name = inner.name
        self.tokenizer = inner.tokenizer
        self._seconds = 0.0
        self._calls = 0

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        start = time.monotonic()
        try:
            return await self.inner.generate(prompts, sampling)
        finally:
            self._seconds += time.monotonic() - start
            self._calls += 1

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_weights(state_dict)

    def take_mean(self) -> float | None:
        """Mean seconds of the calls since the last take; ``None`` for none."""
        mean = self._seconds / self._calls if self._calls else None
        self._seconds, self._calls = 0.0, 0
        return mean


class Steering:
    """Runs a rollout's episodes through a gate whose limit the controller sets.

    Args:
        policy: The rollout's policy; :attr:`policy` is it, timed.
        low: Fewest episodes in flight the controller may set.
        high: Most episodes in flight (the rollout's ``concurrency``).
        config: The controller's settings.
        meter: Where the HTTP clients count their tries (the process's by default).
    """

    def __init__(self, policy: Policy, *, low: int, high: int,
                 config: AdaptiveConfig | None = None, meter: PressureMeter | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.policy = TimedPolicy(policy)
        self.meter = meter or process_meter()
        self.start = time.monotonic()
        self.controller = ConcurrencyController(low=low, high=high, now=self.start,
                                                config=self.config)
        self.gate = ConcurrencyGate(self.controller.limit)
        self.windows: deque[Window] = deque(maxlen=self.config.history)

    async def run(self, work: Callable[[WebResearchEnv, int], Awaitable[None]],
                  jobs: Iterator[int], envs: list[WebResearchEnv],
                  make_env: Callable[[], WebResearchEnv], total: int) -> None:
        """Run ``work(env, i)`` for every job, as many at once as the gate admits; envs come
        from ``envs`` and new ones (made as needed) are added to it, for the caller to close."""
        free = list(envs)

        async def worker() -> None:
            while True:
                await self.gate.acquire()
                try:
                    i = next(jobs, None)
                    if i is None:
                        return
                    if not free:
                        envs.append(make_env())
                        free.append(envs[-1])
                    env = free.pop()
                    try:
                        await work(env, i)
                    finally:
                        free.append(env)
                finally:
                    self.gate.release()

        steer = asyncio.ensure_future(self._steer())
        try:
            await asyncio.gather(*(worker() for _ in range(min(self.controller.high, total))))
        finally:
            steer.cancel()
            await asyncio.gather(steer, return_exceptions=True)

    async def _steer(self) -> None:
        last = self.meter.snapshot()
        while True:
            await asyncio.sleep(self.config.interval_s)
            now, seen = time.monotonic(), self.meter.snapshot()
            signals = Signals(seen - last, self.policy.take_mean(), self.gate.take_peak())
            last = seen
            self.gate.set_limit(self.controller.update(now, signals))
            self.windows.append(Window(round(now - self.start, 3), signals.in_flight,
                                       signals.net.throttled, self.gate.limit))

    def trace(self) -> AdaptiveTrace:
        """The bounds and the windows so far."""
        return AdaptiveTrace(self.controller.low, self.controller.high, tuple(self.windows))
