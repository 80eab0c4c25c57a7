"""``web="serve:<URL>"``: the live backend on a local serve-web, searches that succeed."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.backends import make_web
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies import OraclePolicy
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.served import ServedWeb, parse_served_spec, served_spec
from webresearch.sim.server import SimInternet
from webresearch.sim.sim_web import SimSite
from webresearch.sim.world import WorldConfig
from webresearch.web.backend import Page


def test_plain_live_backend_is_refused_on_loopback_and_the_preset_is_not() -> None:
    async def scenario() -> tuple[str | None, str | None, bool]:
        async with SimInternet() as net:
            plain = LiveWeb(LiveWebConfig(engine="searxng", endpoint=net.base_url + "/searxng",
                                          cache_dir=None))
            served = make_web(f"serve:{net.base_url}")
            async with plain, served:
                refused = (await plain.search("Simpedia")).error
                found = await served.search("Simpedia")
                page = await served.fetch(found.hits[0].url)
                return refused, found.error, page.ok

    refused, error, page_ok = asyncio.run(scenario())
    assert refused is not None and "not public (loopback)" in refused
    assert error is None and page_ok


def test_only_the_servers_host_and_port_are_opened() -> None:
    web = ServedWeb("http://127.0.0.1:8080")
    policy = web.config.http.url_policy
    assert policy.check_url("http://127.0.0.1:8080/wiki/X") is None
    assert policy.check_url("http://2130706433:8080/wiki/X") is None  # the same address
    for url in ["http://10.0.0.1/", "http://169.254.169.254/", "http://127.0.0.1:8081/",
                "http://127.0.0.1/", "http://localhost:8080/",
                "http://example.com:8080/"]:
        assert "is not one this policy reaches (only 127.0.0.1:8080)" in (
            policy.check_url(url) or ""), url
    assert web.config.cache_dir is None  # simulated answers never enter the real web's cache


@pytest.mark.parametrize("seed", [0, 3])
def test_oracle_rollout_through_the_preset_answers_everything(seed: int) -> None:
    async def scenario() -> dict[str, object]:
        site = SimSite.of(WorldConfig(seed=seed))
        async with SimInternet(site) as net:
            spec = served_spec(net.base_url, seed)
            tasks = WebResearchEnv(web=spec).tasks[:20]
            assert tasks[0].supporting[0].url.startswith(net.base_url + "/wiki/")
            report = await rollout(lambda: WebResearchEnv(tasks=tasks, web=spec),
                                   OraclePolicy(tasks), tasks, RolloutConfig(progress=False))
            assert report.summary.episodes == len(tasks)
            searches = [r for r in net.log if r.path.startswith("/searxng/")]
            assert len(searches) >= len(tasks)
            return report.summary

    summary = asyncio.run(scenario())
    assert summary.episodes == 20 and summary.broken == 0
    assert summary.mean_f1 == 1.0  # the oracle answers only after its searches succeeded


@pytest.mark.parametrize("spec", [
    "127.0.0.1:8080", "ftp://127.0.0.1:8080", "http://", "http://127.0.0.1:8080/searxng",
    "http://127.0.0.1:8080#seed=x", "http://127.0.0.1:8080#world=2", ""])
def test_bad_specs_say_what_is_expected(spec: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("Expects 'serve:<http://host:port of")):
        make_web(f"serve:{spec}")


def test_spec_round_trip() -> None:
    for url, seed in [("http://127.0.0.1:8080", 0), ("http://localhost:1/", 5)]:
        config = parse_served_spec(served_spec(url, seed).removeprefix("serve:"))
        assert (config.base_url, config.world_seed) == (url, seed)


# another local service: reached neither directly nor through serve-web's redirect ---------

HITS = web.AppKey("hits", list[str])


def other_service() -> web.Application:
    """A local service on another port that must stay unreachable: it counts every request."""
    app = web.Application()
    app[HITS] = []

    async def anything(request: web.Request) -> web.Response:
        app[HITS].append(request.path_qs)
        return web.Response(text="internal admin page")

    app.add_routes([web.route("*", "/{tail:.*}", anything)])
    return app


async def _listen(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _attempts(served: str, port: int) -> list[str]:
    """URLs that would reach the other service: direct, respelled, and through redirects."""
    targets = [f"http://127.0.0.1:{port}/admin", f"http://localhost:{port}/admin",
               f"http://2130706433:{port}/admin", f"http://[::ffff:127.0.0.1]:{port}/admin",
               f"http://0x7f.1:{port}/admin", f"http://127.0.0.2:{port}/admin"]
    redirects = [f"{served}/_test/redirect-to?url={quote(target, safe='')}"
                 for target in [*targets, f"//127.0.0.1:{port}/admin"]]
    return targets + redirects + [f"{served}/_test/redirect/2?to={quote(targets[0], safe='')}"]


def test_another_local_port_is_refused_directly_and_through_redirects() -> None:
    async def scenario() -> tuple[list[Page], Page, list[str], int]:
        other = other_service()
        runner, port = await _listen(other)
        try:
            async with SimInternet() as net, ServedWeb(net.base_url) as served:
                pages = [await served.fetch(url) for url in _attempts(net.base_url, port)]
                own = await served.fetch(f"{net.base_url}/_test/redirect/1")  # same port: fine
                refused_hits = list(other[HITS])
                async with aiohttp.ClientSession() as plain, plain.get(
                        f"http://127.0.0.1:{port}/probe") as response:  # it is really there
                    await response.read()
            return pages, own, refused_hits, len(other[HITS])
        finally:
            await runner.cleanup()

    pages, own, refused_hits, total = asyncio.run(scenario())
    assert refused_hits == [] and total == 1  # 0 hits from the agent, 1 from the probe
    for page in pages:
        assert not page.ok and page.error is not None and page.error.startswith("refused"), page
        assert "is not one this policy reaches" in page.error
    assert own.ok


def test_the_env_shows_the_refusal_as_an_observation() -> None:
    async def scenario() -> tuple[str, int]:
        other = other_service()
        runner, port = await _listen(other)
        try:
            async with SimInternet() as net:
                env = WebResearchEnv(web=served_spec(net.base_url))
                try:
                    env.reset(seed=0)
                    url = f"{net.base_url}/_test/redirect-to?url=http://127.0.0.1:{port}/admin"
                    action = ('<tool_call>{"name": "browse_webpage", "arguments": '
                              f'{{"url_list": ["{url}"]}}}}</tool_call>')
                    observation, *_ = await asyncio.to_thread(env.step, action)
                finally:
                    await asyncio.to_thread(env.close)
            return observation, len(other[HITS])
        finally:
            await runner.cleanup()

    observation, hits = asyncio.run(scenario())
    assert hits == 0
    assert "is not one this policy reaches" in observation and "internal admin" not in observation


@settings(max_examples=100, deadline=None)
@given(port=st.integers(1, 65535).filter(lambda p: p != 8080),
       host=st.sampled_from(["127.0.0.1", "localhost", "2130706433", "[::1]", "10.0.0.1",
                             "example.com", "127.0.0.1.nip.io"]))
def test_any_other_port_or_host_is_refused(port: int, host: str) -> None:
    policy = ServedWeb("http://127.0.0.1:8080").config.http.url_policy
    for url in [f"http://{host}:{port}/", f"http://{host}/"]:
        assert policy.check_url(url) is not None, url
    assert policy.check_sockaddr(("127.0.0.1", port)) is not None
    assert policy.check_sockaddr(("127.0.0.1", 8080)) is None
