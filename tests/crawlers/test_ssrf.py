"""In live mode, the policy's URLs cannot reach loopback, private or metadata addresses."""

from __future__ import annotations

import asyncio
import json
import tempfile

import pytest
from yarl import URL

from tests.net.canary import FixedResolver
from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.http import HttpConfig
from webresearch.net.safety import UrlPolicy
from webresearch.sim.server import SimInternet


def guarded(net: SimInternet, allow: tuple[str, ...] = ()) -> LiveWeb:
    """A live backend with the default policy (plus ``allow``) and a stand-in DNS."""
    dns = FixedResolver({"evil.test": ["127.0.0.1"], "good.test": ["127.0.0.2"],
                         "localhost": ["127.0.0.1"]})
    config = LiveWebConfig(engine="searxng", endpoint=net.base_url + "/searxng",
                           http=HttpConfig(url_policy=UrlPolicy(allow=allow)),
                           cache_dir=tempfile.mkdtemp(), respect_robots=False)
    return LiveWeb(config, resolver=dns)


def run_on(host: str, scenario: object) -> object:
    async def main() -> object:
        async with SimInternet(host=host) as net:
            return await scenario(net)  # type: ignore[operator]

    return asyncio.run(main())


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/wiki/Pogre_Works",
    "http://localhost:{port}/wiki/Pogre_Works",
    "http://evil.test:{port}/wiki/Pogre_Works",
    "http://[::1]:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
], ids=["ip-literal", "localhost", "name-resolving-to-loopback", "ipv6", "metadata", "file"])
def test_direct_attempts_are_refused(target: str) -> None:
    async def scenario(net: SimInternet) -> None:
        web = guarded(net)
        port = net.base_url.rsplit(":", 1)[1]
        page = await web.fetch(target.format(port=port))
        await web.aclose()
        assert (page.error or "").startswith("refused: "), page.error
        assert not net.log  # nothing reached the server

    run_on("127.0.0.1", scenario)


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/wiki/Pogre_Works",
    "http://evil.test:{port}/wiki/Pogre_Works",
    "http://localhost:{port}/wiki/Pogre_Works",
], ids=["ip-literal", "name-resolving-to-loopback", "localhost"])
def test_redirects_into_loopback_are_refused(target: str) -> None:
    async def scenario(net: SimInternet) -> None:
        web = guarded(net, allow=("127.0.0.2/32",))  # only the server's own address is open
        port = net.base_url.rsplit(":", 1)[1]
        start = f"http://good.test:{port}/_test/redirect-to?url=" + target.format(port=port)
        page = await web.fetch(start)
        ok = await web.fetch(f"http://good.test:{port}/wiki/Pogre_Works")
        await web.aclose()
        assert (page.error or "").startswith("refused: "), page.error
        assert ok.ok  # the allowed host itself works
        paths = [r.path.split("?")[0] for r in net.log]
        assert paths == ["/_test/redirect-to", "/wiki/Pogre_Works"]

    run_on("127.0.0.2", scenario)


@pytest.mark.parametrize("near", ["evilgood.test", "good.test.evil.test", "www.good.test",
                                  "good.tests", "go\u043ed.test", "good.test.."])
def test_an_allowlisted_name_opens_no_name_near_it(near: str) -> None:
    """``allow=("good.test",)`` opens good.test (on loopback) and no name glued to it."""
    async def scenario(net: SimInternet) -> None:
        port = net.base_url.rsplit(":", 1)[1]
        dns = {"good.test": ["127.0.0.2"], "good.test.": ["127.0.0.2"], near: ["127.0.0.2"],
               str(URL(f"http://{near}/").raw_host): ["127.0.0.2"]}
        config = LiveWebConfig(engine="searxng", endpoint=net.base_url + "/searxng",
                               http=HttpConfig(url_policy=UrlPolicy(allow=("good.test",))),
                               cache_dir=tempfile.mkdtemp(), respect_robots=False)
        web = LiveWeb(config, resolver=FixedResolver(dns))
        try:
            refused = await web.fetch(f"http://{near}:{port}/wiki/Pogre_Works")
            ok = await web.fetch(f"http://GOOD.test.:{port}/wiki/Pogre_Works")
        finally:
            await web.aclose()
        assert (refused.error or "").startswith("refused: "), refused.error
        assert ok.ok, ok.error
        assert [r.path for r in net.log] == ["/wiki/Pogre_Works"]  # the allowed name's only

    run_on("127.0.0.2", scenario)


def test_refusals_reach_the_agent_as_observations() -> None:
    async def scenario(net: SimInternet) -> tuple[str, dict[str, object]]:
        env = WebResearchEnv(tasks=[{"question": "q", "answers": ["a"]}], web=guarded(net))
        await env.areset(seed=0)
        call = {"name": "browse_webpage", "arguments": {"url_list": ["http://127.0.0.1:9/"]}}
        obs, *_ = await env.astep(f"<tool_call>{json.dumps(call)}</tool_call>")
        *_, info = await env.astep("<answer>a</answer>")
        await env.web.aclose()
        return obs, info

    obs, info = run_on("127.0.0.1", scenario)
    assert "Could not read http://127.0.0.1:9/: refused: the address 127.0.0.1 is not public" in obs
    assert info["errors"] == [
        "browse http://127.0.0.1:9/: refused: the address 127.0.0.1 is not public (loopback)"]


def test_a_page_cached_under_an_allowlist_is_refused_to_a_stricter_policy() -> None:
    async def scenario(net: SimInternet) -> None:
        port = net.base_url.rsplit(":", 1)[1]
        urls = [f"http://{host}:{port}/wiki/Pogre_Works" for host in ("127.0.0.1", "evil.test")]
        cache_dir = tempfile.mkdtemp()

        def web(allow: tuple[str, ...]) -> LiveWeb:
            dns = FixedResolver({"evil.test": ["127.0.0.1"]})
            config = LiveWebConfig(engine="searxng", endpoint=net.base_url + "/searxng",
                                   http=HttpConfig(url_policy=UrlPolicy(allow=allow)),
                                   cache_dir=cache_dir, respect_robots=True)
            return LiveWeb(config, resolver=dns)

        opened, strict, again = web(("127.0.0.0/8",)), web(()), web(("127.0.0.0/8",))
        try:
            assert all([(await opened.fetch(u)).ok for u in urls])
            seen = len(net.log)
            refused = [await strict.fetch(urls[0])]
            cache = strict.services.cache
            assert cache is not None and cache.stats.hits + cache.stats.misses == 0  # not asked
            refused.append(await strict.fetch(urls[1]))  # a name: refused when it resolves
            cached = [await again.fetch(u) for u in urls]
        finally:
            for backend in (opened, strict, again):
                await backend.aclose()
        assert [(p.error or "").startswith("refused: ") for p in refused] == [True, True]
        assert all(p.ok and p.from_cache for p in cached)  # the same policy shares the cache
        assert len(net.log) == seen  # no request, not even for robots.txt

    run_on("127.0.0.1", scenario)
