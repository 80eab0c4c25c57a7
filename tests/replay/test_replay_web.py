"""Offline replay: the recorded web, byte for byte, and clear misses."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.crawlers.conftest import live
from tests.replay.conftest import ReadingPolicy
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, ReplayMiss
from webresearch.replay.replay_web import ReplayWeb
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.server import SimInternet
from webresearch.sim.sim_web import SimWeb


def record_live_run(directory: Path, n: int = 12) -> tuple[str, list[EpisodeRecord]]:
    """Record ``n`` episodes on the live backend against a loopback server, then stop it."""
    tasks = SimWeb().default_tasks()[:n]

    async def main() -> tuple[str, list[EpisodeRecord]]:
        async with SimInternet() as net:
            web = live(net, cache=False)
            with ReplayStore(directory) as store:
                report = await rollout(lambda: WebResearchEnv(tasks=tasks, web=web),
                                       ReadingPolicy(tasks), tasks,
                                       RolloutConfig(keep_results=True,
                                                     progress=False, group_size=2), store=store,
                                       run=RunRecord(policy="reading"))
            await web.aclose()
        return report.run_id, report.results

    return asyncio.run(main())


def test_recorded_episodes_replay_byte_for_byte_offline(tmp_path: Path) -> None:
    run_id, recorded = record_live_run(tmp_path)  # the server is gone after this
    assert all(e.status == "answered" and e.reward == 1.0 for e in recorded)
    assert all(re.search(r"http://127\.0\.0\.1:\d+/wiki/", e.steps[1].observation)
               for e in recorded)
    env = WebResearchEnv(tasks=[e.task for e in recorded], web=f"replay:{tmp_path}#{run_id}")
    with ReplayStore(tmp_path) as store:
        stored = list(store.episodes(run_id))
    assert [e.episode_id for e in stored] == [e.episode_id for e in recorded]
    for episode in stored:
        observation, _ = env.reset(options={"task": episode.task})
        assert observation == episode.prompt[-1]["content"]
        for step in episode.steps:
            observation, reward, *_ = env.step(step.action)
            assert observation == step.observation  # byte for byte
            assert reward == step.reward
    env.close()


def test_a_request_never_recorded_is_a_clear_error(tmp_path: Path) -> None:
    run_id, recorded = record_live_run(tmp_path, n=2)
    web = ReplayWeb(tmp_path, run_id=run_id)
    query = recorded[0].steps[0].arguments[0]
    assert asyncio.run(web.search(query)).hits
    assert asyncio.run(web.search("  " + query.upper() + " ")).hits  # normalised match
    with pytest.raises(ReplayMiss, match=re.escape("never searched 'unseen query' (k=10)")):
        asyncio.run(web.search("unseen query"))
    with pytest.raises(ReplayMiss, match=re.escape("never fetched 'http://example.com/'")):
        asyncio.run(web.fetch("http://example.com/"))
    with pytest.raises(ReplayMiss):
        asyncio.run(web.search(query, k=3))  # another k is another request
    observing = ReplayWeb(tmp_path, on_miss="observe")
    assert "not in the recorded snapshot" in (asyncio.run(observing.fetch("u:x")).error or "")
    with pytest.raises(ConfigError, match="Expects on_miss in"):
        ReplayWeb(tmp_path, on_miss="live")
    with pytest.raises(ConfigError, match="replay:<store directory>"):
        WebResearchEnv(web="replay:")
