"""Many episodes at once in one process: a pool of workers on one event loop."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.base import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.rollout.episode import run_episode
from webresearch.rollout.progress import Progress
from webresearch.tasks import Task

__all__ = ["RolloutConfig", "RolloutReport", "rollout", "schedule"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutConfig:
    """How many episodes to run and how."""

    episodes: int | None = None
    """Episodes in all; ``None`` runs every task once per group member."""
    group_size: int = 1
    """Rollouts per task (a GRPO group); they run back to back in the schedule."""
    concurrency: int = 64
    """Episodes in flight at once (one env each)."""
    episode_timeout_s: float = 300.0
    """Deadline of one episode; past it the episode ends with status ``timeout``."""
    sampling: SamplingParams | None = None
    """Sampling settings passed to the policy."""
    progress: bool = True
    """Show a progress bar on stderr."""

    def __post_init__(self) -> None:
        if self.group_size < 1 or self.concurrency < 1:
            raise ConfigError(f"Expects group_size >= 1 and concurrency >= 1, actual: "
                              f"{self.group_size}, {self.concurrency}")
        if self.episodes is not None and self.episodes < 1:
            raise ConfigError(f"Expects episodes >= 1, actual: {self.episodes}")


@dataclass(frozen=True, slots=True)
class RolloutReport:
    """The episodes of a rollout, in schedule order, how long it took, and the run they
    were recorded under ("" when no store was given)."""

    results: list[EpisodeRecord]
    seconds: float
    run_id: str = ""


def schedule(tasks: Sequence[Task], config: RolloutConfig) -> list[tuple[Task, int]]:
    """The ``(task, group index)`` of every episode: each task ``group_size`` times in a row.

    Example:
        >>> tasks = [Task(id=i, question=i, answers=("a",)) for i in "xy"]
        >>> [(t.id, g) for t, g in schedule(tasks, RolloutConfig(episodes=5, group_size=2))]
        [('x', 0), ('x', 1), ('y', 0), ('y', 1), ('x', 0)]
    """
    if not tasks:
        raise ConfigError("Expects at least one task to roll out, actual: none")
    episodes = config.episodes or len(tasks) * config.group_size
    slots = math.ceil(episodes / config.group_size)
    jobs = [(tasks[i % len(tasks)], g) for i in range(slots) for g in range(config.group_size)]
    return jobs[:episodes]


async def rollout(
    make_env: Callable[[], WebResearchEnv],
    policy: Policy,
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    *,
    store: ReplayStore | None = None,
    run: RunRecord | None = None,
    policy_version: int = 0,
) -> RolloutReport:
    """Run the scheduled episodes, ``config.concurrency`` at a time, and collect them.

    Each worker owns one env from ``make_env`` and runs episodes back to back; no
    episode waits for another. With a ``store``, episodes are recorded under ``run``
    (created if new; a new run by default), each committed as soon as it ends, so an
    interrupted rollout keeps what finished; ``policy_version`` marks which weights
    produced them. Envs are closed at the end, even on cancellation.
    """
    config = config or RolloutConfig()
    run_id = ""
    writer = None
    if store is not None:
        run = run or RunRecord(policy=policy.name)
        if run.run_id not in {r.run_id for r in store.runs()}:
            store.create_run(run)
        run_id, writer = run.run_id, EpisodeWriter(store)
    jobs = schedule(tasks, config)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)
    results: list[EpisodeRecord | None] = [None] * len(jobs)
    progress = Progress(len(jobs), enabled=config.progress)
    envs = [make_env() for _ in range(min(config.concurrency, len(jobs)))]
    start = time.perf_counter()

    async def worker(env: WebResearchEnv) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            task, group = jobs[i]
            result = await run_episode(env, policy, task, group=group, run_id=run_id,
                                       sampling=config.sampling,
                                       timeout_s=config.episode_timeout_s,
                                       policy_version=policy_version)
            if writer is not None:
                await writer.write(result)
            results[i] = result
            progress.add(result)

    try:
        await asyncio.gather(*(worker(env) for env in envs))
    finally:
        progress.close()
        for env in envs:
            await env.aclose()
        if writer is not None:
            await writer.aclose()
    done = [r for r in results if r is not None]
    return RolloutReport(done, time.perf_counter() - start, run_id)
