"""Adaptive concurrency against hostile or odd signals: huge Retry-After, cancelled
waiters, a zero-length window, a steering task that fails."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.net.pressure import MAX_RETRY_AFTER_S, NetPressure, PressureMeter
from webresearch.rollout.adaptive import ConcurrencyController, Signals


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
