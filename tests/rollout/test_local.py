"""The local rollout runner: schedule, concurrency, deadlines, failures, summary."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, PolicyError
from webresearch.policies import ChatMessage, Completion, OraclePolicy, Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import (
    RolloutConfig,
    format_summary,
    rollout,
    run_episode,
    schedule,
    summarize,
)
from webresearch.rollout.summary import format_rate
from webresearch.status import EpisodeStatus


class SlowPolicy(Policy):
    """Takes ``delay`` seconds per turn, counting how many turns ran at once."""

    def __init__(self, delay: float, answer: str = "x") -> None:
        self.delay, self.answer = delay, answer
        self.active = self.peak = 0

    async def generate(self, conversations: Sequence[Sequence[ChatMessage]],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(self.delay)
        self.active -= 1
        return [Completion(f"<answer>{self.answer}</answer>")] * len(conversations)


class BrokenPolicy(Policy):
    async def generate(self, conversations: Sequence[Sequence[ChatMessage]],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        raise PolicyError("the server is down")


def test_schedule_groups_and_cycles() -> None:
    tasks = WebResearchEnv().tasks[:3]
    jobs = schedule(tasks, RolloutConfig(keep_results=True, group_size=2))
    assert [(t.id, g) for t, g in jobs] == [(t.id, g) for t in tasks for g in (0, 1)]
    assert len(schedule(tasks, RolloutConfig(keep_results=True, episodes=7))) == 7
    with pytest.raises(ConfigError):
        RolloutConfig(keep_results=True, concurrency=0)


def test_episodes_run_concurrently_without_a_barrier() -> None:
    tasks = WebResearchEnv().tasks[:40]
    policy = SlowPolicy(0.05)
    config = RolloutConfig(keep_results=True, concurrency=20, progress=False)
    report = asyncio.run(rollout(WebResearchEnv, policy, tasks, config))
    assert policy.peak == 20
    assert report.seconds < 1.0  # 40 x 0.05 s sequentially would take 2 s
    assert [r.task.id for r in report.results] == [t.id for t in tasks]


def test_deadline_ends_only_the_straggler() -> None:
    tasks = WebResearchEnv().tasks[:2]
    env = WebResearchEnv()
    slow = asyncio.run(run_episode(env, SlowPolicy(5.0), tasks[0], timeout_s=0.1))
    assert slow.status == "timeout" and "0.1 s deadline" in slow.error
    fast = asyncio.run(run_episode(env, SlowPolicy(0.0), tasks[1], timeout_s=5))
    assert fast.status == "answered"  # the env is reusable after a timeout


def test_policy_failures_end_the_episode_not_the_run() -> None:
    tasks = WebResearchEnv().tasks[:5]
    config = RolloutConfig(keep_results=True, progress=False)
    report = asyncio.run(rollout(WebResearchEnv, BrokenPolicy(), tasks, config))
    assert {r.status for r in report.results} == {EpisodeStatus.POLICY_ERROR}
    assert report.results[0].error == "PolicyError: the server is down"
    assert "raise PolicyError" in (report.results[0].traceback or "")
    assert {(r.reward, r.f1, r.em) for r in report.results} == {(None, None, None)}
    summary = summarize(report.results, report.seconds)
    assert summary.broken == 5 and summary.mean_reward is None


def test_results_summary_and_json() -> None:
    tasks = WebResearchEnv().tasks[:10]
    config = RolloutConfig(keep_results=True, group_size=2, progress=False)
    report = asyncio.run(rollout(WebResearchEnv, OraclePolicy(tasks), tasks, config))
    summary = summarize(report.results, report.seconds)
    assert summary.episodes == 20 and summary.mean_f1 == 1.0 and summary.scored == 20
    assert summary.mean_tool_calls > 1 and summary.status == {"answered": 20}
    assert json.loads(json.dumps(summary.to_json()))["mean_f1"] == 1.0
    table = format_summary(report.results, report.seconds)
    assert table.splitlines()[2].startswith("sim") and "status: answered 20" in table
    record = json.loads(json.dumps(report.results[0].to_json()))
    assert record["v"] == 2 and record["prompt"][0]["role"] == "system"
    assert report.results[0].messages()[2]["role"] == "assistant"


@given(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
def test_a_rate_prints_with_three_significant_digits_never_as_zero(value: float) -> None:
    text = format_rate(value)
    assert float(text) > 0 and abs(float(text) - value) <= 0.005 * value + 0.5


class CountingPolicy(SlowPolicy):
    """A :class:`SlowPolicy` that counts the episodes it has answered."""

    played = 0

    async def generate(self, conversations: Sequence[Sequence[ChatMessage]],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        out = await super().generate(conversations, sampling)
        self.played += 1
        return out


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_failed_commit_stops_the_workers_and_every_played_episode_was_tried(
        tmp_path: Path, concurrency: int) -> None:
    """A full disk: the rollout raises it; no worker plays on after hearing it, and every
    episode played reached the store's append (none dropped unseen)."""
    store, appended = ReplayStore(tmp_path), []

    def full(batch: list[EpisodeRecord]) -> None:
        appended.extend(batch)
        raise OSError(28, "No space left on device")

    store.append = full  # type: ignore[method-assign]
    policy = CountingPolicy(0.05)
    with pytest.raises(OSError, match="No space"):
        asyncio.run(rollout(WebResearchEnv, policy, WebResearchEnv().tasks[:20],
                            RolloutConfig(concurrency=concurrency, progress=False), store=store))
    assert policy.played == len(appended) <= 2 * concurrency


def test_a_cancelled_rollout_commits_and_counts_every_played_episode(tmp_path: Path) -> None:
    """Cancelled while both workers wait for a commit, each holding an episode it played
    since: each episode played is in the store and was handed to ``on_episode``, once."""
    seen: list[EpisodeRecord] = []
    policy = CountingPolicy(0.01)
    committing, release = threading.Event(), threading.Event()

    async def main() -> ReplayStore:
        store = ReplayStore(tmp_path)
        real = store.append

        def held(batch: list[EpisodeRecord]) -> None:
            committing.set()
            release.wait(60)
            real(batch)

        store.append = held  # type: ignore[method-assign]
        job = asyncio.ensure_future(rollout(
            WebResearchEnv, policy, WebResearchEnv().tasks[:50],
            RolloutConfig(concurrency=2, progress=False), store=store, on_episode=seen.append))
        try:
            assert await asyncio.to_thread(committing.wait, 60)
            deadline = time.monotonic() + 60
            while policy.played < 4 and time.monotonic() < deadline:  # 2 each, then wait
                await asyncio.sleep(0.01)
            job.cancel()
        finally:
            release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        return store

    store = asyncio.run(main())
    ids = [e.episode_id for e in store.episodes()]
    assert policy.played == len(ids) == len(set(ids)) == len(seen) == 4
    assert sorted(ids) == sorted(e.episode_id for e in seen)


def test_no_worker_runs_on_after_the_rollout_raised() -> None:
    """``on_episode`` raises on its 3rd call: the rollout raises it, and by then every
    other worker has stopped (no task left, no later call)."""
    calls: list[EpisodeRecord] = []

    def on_episode(episode: EpisodeRecord) -> None:
        calls.append(episode)
        if len(calls) == 3:
            raise RuntimeError("boom")

    async def main() -> tuple[int, int]:
        with pytest.raises(RuntimeError, match="boom"):
            await rollout(WebResearchEnv, SlowPolicy(0.01), WebResearchEnv().tasks[:40],
                          RolloutConfig(concurrency=8, progress=False), on_episode=on_episode)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return len(left), len(calls)

    left, seen = asyncio.run(main())
    assert left == 0 and seen == len(calls) < 40
