"""The HTTP client counts every try, 429s and Retry-After included, in its pressure meter."""

from __future__ import annotations

import asyncio

from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.pressure import NetPressure, PressureMeter, process_meter
from webresearch.net.retry import RetryPolicy
from webresearch.net.safety import UrlPolicy
from webresearch.sim.server import SimInternet


def test_every_try_and_every_throttled_answer_is_counted() -> None:
    async def scenario() -> tuple[NetPressure, NetPressure, int]:
        meter = PressureMeter()
        config = HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",)),
                            retry=RetryPolicy(attempts=4, base_s=0.01))
        async with SimInternet() as net:
            http = HttpClient(config, meter=meter)
            try:
                ok = await http.request("GET", net.base_url + "/_test/flaky/a?fail=2&after=0.05")
                first = meter.snapshot()
                await http.request("GET", net.base_url + "/_test/flaky/b?fail=1&status=503")
                await http.request("GET", net.base_url + "/_test/flaky/c?fail=1&status=503"
                                   "&after=0.02")
            finally:
                await http.aclose()
        return first, meter.snapshot(), ok.status

    first, last, status = asyncio.run(scenario())
    assert status == 200
    assert (first.tries, first.throttled, first.last_retry_after_s) == (3, 2, 0.05)
    assert abs(first.retry_after_s - 0.1) < 1e-9 and first.latency_s > 0
    # a 503 without Retry-After is a failure, not a request to slow down; with one it is
    window = last - first
    assert (window.tries, window.throttled, window.last_retry_after_s) == (4, 1, 0.02)


def test_clients_record_in_the_process_meter_by_default() -> None:
    assert HttpClient().meter is process_meter()


def test_a_window_of_no_tries_has_no_share_and_no_latency() -> None:
    empty = NetPressure() - NetPressure()
    assert empty.throttled_share == 0.0 and empty.mean_latency_s is None
