"""Adaptive concurrency: episodes in flight follow 429s, Retry-After and the policy's latency.

A rollout with ``RolloutConfig(adaptive=True)`` admits episodes through a
:class:`ConcurrencyGate` whose limit a :class:`ConcurrencyController` sets every
``interval_s`` from one window's :class:`Signals`: the tries, throttled answers and
``Retry-After`` of every HTTP client of the process (:mod:`webresearch.net.pressure`,
policy servers included) and the mean latency of the policy's calls.

The controller (pure, clock passed in, so tests drive it with a fake one):

* **slow start**: the limit grows by ``slow_start`` (1.5) every window in which it was
  reached, until the first sign of congestion;
* **throttled** (429s over ``target_throttled`` of the tries): the limit becomes the
  window's peak in flight times ``1 - the excess share`` (at least ``min_cut`` off, at
  most halved): a proportional cut toward the rate the server admits, not a blind
  halving; no increase before ``Retry-After`` (at most ``MAX_RETRY_AFTER_S``) has passed;
  no second cut while episodes above the new limit are still draining (any 429 ends
  slow start);
* **slow policy** (latency past ``latency_tolerance`` times its baseline, the lowest
  window seen, drifting up slowly): cut by the ratio (gradient, as Netflix's
  concurrency-limits and TCP Vegas do on round-trip times);
* **policy server queued** (its ``/metrics`` read by a
  :class:`~webresearch.net.pressure.QueueProbe`: requests waiting plus running over
  running past ``queue_tolerance``): cut by that ratio; any request waiting stops growth;
* otherwise, if the limit was reached: additive increase, ``increase`` of the limit
  (at least one episode) a window, and only ``dwell`` episodes a window near the limit
  of the last cut (the edge found last is crossed seldom, as CUBIC does).

The limit always stays within ``[min_concurrency, concurrency]``. Once 429s come, the
steps themselves are paced too (``pace``, :mod:`webresearch.rollout.pacing`) at the rate
the servers admitted: while the pacer holds steps back, 429s are its to answer and the
steps it holds are a queue to the controller (as a policy server's are).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.net.pressure import (
    NetPressure,
    PressureMeter,
    QueueProbe,
    ServerQueue,
    capped_retry_after,
    process_meter,
)
from webresearch.policies.openai_compat import OpenAIPolicy
from webresearch.policies.policy import Policy
from webresearch.rollout.pacing import ConcurrencyGate, PaceController, TimedPolicy

__all__ = ["AdaptiveConfig", "AdaptiveTrace", "ConcurrencyController", "ConcurrencyGate",
           "Signals", "Steering", "TimedPolicy", "Window"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveConfig:
    """How the controller steers (the bounds are the rollout's)."""

    initial: int = 8
    """Episodes in flight at the start (clamped to the bounds)."""
    interval_s: float = 0.5
    """Seconds between two decisions (one window of signals)."""
    slow_start: float = 1.5
    """Growth factor per window during slow start."""
    increase: float = 0.05
    """Additive increase per window after slow start, as a share of the limit (>= 1 episode)."""
    target_throttled: float = 0.0
    """Share of tries answered 429 that is tolerated: above it the limit is cut by the
    excess, at or below it the limit may grow. 0 (the default) cuts at the first 429,
    by the share of tries throttled, which is gentle when 429s are few; a larger share
    keeps a bursty server's bucket busier at the price of more 429s."""
    dwell: float = 0.2
    """Additive increase per window (episodes) while the limit is near the last one that
    was cut (between ``0.85`` and ``1.05`` of it): the edge found last is approached
    slowly, as CUBIC does, so that it is crossed seldom, not every few windows."""
    min_cut: float = 0.1
    """The least a cut for 429s takes off (a share of the limit): a 429 or two in a window
    of many tries still backs off clearly, so the limit does not sit at the edge."""
    max_cut: float = 0.5
    """The most one decision cuts: the limit never falls below this share of itself."""
    latency_tolerance: float | None = 2.0
    """Policy latency over its baseline past which the limit is cut; ``None``: ignored."""
    queue_tolerance: float | None = 1.5
    """(Waiting + running) over running requests at the policy server past which the limit
    is cut; ``None``: its queue is not read."""
    pace: bool = True
    """Once 429s come, space the starts of steps at the rate the servers admitted
    (:mod:`webresearch.rollout.pacing`): 429s then slow the pacer, and the episodes in
    flight follow the steps it holds back as a queue, not the 429s themselves."""
    metrics_url: str | None = None
    """The policy server's Prometheus ``/metrics``; by default, an OpenAI-compatible
    policy's (its API root with ``/v1`` replaced)."""
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
                or self.history < 1 or (tolerance is not None and tolerance <= 1)
                or (self.queue_tolerance is not None and self.queue_tolerance <= 1)):
            raise ConfigError(f"Expects initial >= 1, interval_s > 0, slow_start > 1, increase "
                              f"> 0, 0 < max_cut < 1, 0 <= min_cut < 1, 0 <= target_throttled < 1, "
                              f"latency_tolerance > 1 or None, queue_tolerance > 1 or None, "
                              f"latency_floor_s >= 0 and "
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
    queue: ServerQueue | None = None
    """The policy server's queue at the end of the window, where it exposes one."""


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
        >>> c.update(0.5, Signals(in_flight=8)), c.update(1.0, Signals(in_flight=12))
        (12, 18)
        >>> c.update(1.5, Signals(NetPressure(tries=100, throttled=25, last_retry_after_s=1),
        ...                       in_flight=18))
        13
        >>> [c.update(t, Signals(in_flight=c.limit)) for t in (2.0, 3.0, 3.5, 4.0, 4.5, 5.0)]
        [13, 14, 15, 15, 15, 16]
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
        self._edge = 0.0

    @property
    def limit(self) -> int:
        """Episodes allowed in flight now."""
        return int(self._limit)

    def update(self, now: float, signals: Signals) -> int:
        """Take one window's signals at ``now`` (seconds); return the new limit."""
        net, tolerance = signals.net, self.config.latency_tolerance
        ratio = self._latency_ratio(signals.policy_latency_s)
        queue_tolerance = self.config.queue_tolerance or math.inf
        queue = signals.queue if queue_tolerance < math.inf else None
        queued = (queue.waiting + queue.running) / max(1.0, queue.running) if queue else 1.0
        excess = net.throttled_share - self.config.target_throttled
        if net.throttled > 0:
            self._slow_start = False
        if net.throttled > 0 and excess > 0:
            self._cut(now, signals.in_flight, min(1.0 - excess, 1.0 - self.config.min_cut),
                      net.last_retry_after_s)
        elif tolerance is not None and ratio is not None and ratio > tolerance:
            self._cut(now, signals.in_flight, tolerance / ratio, 0.0)
        elif queued > queue_tolerance:
            self._cut(now, signals.in_flight, queue_tolerance / queued, 0.0)
        elif (now >= self._hold_until and signals.in_flight >= self.limit
              and not (queue is not None and queue.waiting > 0)):
            grown = (self._limit * self.config.slow_start if self._slow_start
                     else self._limit + self._step())
            self._limit = min(float(self.high), grown)
        return self.limit

    def _step(self) -> float:
        """The additive increase: slow near the edge where the last cut was made."""
        if 0.85 * self._edge <= self._limit < 1.05 * self._edge:
            return self.config.dwell
        return max(1.0, self._limit * self.config.increase)

    def _cut(self, now: float, in_flight: int, factor: float, retry_after_s: float) -> None:
        self._slow_start = False
        self._hold_until = max(self._hold_until, now + capped_retry_after(retry_after_s))
        draining = in_flight > self.limit and now - self._cut_at < self.config.drain_s
        if draining:
            return  # the last cut has not taken effect yet: episodes above it still run
        base = min(self._limit, float(max(in_flight, self.low)))
        self._edge = base
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


class Steering:
    """Runs a rollout's episodes through a gate whose limit the controller sets.

    Args:
        policy: The rollout's policy; :attr:`policy` is it, timed.
        low: Fewest episodes in flight the controller may set.
        high: Most episodes in flight (the rollout's ``concurrency``).
        config: The controller's settings.
        meter: Where the HTTP clients count their tries (the process's by default).

    The policy server's queue is read each window from ``config.metrics_url``, or an
    OpenAI-compatible policy's ``/metrics``, unless ``queue_tolerance`` is ``None``.
    """

    def __init__(self, policy: Policy, *, low: int, high: int,
                 config: AdaptiveConfig | None = None, meter: PressureMeter | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.policy = TimedPolicy(policy)
        self.pace = PaceController() if self.config.pace else None
        self.meter = meter or process_meter()
        self.start = time.monotonic()
        self.controller = ConcurrencyController(low=low, high=high, now=self.start,
                                                config=self.config)
        self.gate = ConcurrencyGate(self.controller.limit)
        self.windows: deque[Window] = deque(maxlen=self.config.history)
        url = self.config.metrics_url
        timeout_s = min(0.5, self.config.interval_s)
        self.probe = (None if self.config.queue_tolerance is None
                      else QueueProbe(url, timeout_s=timeout_s) if url
                      else QueueProbe.for_api(policy.base_url, timeout_s=timeout_s)
                      if isinstance(policy, OpenAIPolicy) else None)

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
            if self.probe is not None:
                await self.probe.aclose()

    async def _steer(self) -> None:
        last, then, waited = self.meter.snapshot(), time.monotonic(), 0.0
        while True:
            await asyncio.sleep(self.config.interval_s)
            try:
                last, then, waited = await self._window(last, then, waited)
            except Exception:  # logged, and the next window steers again: never a silent freeze
                logger.exception("adaptive concurrency: a window failed; the limit stays %d",
                                 self.gate.limit)

    async def _window(self, last: NetPressure, then: float,
                      waited: float) -> tuple[NetPressure, float, float]:
        """One decision from the window since ``then`` (meter at ``last``, pacer's wait at
        ``waited``); return those of its end."""
        pacer = self.policy.pacer
        queue = await self.probe.poll() if self.probe is not None else None
        now, seen = time.monotonic(), self.meter.snapshot()
        (latency, steps), held = self.policy.take(), pacer.waited_s - waited
        signals = Signals(seen - last, latency, self.gate.take_peak(), queue)
        seconds = now - then
        waiting = held / seconds if seconds > 0 else 0.0  # steps held back, on average
        if self.pace is not None:
            pacer.rate = self.pace.update(seconds, signals.net, steps=steps,
                                          held=waiting >= 0.5)
        self.gate.set_limit(self.controller.update(now, self._paced(signals, waiting)))
        self.windows.append(Window(round(now - self.start, 3), signals.in_flight,
                                   signals.net.throttled, self.gate.limit))
        return seen, now, pacer.waited_s

    def _paced(self, signals: Signals, waiting: float) -> Signals:
        """What the concurrency controller reads while the pacer holds steps back
        (``waiting`` of them on average): 429s are the pacer's (not cut twice), and the
        steps held are a queue, unless the policy server's own is longer. While it holds
        none back, the episodes in flight are what limits, and 429s are theirs to answer
        (left to the pacer alone, retries past its pace let them run away)."""
        if self.policy.pacer.rate is None or waiting < 0.5:
            return signals  # not paced, or the pacer holds nothing back: 429s are ours
        held = ServerQueue(waiting, max(1.0, signals.in_flight - waiting))
        queue = signals.queue
        if queue is None or held.waiting / held.running > queue.waiting / max(1.0, queue.running):
            queue = held
        return dataclasses.replace(signals, net=NetPressure(signals.net.tries), queue=queue)

    def trace(self) -> AdaptiveTrace:
        """The bounds and the windows so far."""
        return AdaptiveTrace(self.controller.low, self.controller.high, tuple(self.windows))
