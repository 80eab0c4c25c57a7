"""The live backend against the simulated internet on loopback: every failure, every limit."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from tests.conftest import assert_rate_held
from tests.crawlers.conftest import live
from webresearch.net.rate_limit import Rate
from webresearch.sim.faults import Faults
from webresearch.sim.server import SimInternet

T = TypeVar("T")


def with_net(scenario: Callable[[SimInternet], Awaitable[T]], **options: object) -> T:
    async def main() -> T:
        async with SimInternet(**options) as net:  # type: ignore[arg-type]
            return await scenario(net)

    return asyncio.run(main())


@pytest.mark.parametrize(("path", "status", "error"), [
    ("/wiki/Pogre_Works", 200, None),
    ("/wiki/Nowhere", 404, "HTTP 404 Not Found"),
    ("/_test/status/410", 410, "HTTP 410 Gone"),
    ("/_test/status/500", 500, "HTTP 500 Internal Server Error"),
    ("/_test/loop/a", 0, "redirect loop at"),
    ("/_test/redirect/9", 0, "too many redirects (more than 5)"),
    ("/_test/redirect/4", 200, None),
    ("/_test/huge", 200, "the page is too large (over 4194304 bytes)"),
    ("/_test/bomb", 200, "the page is too large (over 4194304 bytes)"),
    ("/_test/binary", 200, "the response is binary data, not text"),
    ("/_test/image", 200, "pages of type 'image/png' cannot be read as text"),
    ("/_test/broken/reset", 0, "the connection was reset"),
    ("/_test/broken/truncated", 0, "the response was cut off before its end"),
    ("/_test/slow?seconds=5", 0, "timed out after"),
    ("/_test/broken/drip?seconds=5", 0, "timed out after"),
    ("/private/Pogre_Works", 0, "robots.txt of http://127.0.0.1"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_failure_modes_become_page_errors(path: str, status: int, error: str | None) -> None:
    async def scenario(net: SimInternet) -> None:
        # Only the timeout cases need short timeouts (their server takes 5 s); the others get
        # generous ones, so that a busy machine (a 4 MB gzip bomb to inflate) cannot fail them.
        timeouts = {"attempt_timeout_s": 0.5, "deadline_s": 1.5} if error == "timed out after" \
            else {"attempt_timeout_s": 30.0, "deadline_s": 60.0}
        web = live(net, http=timeouts)
        page = await web.fetch(net.base_url + path)
        await web.aclose()
        assert page.status == status
        if error is None:
            assert page.ok and page.text
        else:
            assert page.error is not None and page.error.startswith(error), page.error

    with_net(scenario)


def test_charsets_pdf_and_text_are_read() -> None:
    async def scenario(net: SimInternet) -> list[str]:
        web = live(net)
        paths = ["/_test/charset/wrong", "/_test/charset/missing", "/_test/charset/meta",
                 "/_test/pdf", "/_test/text"]
        pages = [await web.fetch(net.base_url + p) for p in paths]
        await web.aclose()
        return [p.text for p in pages]

    texts = with_net(scenario)
    assert texts[:3] == ["Café Zoë naïve — “quoted”"] * 3
    assert texts[3:] == ["Hello from a PDF", "Just plain text.\nTwo lines."]


def test_retry_after_is_obeyed() -> None:
    async def scenario(net: SimInternet) -> tuple[float, str | None, list[float]]:
        web = live(net)
        start = time.time()
        page = await web.fetch(net.base_url + "/_test/flaky/a?fail=2&after=0.3")
        await web.aclose()
        times = [r.time for r in net.log if r.path.startswith("/_test/flaky/a")]
        return time.time() - start, page.error, times

    elapsed, error, times = with_net(scenario)
    assert error is None and len(times) == 3
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(times))
    assert elapsed >= 0.6


def test_retries_give_up_after_the_budget() -> None:
    async def scenario(net: SimInternet) -> tuple[str | None, int]:
        web = live(net)
        page = await web.fetch(net.base_url + "/_test/flaky/b?fail=9&status=503")
        await web.aclose()
        return page.error, sum(r.path.startswith("/_test/flaky/b") for r in net.log)

    error, tries = with_net(scenario)
    assert error == "HTTP 503 Service Unavailable" and tries == 4


def test_a_too_long_retry_after_fails_at_once() -> None:
    async def scenario(net: SimInternet) -> tuple[str | None, float]:
        web = live(net)
        start = time.time()
        page = await web.fetch(net.base_url + "/_test/flaky/c?fail=9&after=3600")
        await web.aclose()
        return page.error, time.time() - start

    error, elapsed = with_net(scenario)
    assert error == "HTTP 429 Too Many Requests" and elapsed < 1


def test_host_rate_limit_holds_as_measured_by_the_server() -> None:
    rate = 8.0

    async def scenario(net: SimInternet) -> list[float]:
        web = live(net, host_rate=Rate(per_second=rate, burst=1), respect_robots=False)
        pages = list(net.state.site.contents)[:30]
        await asyncio.gather(*(web.fetch(net.url(p)) for p in pages))
        await web.aclose()
        return [r.time for r in net.log if r.path.startswith("/wiki/")]

    times = with_net(scenario)
    assert len(times) == 30
    assert_rate_held(times, rate)


def test_identical_concurrent_requests_make_one_upstream_call() -> None:
    async def scenario(net: SimInternet) -> tuple[int, int, dict[str, int]]:
        web = live(net, cache=False, respect_robots=False)
        url = net.url("Pogre_Works")
        pages = await asyncio.gather(*(web.fetch(url) for _ in range(25)))
        results = await asyncio.gather(*(web.search("Pogre Works") for _ in range(25)))
        stats = web.stats()
        await web.aclose()
        assert all(p.ok for p in pages) and all(r.hits for r in results)
        return (sum(r.path.startswith("/wiki/") for r in net.log),
                sum(r.path.startswith("/serper/") for r in net.log), stats)

    page_calls, search_calls, stats = with_net(scenario)
    assert (page_calls, search_calls) == (1, 1)
    assert stats["shared_in_flight"] == 48


def test_cache_serves_repeats_without_the_network() -> None:
    async def scenario(net: SimInternet) -> None:
        web = live(net, respect_robots=False)
        url = net.url("Pogre_Works")
        first, first_search = await web.fetch(url), await web.search("Pogre")
        second, second_search = await web.fetch(url + "#x"), await web.search("  pogre ")
        stats = web.stats()
        await web.aclose()
        assert not first.from_cache and second.from_cache and second.text == first.text
        assert not first_search.from_cache and second_search.from_cache
        assert stats["cache_hits"] == 2 and len(net.log) == 2

    with_net(scenario)


@pytest.mark.parametrize("engine", ["serper", "searxng", "brave"])
def test_each_engine_searches_the_simulated_web(engine: str) -> None:
    async def scenario(net: SimInternet) -> None:
        web = live(net, engine=engine)
        results = await web.search("Pogre Works", k=3)
        await web.aclose()
        assert results.error is None and len(results.hits) == 3
        assert results.hits[0].title == "Pogre Works - Simpedia"
        assert results.hits[0].url == net.url("Pogre_Works") and results.hits[0].snippet

    with_net(scenario)


@pytest.mark.parametrize(("engine", "message"), [
    ("serper", "serper quota or rate limit exceeded"),
    ("brave", "brave quota or rate limit exceeded (HTTP 429): Request rate limit exceeded."),
    ("searxng", "searxng quota or rate limit exceeded (HTTP 429)"),
])
def test_quota_errors_are_observations(engine: str, message: str) -> None:
    async def scenario(net: SimInternet) -> list[str | None]:
        web = live(net, engine=engine, cache=False)
        out = [(await web.search(f"q{i}")).error for i in range(3)]
        await web.aclose()
        return out

    errors = with_net(scenario, quota=2)
    assert errors[:2] == [None, None]
    expected = "serper search failed: HTTP 400 Bad Request: Not enough credits"
    assert (errors[2] or "").startswith(expected if engine == "serper" else message)


@pytest.mark.parametrize("engine", ["serper", "brave"])
def test_bad_keys_are_explained_and_never_leak(engine: str, caplog: pytest.LogCaptureFixture
                                               ) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(net: SimInternet) -> str:
        web = live(net, engine=engine, cache=False)
        web.services.engine.api_key._value = "sk-SECRET-123"  # type: ignore[attr-defined]
        results = await web.search("q")
        text = f"{results!r} {web.services.engine.__dict__!r} {web.config!r}"
        await web.aclose()
        return text

    text = with_net(scenario)
    assert "rejected the API key" in text
    assert "sk-SECRET-123" not in text and "sk-SECRET-123" not in caplog.text


def test_random_faults_never_raise() -> None:
    faults = Faults(seed=3, latency="lognormal", latency_ms=2, rate_429=0.1, retry_after_s=0.01,
                    rate_5xx=0.1, rate_reset=0.05, rate_truncated=0.05, rate_redirect=0.1)

    async def scenario(net: SimInternet) -> list[bool]:
        web = live(net, cache=False, respect_robots=False,
                   http={"breaker_threshold": 10_000})
        pages = list(net.state.site.contents)[:80]
        got = await asyncio.gather(*(web.fetch(net.url(p)) for p in pages))
        await web.aclose()
        return [p.ok for p in got]

    ok = with_net(scenario, faults=faults)
    assert len(ok) == 80 and sum(ok) >= 70  # retries recover most injected faults


def test_failing_hosts_are_short_circuited() -> None:
    async def scenario(net: SimInternet) -> tuple[str | None, float]:
        web = live(net, cache=False, respect_robots=False,
                   http={"breaker_threshold": 2, "retry": FAST_ONE})
        for _ in range(2):
            await web.fetch(net.base_url + "/_test/status/503")
        start = time.time()
        page = await web.fetch(net.url("Pogre_Works"))
        await web.aclose()
        return page.error, time.time() - start

    error, elapsed = with_net(scenario)
    assert (error or "").startswith("skipped: 127.0.0.1") and elapsed < 0.05


from webresearch.net.retry import RetryPolicy  # noqa: E402

FAST_ONE = RetryPolicy(attempts=1)


def test_the_env_runs_unchanged_on_the_live_backend() -> None:
    from webresearch.envs.web_research import WebResearchEnv

    async def scenario(net: SimInternet) -> dict[str, object]:
        web = live(net)
        env = WebResearchEnv(tasks=[{"question": "Who founded Pogre Works?",
                                     "answers": ["Kraemukreisk Jepudou"]}], web=web)
        search = '{"name": "web_search", "arguments": {"query": ["Pogre Works"]}}'
        info: dict[str, object] = {}
        for _ in range(2):  # the second episode is served from the cache
            await env.areset(seed=0)
            obs, *_ = await env.astep(f"<tool_call>{search}</tool_call>")
            url = obs.split("URL: ")[1].split()[0]
            browse = f'{{"name": "browse_webpage", "arguments": {{"url_list": ["{url}"]}}}}'
            obs, *_ = await env.astep(f"<tool_call>{browse}</tool_call>")
            assert "Founder: Kraemukreisk Jepudou" in obs
            *_, info = await env.astep("<answer>Kraemukreisk Jepudou</answer>")
        await env.aclose()
        await web.aclose()  # the env closes only the backends it made itself
        return info

    info = with_net(scenario)
    assert info["f1"] == 1.0 and (info["cache_hits"], info["cache_misses"]) == (2, 0)


def test_robots_is_fetched_once_per_host_and_the_agent_is_honest() -> None:
    async def scenario(net: SimInternet) -> None:
        web = live(net)
        pages = list(net.state.site.contents)[:20]
        await asyncio.gather(*(web.fetch(net.url(p)) for p in pages))
        await web.aclose()
        assert sum(r.path == "/robots.txt" for r in net.log) == 1
        assert {r.user_agent.split()[0] for r in net.log} == {"webresearch/0.1"}

    with_net(scenario)


def test_a_full_disk_at_the_start_costs_the_cache_never_the_step(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3

    import diskcache

    from webresearch.envs.web_research import WebResearchEnv

    def full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(diskcache.Cache, "__init__", full)

    async def scenario(net: SimInternet) -> str:
        web = live(net)
        env = WebResearchEnv(tasks=[{"question": "Who founded Pogre Works?",
                                     "answers": ["Kraemukreisk Jepudou"]}], web=web)
        await env.areset(seed=0)
        search = '{"name": "web_search", "arguments": {"query": ["Pogre Works"]}}'
        obs, *_ = await env.astep(f"<tool_call>{search}</tool_call>")
        await env.aclose()
        await web.aclose()
        return obs

    assert "URL: " in with_net(scenario)
    assert "database or disk is full; continuing without the web cache" in caplog.text


@pytest.mark.parametrize("status", [401, 429, 500])
def test_a_server_echoing_the_key_never_puts_it_in_an_error(
        status: int, caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web

    from tests.conftest import serve_app
    from tests.crawlers.conftest import FAST_RETRY, LOOPBACK
    from webresearch.crawlers.live import LiveWeb, LiveWebConfig
    from webresearch.net.http import HttpConfig

    caplog.set_level(logging.DEBUG)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"message": f"bad header X-API-KEY: "
                                             f"{request.headers['X-API-KEY']}"}, status=status)

    app = web.Application()
    app.add_routes([web.post("/v1/search", echo)])

    async def scenario(base_url: str) -> str:
        web_ = LiveWeb(LiveWebConfig(
            endpoint=base_url, api_key="sk-echoed-secret-1", cache_dir=None,
            http=HttpConfig(url_policy=LOOPBACK, retry=FAST_RETRY)))
        results = await web_.search("q")
        await web_.aclose()
        return results.error or ""

    error = serve_app(app, scenario)
    assert "bad header X-API-KEY: ***" in error  # the server's words, without the key
    assert "sk-echoed-secret-1" not in error + caplog.text


def test_a_backend_built_by_hand_outlives_a_sync_env_cleanly(
        caplog: pytest.LogCaptureFixture) -> None:
    """env.close() leaves no session open on its loop; the builder uses and closes the web."""
    import gc
    import warnings

    from webresearch.envs.web_research import WebResearchEnv

    search = '{"name": "web_search", "arguments": {"query": ["Pogre Works"]}}'

    async def scenario(net: SimInternet) -> tuple[str, dict[str, int], int]:
        web = live(net)
        env = WebResearchEnv(tasks=[{"question": "Who founded Pogre Works?",
                                     "answers": ["Kraemukreisk Jepudou"]}], web=web)

        def play() -> str:  # the sync API, on the env's own loop (in a thread: ours serves)
            env.reset(seed=0)
            obs, *_ = env.step(f"<tool_call>{search}</tool_call>")
            env.close()
            env.close()
            return str(obs)

        obs = await asyncio.to_thread(play)
        left = web.stats()  # nothing held on the env's closed loop
        again = await web.search("Pogre Works")  # still usable by its builder
        await web.aclose()
        await web.aclose()
        web.close()
        return obs, left, len(again.hits)

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR):
        warnings.simplefilter("always")
        obs, left, hits = with_net(scenario)
        gc.collect()
    assert "Pogre Works" in obs and left == {} and hits > 0
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert not unclosed and "Unclosed" not in caplog.text
