"""Adaptive concurrency: the controller on a fake clock, the gate, and its bounds."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.errors import ConfigError
from webresearch.net.pressure import NetPressure, ServerQueue
from webresearch.rollout import RolloutConfig
from webresearch.rollout.adaptive import (
    AdaptiveConfig,
    ConcurrencyController,
    ConcurrencyGate,
    Signals,
)


def throttled(share: float, *, tries: int = 100, retry_after_s: float = 1.0) -> NetPressure:
    return NetPressure(tries=tries, throttled=round(share * tries),
                       last_retry_after_s=retry_after_s)


def test_slow_start_doubles_only_while_the_limit_is_reached() -> None:
    c = ConcurrencyController(low=1, high=100, now=0.0, config=AdaptiveConfig(slow_start=2.0))
    assert c.limit == 8
    assert c.update(0.5, Signals(in_flight=8)) == 16
    assert c.update(1.0, Signals(in_flight=16)) == 32
    for t in range(3, 50):  # demand of 5 never reaches the limit: it does not grow
        assert c.update(t / 2, Signals(in_flight=5)) == 32


def test_a_429_cuts_in_proportion_waits_out_retry_after_then_grows_additively() -> None:
    c = ConcurrencyController(low=1, high=100, now=0.0, config=AdaptiveConfig(slow_start=2.0))
    c.update(0.5, Signals(in_flight=8))  # 16
    assert c.update(1.0, Signals(throttled(0.25, retry_after_s=2.0), in_flight=16)) == 12
    assert c.update(1.5, Signals(in_flight=12)) == 12  # Retry-After: until 3.0
    assert c.update(2.5, Signals(in_flight=12)) == 12
    assert c.update(3.0, Signals(in_flight=12)) == 13  # additive now, not doubling
    assert c.update(3.5, Signals(in_flight=13)) == 14


def test_no_second_cut_while_episodes_above_the_limit_drain() -> None:
    c = ConcurrencyController(low=1, high=100, now=0.0, config=AdaptiveConfig(initial=40))
    assert c.update(0.5, Signals(throttled(0.5), in_flight=40)) == 20
    # the 40 in flight have not finished yet: 429s of their making cut nothing more
    assert c.update(1.0, Signals(throttled(0.5), in_flight=38)) == 20
    assert c.update(1.5, Signals(throttled(0.5), in_flight=20)) == 10
    # past drain_s a cut applies even if episodes stay above the limit
    assert c.update(20.0, Signals(throttled(0.5), in_flight=30)) == 5


def test_the_cut_is_at_most_max_cut_and_never_below_the_floor() -> None:
    c = ConcurrencyController(low=3, high=64, now=0.0, config=AdaptiveConfig(initial=32))
    assert c.update(0.5, Signals(throttled(1.0), in_flight=32)) == 16
    for t in range(2, 40):
        c.update(t, Signals(throttled(1.0), in_flight=c.limit))
    assert c.limit == 3


def test_a_few_429s_in_many_tries_still_cut_by_min_cut() -> None:
    c = ConcurrencyController(low=1, high=100, now=0.0, config=AdaptiveConfig(initial=20))
    assert c.update(0.5, Signals(throttled(0.01), in_flight=20)) == 18


def test_a_tolerated_share_of_429s_neither_cuts_nor_blocks_growth() -> None:
    config = AdaptiveConfig(initial=10, target_throttled=0.1)
    c = ConcurrencyController(low=1, high=64, now=0.0, config=config)
    assert c.update(0.5, Signals(throttled(0.05), in_flight=10)) == 11  # slow start ended
    assert c.update(1.0, Signals(throttled(0.3), in_flight=11)) == 8  # 11 * (1 - 0.2)


def test_policy_latency_past_the_tolerance_cuts_by_the_gradient() -> None:
    config = AdaptiveConfig(initial=32, slow_start=2.0)
    c = ConcurrencyController(low=1, high=64, now=0.0, config=config)
    assert c.update(0.5, Signals(policy_latency_s=0.95, in_flight=32)) == 64
    assert c.update(1.0, Signals(policy_latency_s=1.0, in_flight=64)) == 64
    # 4x the baseline against a tolerance of 2: halved
    assert c.update(1.5, Signals(policy_latency_s=3.95, in_flight=64)) == 32


def test_near_the_edge_of_the_last_cut_the_limit_grows_by_dwell_only() -> None:
    config = AdaptiveConfig(initial=40, dwell=0.25)
    c = ConcurrencyController(low=1, high=100, now=0.0, config=config)
    assert c.update(0.5, Signals(throttled(0.5, retry_after_s=0.0), in_flight=40)) == 20
    limits = [c.update(1.0 + t / 2, Signals(in_flight=c.limit)) for t in range(50)]
    # additive (5 %, at least one episode) up to 0.85 of the edge (40): 34 in 11 windows
    assert limits[:11] == [21, 22, 23, 24, 25, 26, 28, 29, 31, 32, 34]
    # then a quarter of an episode a window up to 1.05 of the edge (42): 32 windows
    assert limits[11:42] == [n for n in range(34, 42) for _ in range(4)][1:]
    assert limits[42:] == [42, 44, 46, 48, 51, 53, 56, 59]  # beyond it, additive again


def test_a_queue_at_the_policy_server_holds_then_cuts_and_can_be_ignored() -> None:
    c = ConcurrencyController(low=1, high=64, now=0.0, config=AdaptiveConfig(initial=16))
    assert c.update(0.5, Signals(in_flight=16, queue=ServerQueue(0, 16))) == 24
    assert c.update(1.0, Signals(in_flight=24, queue=ServerQueue(2, 24))) == 24  # waiting: hold
    # 40 waiting beside 20 running: 3x past a tolerance of 1.5, cut by half
    assert c.update(1.5, Signals(in_flight=24, queue=ServerQueue(40, 20))) == 12
    off = AdaptiveConfig(initial=16, queue_tolerance=None)
    c = ConcurrencyController(low=1, high=64, now=0.0, config=off)
    assert c.update(0.5, Signals(in_flight=16, queue=ServerQueue(400, 1))) == 24


def test_microseconds_of_a_scripted_policy_never_read_as_a_slowdown() -> None:
    c = ConcurrencyController(low=1, high=256, now=0.0)
    for t, latency in enumerate([1e-6, 5e-5, 2e-6, 8e-4, 1e-6, 3e-3] * 3, 1):
        c.update(t / 2, Signals(policy_latency_s=latency, in_flight=c.limit))
    assert c.limit == 256


def test_latency_is_ignored_when_switched_off() -> None:
    config = AdaptiveConfig(initial=16, latency_tolerance=None, slow_start=2.0)
    c = ConcurrencyController(low=1, high=64, now=0.0, config=config)
    c.update(0.5, Signals(policy_latency_s=0.1, in_flight=16))
    assert c.update(1.0, Signals(policy_latency_s=10.0, in_flight=32)) == 64


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"initial": 0}, "Expects initial >= 1"),
    ({"max_cut": 1.0}, "0 < max_cut < 1"),
    ({"latency_tolerance": 1.0}, "latency_tolerance > 1 or None"),
    ({"target_throttled": 1.0}, "0 <= target_throttled < 1"),
    ({"queue_tolerance": 0.5}, "queue_tolerance > 1 or None"),
], ids=["initial", "max_cut", "tolerance", "target", "queue"])
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        AdaptiveConfig(**kwargs)  # type: ignore[arg-type]


def test_the_rollout_bounds_are_checked() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "Expects 1 <= min_concurrency <= concurrency, actual: 9, 8")):
        RolloutConfig(concurrency=8, min_concurrency=9, adaptive=True)
    with pytest.raises(ConfigError, match=re.escape("actual: 0, 8")):
        RolloutConfig(concurrency=8, min_concurrency=0)


def test_the_run_record_names_adaptive_only_when_on() -> None:
    assert "adaptive" not in RolloutConfig().to_json()
    on = RolloutConfig(adaptive=True, min_concurrency=2).to_json()
    assert on["adaptive"] is True and on["min_concurrency"] == 2


# ---- generated event sequences -------------------------------------------------------

windows = st.lists(st.tuples(
    st.floats(0.0, 5.0),  # seconds since the last window
    st.integers(0, 500),  # tries
    st.floats(0.0, 1.0),  # share throttled
    st.floats(0.0, 120.0),  # Retry-After
    st.one_of(st.none(), st.floats(0.0, 600.0)),  # policy latency
    st.integers(0, 1000),  # peak in flight
), max_size=200)


@settings(max_examples=300, deadline=None)
@given(low=st.integers(1, 50), span=st.integers(0, 500), initial=st.integers(1, 1000),
       target=st.floats(0.0, 0.5), events=windows)
def test_the_limit_always_stays_within_its_bounds(low: int, span: int, initial: int,
                                                  target: float, events: list[tuple[
                                                      float, int, float, float,
                                                      float | None, int]]) -> None:
    high = low + span
    config = AdaptiveConfig(initial=initial, target_throttled=target)
    c = ConcurrencyController(low=low, high=high, now=0.0, config=config)
    assert low <= c.limit <= high
    now = 0.0
    for dt, tries, share, retry_after, latency, in_flight in events:
        now += dt
        net = NetPressure(tries=tries, throttled=round(share * tries),
                          last_retry_after_s=retry_after)
        limit = c.update(now, Signals(net, latency, in_flight))
        assert low <= limit <= high and limit == c.limit


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(2, 300), extra=st.integers(0, 1000), initial=st.integers(1, 64),
       retry_after=st.sampled_from([0.0, 0.5, 1.0, 5.0]))
def test_against_a_server_of_fixed_capacity_the_limit_settles_near_it(
        capacity: int, extra: int, initial: int, retry_after: float) -> None:
    """A plant: demand is the limit (always reached); tries past ``capacity`` are 429s.
    After a settling time the limit stays in a band around the capacity: it neither
    runs away nor collapses, and its swing is bounded."""
    high = capacity + extra
    c = ConcurrencyController(low=1, high=high, now=0.0, config=AdaptiveConfig(initial=initial))
    limits = []
    for window in range(400):
        in_flight = c.limit
        share = max(0.0, 1.0 - capacity / in_flight)
        net = NetPressure(tries=10 * in_flight, throttled=round(share * 10 * in_flight),
                          last_retry_after_s=retry_after)
        limits.append(c.update(window * 0.5, Signals(net, None, in_flight)))
    tail = limits[200:]
    assert min(tail) >= min(high, 0.8 * capacity) - 1
    assert max(tail) <= min(high, 1.25 * capacity + 2)
    assert sum(tail) / len(tail) >= min(high, 0.85 * capacity) - 1


# ---- the gate ------------------------------------------------------------------------


def test_the_gate_admits_up_to_its_limit_and_follows_changes() -> None:
    async def scenario() -> list[int]:
        gate = ConcurrencyGate(2)
        await gate.acquire()
        await gate.acquire()
        waiting = [asyncio.ensure_future(gate.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        seen = [gate.in_flight]  # 2: the three wait
        gate.set_limit(3)
        await asyncio.sleep(0)
        seen.append(gate.in_flight)  # 3
        gate.set_limit(1)
        gate.release()
        gate.release()
        await asyncio.sleep(0)
        seen.append(gate.in_flight)  # 1: a lower limit admitted no one until below it
        waiting[2].cancel()  # a waiter that gives up takes no place
        gate.release()
        await asyncio.gather(*waiting[:2])
        seen.append(gate.in_flight)
        seen.append(gate.take_peak())
        return seen

    assert asyncio.run(scenario()) == [2, 3, 1, 1, 3]
