"""Adaptive concurrency against hostile or odd signals: huge Retry-After, cancelled
waiters, a zero-length window, a steering task that fails."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.net.pressure import MAX_RETRY_AFTER_S, NetPressure, PressureMeter
from webresearch.policies import OraclePolicy
from webresearch.rollout.adaptive import AdaptiveConfig, ConcurrencyController, Signals, Steering
from webresearch.rollout.pacing import PaceController, Pacer


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from([999_999_999.0, 1e308, float("inf")])))
def test_any_retry_after_holds_growth_at_most_the_cap(retry_after: float) -> None:
    """A server (a crawled page's too) may say Retry-After: 999999999; the controller holds
    growth at most ``MAX_RETRY_AFTER_S``, then grows again."""
    meter = PressureMeter()
    meter.record(429, retry_after, 0.01)
    said = meter.snapshot().last_retry_after_s
    assert 0.0 <= said <= MAX_RETRY_AFTER_S and meter.snapshot().retry_after_s == said
    c = ConcurrencyController(low=1, high=64, now=0.0)
    c.update(0.5, Signals(in_flight=8))
    cut = c.update(1.0, Signals(NetPressure(tries=100, throttled=5,
                                            last_retry_after_s=retry_after), in_flight=12))
    t = 1.0
    while t < 2.0 + MAX_RETRY_AFTER_S:
        t += 0.5
        c.update(t, Signals(in_flight=c.limit))
    assert c.limit > cut


def test_cancelled_waiters_leave_their_turns_and_a_raised_rate_helps_the_queue() -> None:
    async def scenario() -> tuple[float, int, float]:
        pacer = Pacer(burst=1.0)
        pacer.rate = 1.0
        queued = [asyncio.ensure_future(pacer.wait()) for _ in range(60)]
        await asyncio.sleep(0)  # let them queue (no wait is timed)
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        start = time.monotonic()
        await asyncio.wait_for(pacer.wait(), 30)  # one turn, not 60
        after_cancel = time.monotonic() - start
        pacer = Pacer()
        pacer.rate = 0.01
        waiting = [asyncio.ensure_future(pacer.wait()) for _ in range(10)]
        await asyncio.sleep(0)
        pacer.rate = 1000.0
        done, pending = await asyncio.wait(waiting, timeout=30)
        for task in pending:
            task.cancel()
        return after_cancel, len(done), pacer.waited_s

    after_cancel, done, waited = asyncio.run(scenario())
    assert after_cancel < 20  # at 1/s, 60 turns kept would have taken a minute
    assert done == 10 and waited < 10


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=30))
def test_the_pacer_serves_its_queue_in_order_whatever_is_cancelled(cancel: list[int]) -> None:
    async def scenario() -> tuple[list[int], set[int]]:
        pacer = Pacer(burst=1.0)
        pacer.rate = 2000.0
        order: list[int] = []

        async def one(i: int) -> None:
            await pacer.wait()
            order.append(i)

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(cancel))]
        await asyncio.sleep(0)
        for i, task in enumerate(tasks):
            if cancel[i]:
                task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        return order, {i for i, c in enumerate(cancel) if not c}

    order, kept = asyncio.run(scenario())
    assert sorted(order) == order and kept <= set(order)


def test_a_zero_second_window_sets_nothing_and_held_growth_follows_the_steps() -> None:
    c = PaceController()
    assert c.update(0.0, NetPressure(tries=40, throttled=10), steps=36, held=False) is None
    c.update(0.5, NetPressure(tries=30), steps=36, held=False)
    rate = c.update(0.5, NetPressure(tries=40, throttled=10), steps=36, held=False)
    assert rate is not None
    for _ in range(2000):  # held, yet only 36 steps a window: the rate does not run away
        rate = c.update(0.5, NetPressure(tries=30), steps=36, held=True)
    assert rate is not None and rate <= 2 * 72 * 1.2 + 2


def test_a_failing_window_is_logged_and_the_next_one_steers_again(
        caplog: pytest.LogCaptureFixture) -> None:
    steering = Steering(OraclePolicy([]), low=1, high=4,
                        config=AdaptiveConfig(interval_s=0.01, queue_tolerance=None))
    update = steering.controller.update
    calls = {"n": 0}

    def flaky(now: float, signals: Signals) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in one window")
        return update(now, signals)

    steering.controller.update = flaky  # type: ignore[method-assign]

    async def work(_: Any, __: int) -> None:
        deadline = time.monotonic() + 30
        while len(steering.windows) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    envs: list[Any] = [object()]
    make_env: Any = object
    with caplog.at_level(logging.ERROR, logger="webresearch.rollout.adaptive"):
        asyncio.run(asyncio.wait_for(steering.run(work, iter(range(1)), envs, make_env, 1), 60))
    assert len(steering.windows) >= 3
    assert any("a window failed" in r.getMessage() and r.exc_info for r in caplog.records)
