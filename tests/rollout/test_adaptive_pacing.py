"""Pacing the steps of an adaptive rollout at the rate the servers admit."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.net.pressure import NetPressure
from webresearch.rollout.pacing import PaceController, Pacer


def test_an_unpaced_pacer_never_waits_and_a_paced_one_spaces_calls() -> None:
    async def scenario() -> tuple[float, float, float]:
        pacer = Pacer(burst=2.0)
        for _ in range(50):
            await pacer.wait()
        unpaced = pacer.waited_s
        pacer.rate = 200.0
        start = time.monotonic()
        await asyncio.gather(*(pacer.wait() for _ in range(23)))
        return unpaced, time.monotonic() - start, pacer.waited_s

    unpaced, took, waited = asyncio.run(scenario())
    assert unpaced == 0.0
    # 23 starts at 200/s with 2 owed at once: the last starts at least 20 intervals in
    assert took >= 20 / 200 and waited > 0


def test_no_pace_before_a_429_then_the_admitted_rate_in_steps() -> None:
    c = PaceController(margin=0.9)
    for _ in range(5):
        assert c.update(0.5, NetPressure(tries=20), steps=40, held=False) is None
    # 30 admitted in half a second: 60 tries/s; 2 steps a try in windows without 429s
    # (not the 1.5 of this one, whose retries count as tries): 120 steps/s, times 0.9
    assert c.update(0.5, NetPressure(tries=40, throttled=10), steps=60, held=False) == 108.0


def test_the_rate_grows_only_while_the_pacer_holds_steps_back_faster_after_patience() -> None:
    c = PaceController(margin=1.0, probe=0.01, probe_fast=0.1, patience=2)
    assert c.update(1.0, NetPressure(tries=100), steps=100, held=False) is None
    assert c.update(1.0, NetPressure(tries=110, throttled=10), steps=100, held=False) == 100.0
    assert c.update(1.0, NetPressure(tries=50), steps=50, held=False) == 100.0  # not binding
    assert c.update(1.0, NetPressure(tries=100), steps=100, held=True) == 101.0
    assert c.update(1.0, NetPressure(tries=100), steps=100, held=True) == 111.1  # fast now


@settings(max_examples=200, deadline=None)
@given(capacity=st.floats(20.0, 500.0), per_try=st.floats(0.5, 3.0),
       seconds=st.sampled_from([0.5, 1.0, 2.0]))
def test_against_a_rate_limit_the_pace_settles_near_it(capacity: float, per_try: float,
                                                       seconds: float) -> None:
    """A plant: the pacer binds (demand is endless), steps make 1/per_try tries each, the
    server admits ``capacity`` tries a second and throttles the rest. The rate found
    settles in a band around the capacity in steps; it neither runs away nor collapses.
    (Windows of at least 10 tries: a window of fewer successes sets no pace.)"""
    c = PaceController()
    rate = None
    rates = []
    for _ in range(300):
        steps = (rate if rate is not None else 3 * capacity * per_try) * seconds
        tries = steps / per_try
        admitted = min(tries, capacity * seconds)
        net = NetPressure(tries=round(tries), throttled=round(tries - admitted))
        rate = c.update(seconds, net, steps=round(steps), held=True)
        rates.append(rate)
    tail = [r / (capacity * per_try) for r in rates[150:] if r is not None]
    assert len(tail) == 150
    assert min(tail) >= 0.8 and max(tail) <= 1.4
    assert sum(tail) / len(tail) >= 0.9
