"""The viewer serves a 128-turn episode with a ~150k-token transcript: whole, and listed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp.test_utils
import pytest

from tests.replay.test_cli_and_viewer import CHROMIUM, chromium
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.scripted import LongPolicy
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import create_viewer
from webresearch.rollout.episode import run_episode


@pytest.fixture(scope="module")
def long() -> EpisodeRecord:
    """One 128-turn episode (~150k tokens of transcript at 4 characters a token)."""
    env = WebResearchEnv(max_turns=127, top_k=15)
    episode = asyncio.run(run_episode(env, LongPolicy(127), env.tasks[0], run_id="long"))
    assert len(episode.steps) == 128
    assert sum(len(m["content"]) for m in episode.messages()) > 500_000
    return episode


def stored(directory: Path, episode: EpisodeRecord) -> Path:
    with ReplayStore(directory) as store:
        store.create_run(RunRecord(run_id="long", policy="long"))
        assert store.append([episode]) == 1
    return directory


def test_the_viewer_serves_a_128_turn_episode(long: EpisodeRecord, tmp_path: Path) -> None:
    with ReplayStore(stored(tmp_path, long), create=False) as store:

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


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_a_browser_draws_every_turn_of_it(long: EpisodeRecord, tmp_path: Path) -> None:
    store = stored(tmp_path / "store", long)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "view", str(store),
                               "--port", str(port)], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith(b"viewing")
        dom = chromium(tmp_path / "profile", "--dump-dom",
                       f"http://127.0.0.1:{port}/?run=long").stdout
        assert "128 steps" in dom and "step 128 ·" in dom and "answer: unknown" in dom
        assert dom.count('class="step"') == 128
    finally:
        server.terminate()
        server.communicate(timeout=10)
