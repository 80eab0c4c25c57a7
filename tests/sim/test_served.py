"""``web="serve:<URL>"``: the live backend on a local serve-web, searches that succeed."""

from __future__ import annotations

import asyncio
import re

import pytest

from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.backends import make_web
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies import OraclePolicy
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.served import ServedWeb, parse_served_spec, served_spec
from webresearch.sim.server import SimInternet
from webresearch.sim.web import SimSite
from webresearch.sim.world import WorldConfig


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


def test_only_the_servers_host_is_opened() -> None:
    web = ServedWeb("http://127.0.0.1:8080")
    policy = web.config.http.url_policy
    assert policy.check_url("http://127.0.0.1:8080/wiki/X") is None
    assert policy.check_url("http://10.0.0.1/") == "the address 10.0.0.1 is not public (private)"
    assert policy.check_url("http://169.254.169.254/") is not None
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
