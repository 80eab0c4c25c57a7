"""The viewer serves a 128-turn episode with a ~150k-token transcript: whole, and listed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp.test_utils

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.scripted import LongPolicy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import create_viewer
from webresearch.rollout.episode import run_episode


def test_the_viewer_serves_a_128_turn_episode(tmp_path: Path) -> None:
    env = WebResearchEnv(max_turns=127, top_k=15)
    long = asyncio.run(run_episode(env, LongPolicy(127), env.tasks[0], run_id="long"))
    assert len(long.steps) == 128
    with ReplayStore(tmp_path) as store:
        store.create_run(RunRecord(run_id="long", policy="long"))
        assert store.append([long]) == 1

        async def scenario() -> None:
            server = aiohttp.test_utils.TestServer(create_viewer(store))
            async with aiohttp.test_utils.TestClient(server) as client:
                response = await client.get(f"/api/episode/{long.episode_id}")
                assert response.status == 200
                served = await response.json()
                assert served["episode_id"] == long.episode_id and len(served["steps"]) == 128
                assert [s["observation"] for s in served["steps"]] == [
                    s.observation for s in long.steps]
                rows = await (await client.get("/api/episodes?run=long")).json()
                assert rows["total"] == 1 and rows["rows"][0]["steps"] == 128
                page = await (await client.get("/?run=long")).text()
                assert "1 episodes" in page and long.task.id in page

        asyncio.run(scenario())
