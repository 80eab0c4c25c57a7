"""Pacing: steps start at the rate the servers were seen to admit, once they throttle.

A concurrency limit meets a rate limit only on average: episodes in flight send in
bursts, and a token bucket refuses what a burst takes past its depth. Once 429s come, a
:class:`Pacer` spaces the starts of agent steps (the policy's calls) at a rate that the
:class:`PaceController` sets from what the wire said (:mod:`webresearch.net.pressure`):

* **estimate**: in a window with 429s, the successful tries a second are what the
  server admitted (at most its limit: a window is seldom throttled all through); that
  rate, smoothed over such windows, times the steps per try of windows without 429s, times
  ``margin``, is the steps a second to pace at (a server that counts refused requests
  admits less while it is owed, so the pace falls further, as it must), but never
  below ``max_cut`` of the pace before (or of the steps a second, for the first): one
  window of few tries is no reason to stop, and one of fewer than ``min_ok`` successful
  tries sets nothing (the episodes in flight answer it);
* **probe**: in a window without 429s in which the pacer held steps back, the rate
  grows by ``probe`` (a share), and by ``probe_fast`` once ``patience`` windows went
  by without a 429 (a limit that was lifted is found again quickly).

Steps wait here instead of being refused there; the episodes in flight stay the
concurrency controller's business (:mod:`webresearch.rollout.adaptive`), which sets the
limit of the :class:`ConcurrencyGate` (here too) that admits them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from webresearch.net.pressure import NetPressure
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams

__all__ = ["ConcurrencyGate", "PaceController", "Pacer", "TimedPolicy"]


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


class Pacer:
    """Spaces calls to :meth:`wait` at :attr:`rate` a second (``None``: no wait), owing
    at most ``burst`` starts (a pause does not buy a burst later).

    Waiters queue, first come first served, and one timer serves them at the rate as it
    is when each turn comes: a raised rate helps the queue at once, and a cancelled
    waiter leaves its turn to the next.

    Example:
        >>> pacer = Pacer()
        >>> asyncio.run(pacer.wait()), pacer.waited_s
        (None, 0.0)
    """

    def __init__(self, burst: float = 2.0) -> None:
        self._rate: float | None = None
        self.burst = burst
        self._last = -math.inf  # the slot of the latest start
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._held_s, self._since = 0.0, 0.0

    @property
    def rate(self) -> float | None:
        """Starts a second; ``None``: no wait."""
        return self._rate

    @rate.setter
    def rate(self, rate: float | None) -> None:
        self._rate = rate
        if self._waiters:
            self._serve()

    @property
    def waited_s(self) -> float:
        """Seconds that calls were held back, in all (subtract two reads for a window)."""
        return self._held_s + len(self._waiters) * (time.monotonic() - self._since)

    async def wait(self) -> None:
        """Return at this call's turn (at once when unpaced or on time)."""
        if not self._waiters and self._slot(time.monotonic()) is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count()
        self._waiters.append(waiter)
        try:
            self._serve()
            await waiter
        finally:
            if waiter in self._waiters:  # cancelled: its turn goes to the next
                self._count()
                self._waiters.remove(waiter)
                self._serve()

    def _slot(self, now: float) -> float | None:
        """Take the next start if it is due by ``now`` (``None``), else when it will be."""
        if self._rate is None:
            return None
        slot = max(self._last + 1.0 / self._rate, now - self.burst / self._rate)
        if slot > now:
            return slot
        self._last = slot
        return None

    def _serve(self) -> None:
        """Start the waiters whose turn has come; set the timer for the next."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = time.monotonic()
        while self._waiters:
            due = self._slot(now)
            if due is not None:
                self._timer = asyncio.get_running_loop().call_later(due - now, self._serve)
                return
            self._count()
            self._waiters.popleft().set_result(None)

    def _count(self) -> None:
        """Add the time held so far, before the queue changes length."""
        now = time.monotonic()
        self._held_s += len(self._waiters) * (now - self._since)
        self._since = now


class PaceController:
    """Sets a :class:`Pacer`'s rate (steps a second) from each window.

    Example:
        >>> c = PaceController()
        >>> c.update(0.5, NetPressure(tries=30, throttled=0), steps=36, held=False) is None
        True
        >>> c.update(0.5, NetPressure(tries=40, throttled=10), steps=36, held=False)
        72.0
        >>> c.update(0.5, NetPressure(tries=35, throttled=0), steps=36, held=True)
        72.72
    """

    def __init__(self, *, margin: float = 1.0, probe: float = 0.01,
                 probe_fast: float = 0.1, patience: int = 6, max_cut: float = 0.5,
                 min_ok: int = 10) -> None:
        self.margin, self.probe, self.probe_fast, self.patience = (margin, probe, probe_fast,
                                                                   patience)
        self.max_cut, self.min_ok = max_cut, min_ok
        self.rate: float | None = None
        self._admitted: float | None = None
        self._steps_per_try: float | None = None
        self._quiet = 0

    def update(self, seconds: float, net: NetPressure, *, steps: int,
               held: bool) -> float | None:
        """One window of ``seconds``: its tries, the steps started and whether the pacer
        held steps back (half a step waiting on average, say); return the new rate
        (``None``: not paced yet). A window under a millisecond says nothing. While held,
        the rate grows from at most twice the steps the window started, plus one."""
        if not seconds >= 1e-3:
            return self.rate
        ok = net.tries - net.throttled
        if net.tries > 0 and steps > 0 and (net.throttled == 0 or self._steps_per_try is None):
            ratio = steps / net.tries  # from windows without 429s: their retries skew it
            self._steps_per_try = (ratio if self._steps_per_try is None
                                   else self._steps_per_try + 0.2 * (ratio - self._steps_per_try))
        if net.throttled > 0 and ok >= self.min_ok and self._steps_per_try is not None:
            admitted = ok / max(seconds, 1e-3)
            self._admitted = (admitted if self._admitted is None
                              else 0.5 * (self._admitted + admitted))
            floor = self.max_cut * (self.rate if self.rate is not None else steps / seconds)
            pace = self.margin * self._admitted * self._steps_per_try
            self.rate = round(max(1.0, floor, pace), 4)
            self._quiet = 0
        elif self.rate is not None:
            self._quiet += 1
            if held:
                grow = self.probe_fast if self._quiet > self.patience else self.probe
                rate = min(self.rate, 2.0 * steps / seconds + 1.0)
                self.rate = round(rate * (1.0 + grow), 4)
        return self.rate


class TimedPolicy(Policy):
    """A policy as it was, whose calls are timed (the latency signal when a policy server
    exposes nothing of its queue), counted (the steps) and paced by ``pacer``."""

    def __init__(self, inner: Policy, pacer: Pacer | None = None) -> None:
        self.inner = inner
        self.pacer = pacer or Pacer()
        self.name = inner.name
        self.tokenizer = inner.tokenizer
        self._seconds = 0.0
        self._calls = 0

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        await self.pacer.wait()
        start = time.monotonic()
        try:
            return await self.inner.generate(prompts, sampling)
        finally:
            self._seconds += time.monotonic() - start
            self._calls += 1

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_weights(state_dict)

    def take(self) -> tuple[float | None, int]:
        """Mean seconds of the calls since the last take (``None`` for none), and how many."""
        mean = self._seconds / self._calls if self._calls else None
        calls, self._seconds, self._calls = self._calls, 0.0, 0
        return mean, calls
