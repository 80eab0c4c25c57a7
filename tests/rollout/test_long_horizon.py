"""Long horizons: 128-turn episodes with transcripts past 100k tokens run to the end beside
short ones, which still finish first, and the store keeps every turn of them."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from webresearch.envs.config import EnvConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import ChatMessage
from webresearch.policies.scripted import LongPolicy
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.rollout.episode import run_episode
from webresearch.status import ActionKind, EpisodeStatus

TURNS, LONG, SHORT = 127, 3, 4


class Marking(LongPolicy):
    """A long policy that says when every episode is past half its turns."""

    def __init__(self) -> None:
        super().__init__(TURNS)
        self.actions, self.half = 0, asyncio.Event()

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        self.actions += 1
        if self.actions >= LONG * TURNS // 2:
            self.half.set()
        return super().act(conversation)


@dataclass
class Ran:
    finished: list[tuple[str, EpisodeRecord]]
    store: Path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """Long episodes, and short ones started once the long ones are half way through."""
    directory = tmp_path_factory.mktemp("long")
    tasks = WebResearchEnv().tasks
    finished: list[tuple[str, EpisodeRecord]] = []

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(max_turns=TURNS)

    async def scenario(store: ReplayStore) -> None:
        policy = Marking()
        longs = asyncio.create_task(rollout(
            make_env, policy, tasks[:LONG], RolloutConfig(concurrency=LONG, progress=False),
            store=store, run=RunRecord(run_id="long"),
            on_episode=lambda e: finished.append(("long", e))))
        async with asyncio.timeout(600):
            await asyncio.wait([longs, asyncio.create_task(policy.half.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            assert not longs.done(), "the long episodes ended before half their turns"
            await rollout(make_env, LongPolicy(4), tasks[LONG:LONG + SHORT],
                          RolloutConfig(concurrency=SHORT, progress=False), store=store,
                          run=RunRecord(run_id="short"),
                          on_episode=lambda e: finished.append(("short", e)))
            await longs

    with ReplayStore(directory) as store:
        asyncio.run(scenario(store))
    return Ran(finished, directory)


def test_long_episodes_run_every_turn_within_the_envs_limits(ran: Ran) -> None:
    longs = [e for kind, e in ran.finished if kind == "long"]
    assert len(longs) == LONG
    limit = EnvConfig().max_observation_chars
    for episode in longs:
        assert episode.status is EpisodeStatus.ANSWERED and len(episode.steps) == TURNS + 1
        assert episode.tool_calls == TURNS and episode.steps[-1].tool is ActionKind.ANSWER
        assert {ActionKind.SEARCH, ActionKind.BROWSE} <= {s.tool for s in episode.steps}
        assert all(len(s.observation) <= limit for s in episode.steps)  # memory per turn
        chars = sum(len(m["content"]) for m in episode.messages())
        assert chars > 400_000  # over 100k tokens at 4 characters a token


def test_short_episodes_beside_long_ones_still_finish_first(ran: Ran) -> None:
    kinds = [kind for kind, _ in ran.finished]
    shorts = [e for kind, e in ran.finished if kind == "short"]
    assert len(shorts) == SHORT
    assert all(e.status is EpisodeStatus.ANSWERED and len(e.steps) == 5 for e in shorts)
    assert kinds == ["short"] * SHORT + ["long"] * LONG  # no long episode held them up


def test_the_store_keeps_long_episodes_whole(ran: Ran) -> None:
    with ReplayStore(ran.store, create=False) as store:
        recorded = {e.episode_id: e for e in store.episodes("long")}
        assert store.count("short") == SHORT
    longs = [e for kind, e in ran.finished if kind == "long"]
    assert set(recorded) == {e.episode_id for e in longs}
    for episode in longs:
        assert recorded[episode.episode_id].to_json() == episode.to_json()


def test_a_long_episodes_memory_is_linear_in_its_transcript() -> None:
    """A dozen bytes per transcript character at most at the peak (about 6 measured): nothing
    is copied per turn (a conversation copied each turn and kept would be over 30 MB)."""
    env = WebResearchEnv(max_turns=TURNS)
    # the same episode once before: the simulated web's caches of the pages it reads (the
    # web's memory, shared by every episode, bounded by its world) are filled
    asyncio.run(run_episode(env, LongPolicy(TURNS), env.tasks[1]))
    tracemalloc.start()
    try:
        episode = asyncio.run(run_episode(env, LongPolicy(TURNS), env.tasks[1]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    chars = sum(len(m["content"]) for m in episode.messages())
    assert len(episode.steps) == TURNS + 1 and chars > 400_000
    assert peak < 12 * chars, f"{peak / 2**20:.1f} MB at the peak for {chars} characters"
