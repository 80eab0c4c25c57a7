"""The SimWeb backend, and the default task set: answerable with the tools, not without."""

from __future__ import annotations

import asyncio

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import NoToolPolicy, OraclePolicy
from webresearch.rollout import RolloutConfig, rollout, summarize
from webresearch.sim import SimWeb, SimWebConfig, World, WorldConfig, generate_tasks


def test_fetch_normalises_urls_and_404s() -> None:
    web = SimWeb()
    url = web.default_tasks()[0].supporting[0].url
    variants = [url, url + "/", url.replace("https://", "http://"), url.replace("https://", ""),
                url.replace("simpedia.test", "SIMPEDIA.test"), url.replace("_", "%20")]
    pages = [asyncio.run(web.fetch(v)) for v in variants]
    assert all(p.ok and p.final_url == url for p in pages)
    assert pages[1].url == url + "/"
    for bad in ["https://simpedia.test/", "https://other.test/wiki/X", "not a url", "",
                "https://simpedia.test/wiki/"]:
        page = asyncio.run(web.fetch(bad))
        assert (page.ok, page.status, page.error) == (False, 404, "404 Not Found")


def test_search_returns_titles_urls_snippets() -> None:
    web = SimWeb()
    task = web.default_tasks()[0]
    results = asyncio.run(web.search(task.supporting[0].title, k=5))
    assert 1 <= len(results.hits) <= 5 and results.error is None
    assert results.hits[0].url == task.supporting[0].url
    assert all(h.title.endswith(" - Simpedia") and h.snippet for h in results.hits)
    assert asyncio.run(web.search("zzzz qqqq")).hits == ()


def test_worlds_differ_by_seed_and_tasks_are_deterministic() -> None:
    a, b = SimWeb(), SimWeb(SimWebConfig(world=WorldConfig(seed=1)))
    assert a.default_tasks()[0].question != b.default_tasks()[0].question
    assert a.default_tasks() == SimWeb().default_tasks()
    world = World.generate(WorldConfig())
    assert generate_tasks(world, n=30, seed=5) == generate_tasks(world, n=30, seed=5)


def _mean_f1(policy_name: str) -> float:
    env = WebResearchEnv()
    tasks = env.tasks
    policy = OraclePolicy(tasks) if policy_name == "oracle" else NoToolPolicy()
    report = asyncio.run(rollout(WebResearchEnv, policy, tasks, RolloutConfig(keep_results=True,
                                                                              progress=False)))
    summary = summarize(report.results, report.seconds)
    assert summary.episodes == 500 and summary.broken == 0 and summary.mean_f1 is not None
    return summary.mean_f1


def test_oracle_answers_every_default_task_through_the_tools() -> None:
    assert _mean_f1("oracle") >= 0.95


def test_no_tool_policy_cannot_answer() -> None:
    assert _mean_f1("no-tool") <= 0.05


@pytest.mark.parametrize("seed", [1, 2])
def test_other_worlds_are_answerable_too(seed: int) -> None:
    env = WebResearchEnv(web=f"sim:seed={seed}")
    policy = OraclePolicy(env.tasks[:100])
    report = asyncio.run(rollout(lambda: WebResearchEnv(web=f"sim:seed={seed}"), policy,
                                 env.tasks[:100], RolloutConfig(keep_results=True, progress=False)))
    assert (summarize(report.results, report.seconds).mean_f1 or 0.0) >= 0.95
