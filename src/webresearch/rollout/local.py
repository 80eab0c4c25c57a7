"""Many episodes at once in one process: a pool of workers on one event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, StateError
from webresearch.policies.policy import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.rollout.adaptive import AdaptiveConfig, AdaptiveTrace, Steering
from webresearch.rollout.costs import Meter, check_budget
from webresearch.rollout.episode import run_episode
from webresearch.rollout.memory import MemoryTrimmer
from webresearch.rollout.progress import Progress
from webresearch.rollout.summary import RolloutStats, RolloutSummary
from webresearch.tasks import Task
from webresearch.web.costs import Prices

__all__ = ["Collector", "RolloutConfig", "RolloutReport", "episode_count", "rollout", "schedule",
           "scheduled", "with_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutConfig:
    """How many episodes to run and how."""

    episodes: int | None = None
    """Episodes in all; ``None`` runs every task once per group member."""
    group_size: int = 1
    """Rollouts per task (a GRPO group); they run back to back in the schedule."""
    concurrency: int = 64
    """Episodes in flight at once (one env each); with ``adaptive``, the most."""
    adaptive: bool = False
    """Let the number of episodes in flight follow 429s, Retry-After and the policy's
    latency, between ``min_concurrency`` and ``concurrency`` (see
    :mod:`webresearch.rollout.adaptive`). Off by default: a fixed number is reproducible
    and right for the simulated web and a local model, which throttle nothing."""
    min_concurrency: int = 1
    """The fewest episodes in flight the adaptive controller may set."""
    adaptive_config: AdaptiveConfig | None = None
    """The controller's settings (its defaults when ``None``)."""
    episode_timeout_s: float = 300.0
    """Deadline of one episode; past it the episode ends with status ``timeout``."""
    sampling: SamplingParams | None = None
    """Sampling settings passed to the policy."""
    progress: bool = True
    """Show a progress bar on stderr."""
    keep_results: bool = False
    """Keep every finished episode in the report, in schedule order. Off by default: each
    episode goes to the store (and ``on_episode``) as it ends and only running totals
    stay, so memory does not grow with the number of episodes. A GRPO step keeps its
    batch; a run of a million keeps nothing."""
    budget_usd: float | None = None
    """US dollars the run may spend on web calls (``prices``); once the finished episodes
    have cost that much, no episode starts: those in flight finish and are recorded."""
    prices: Prices | None = None
    """Dollars per search, fetch and reading (:class:`~webresearch.web.costs.Prices`'s
    defaults when ``None``); every episode's record carries its cost."""

    def __post_init__(self) -> None:
        if self.group_size < 1 or self.concurrency < 1:
            raise ConfigError(f"Expects group_size >= 1 and concurrency >= 1, actual: "
                              f"{self.group_size}, {self.concurrency}")
        if self.episodes is not None and self.episodes < 1:
            raise ConfigError(f"Expects episodes >= 1, actual: {self.episodes}")
        check_budget(self.budget_usd)
        if not 1 <= self.min_concurrency <= self.concurrency:
            raise ConfigError(f"Expects 1 <= min_concurrency <= concurrency, actual: "
                              f"{self.min_concurrency}, {self.concurrency}")


    def to_json(self) -> dict[str, Any]:
        """The settings as JSON, for a run's record."""
        data = {name: getattr(self, name) for name in ("episodes", "group_size", "concurrency",
                                                       "episode_timeout_s")}
        data["sampling"] = asdict(self.sampling) if self.sampling is not None else None
        data.update(budget_usd=self.budget_usd, prices=(self.prices or Prices()).to_json())
        if self.adaptive:
            data.update(adaptive=True, min_concurrency=self.min_concurrency)
        return data


@dataclass(frozen=True, slots=True)
class RolloutReport:
    """How a rollout went: its summary, how long it took, the run its episodes were
    recorded under ("" when no store was given), and, when kept, the episodes."""

    kept: list[EpisodeRecord] | None
    seconds: float
    run_id: str = ""
    stats: RolloutStats | None = None
    """Running totals of every finished episode (a runner that keeps none may leave it
    out: they are then made from the kept episodes)."""
    adaptive: AdaptiveTrace | None = None
    """How the episodes in flight went, for an adaptive rollout."""

    @property
    def summary(self) -> RolloutSummary:
        """The headline figures: means over the scored episodes, statuses, failed calls."""
        return self._stats().summary(self.seconds)

    def table(self) -> str:
        """The summary as a text table, one row per dataset."""
        return self._stats().table(self.seconds)

    def _stats(self) -> RolloutStats:
        if self.stats is not None:
            return self.stats
        stats = RolloutStats()
        for episode in self.results:
            stats.add(episode)
        return stats

    @property
    def results(self) -> list[EpisodeRecord]:
        """The episodes, in schedule order (with ``RolloutConfig(keep_results=True)``)."""
        if self.kept is None:
            raise StateError("Expects RolloutConfig(keep_results=True) to keep the episodes, "
                             "actual: not kept (read them from the store, or pass on_episode)")
        return self.kept


def schedule(tasks: Sequence[Task], config: RolloutConfig) -> list[tuple[Task, int]]:
    """The ``(task, group index)`` of every episode: each task ``group_size`` times in a row.

    Example:
        >>> tasks = [Task(id=i, question=i, answers=("a",)) for i in "xy"]
        >>> [(t.id, g) for t, g in schedule(tasks, RolloutConfig(episodes=5, group_size=2))]
        [('x', 0), ('x', 1), ('y', 0), ('y', 1), ('x', 0)]
    """
    return [scheduled(tasks, config, i) for i in range(episode_count(tasks, config))]


def scheduled(tasks: Sequence[Task], config: RolloutConfig, i: int) -> tuple[Task, int]:
    """The ``(task, group index)`` of episode ``i`` of :func:`schedule`, made on demand.

    Example:
        >>> tasks = [Task(id=i, question=i, answers=("a",)) for i in "xy"]
        >>> task, group = scheduled(tasks, RolloutConfig(group_size=2), 3)
        >>> task.id, group
        ('y', 1)
    """
    return tasks[i // config.group_size % len(tasks)], i % config.group_size


def episode_count(tasks: Sequence[Task], config: RolloutConfig) -> int:
    """How many episodes ``config`` schedules: ``episodes``, or each task's group once."""
    if not tasks:
        raise ConfigError("Expects at least one task to roll out, actual: none")
    return config.episodes or len(tasks) * config.group_size


async def rollout(
    make_env: Callable[[], WebResearchEnv],
    policy: Policy,
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    *,
    store: ReplayStore | None = None,
    run: RunRecord | None = None,
    policy_version: int = 0,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> RolloutReport:
    """Run the scheduled episodes, ``config.concurrency`` at a time (with
    ``config.adaptive``, as many as the controller admits within the bounds).

    Each worker owns one env from ``make_env`` and runs episodes back to back; no
    episode waits for another. With a ``store``, episodes are recorded under ``run``
    (created if new; a new run by default), each committed as soon as it ends, so an
    interrupted rollout keeps what finished; ``policy_version`` marks which weights
    produced them. Each finished episode is handed to ``on_episode`` and counted in the
    report's summary; the report keeps the episodes only with ``config.keep_results``.
    Envs are closed at the end, even on cancellation.
    """
    config = config or RolloutConfig()
    total = episode_count(tasks, config)
    steering = (Steering(policy, low=config.min_concurrency, high=config.concurrency,
                         config=config.adaptive_config) if config.adaptive else None)
    envs = [make_env() for _ in range(min(config.concurrency if steering is None else 1, total))]
    run_id = ""
    writer = None
    if store is not None:
        run = with_config(run or RunRecord(policy=policy.name), envs[0], config)
        if run.run_id not in {r.run_id for r in store.runs()}:
            store.create_run(run)
        run_id, writer = run.run_id, EpisodeWriter(store)
    collector = Collector(total, config, on_episode=on_episode)
    meter = Meter.for_env(envs[0], config.prices, config.budget_usd)
    jobs = meter.gate(range(total))  # shared by the workers: each takes the next index

    async def play(env: WebResearchEnv, i: int) -> EpisodeRecord:
        task, group = scheduled(tasks, config, i)
        result = await run_episode(env, policy if steering is None else steering.policy, task,
                                   group=group, run_id=run_id, sampling=config.sampling,
                                   timeout_s=config.episode_timeout_s,
                                   policy_version=policy_version)
        return meter.charge(result)  # its cost, toward the budget

    async def finish(i: int, result: EpisodeRecord) -> None:
        if writer is not None:
            await writer.write(result)
        collector.add(i, result)

    async def one(env: WebResearchEnv, i: int) -> None:
        await finish(i, await play(env, i))

    async def worker(env: WebResearchEnv) -> None:
        """Episodes back to back; each one's commit overlaps the next one's play, so
        workers do not wait in lock step on the store (RSS stays flatter over a long run).
        A failed commit stops the worker before its next episode; every episode played is
        committed (or its failure raised) and counted, even when the rollout is cancelled."""
        pending: list[asyncio.Future[None]] = []  # at most 2: the last commits in flight
        try:
            for i in jobs:
                if pending and pending[-1].done():
                    pending[-1].result()  # raises a failed commit's error: play no more
                pending.append(asyncio.ensure_future(finish(i, await play(env, i))))
                if len(pending) > 1:
                    await asyncio.shield(pending[0])  # cancelled here: awaited below
                    del pending[0]
        finally:
            await asyncio.shield(asyncio.gather(*pending))

    try:
        if steering is None:
            await _all_or_none([worker(env) for env in envs])
        else:  # as many at once as the controller admits, envs made as needed
            await steering.run(one, jobs, envs, make_env, total)
    finally:
        collector.close()
        for env in envs:
            await env.aclose()
        if writer is not None:
            await writer.aclose()
    report = collector.report(run_id)
    return report if steering is None else dataclasses.replace(report, adaptive=steering.trace())


async def _all_or_none(coroutines: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` at once; on the first failure, cancel the others and wait for
    them (a worker's ``finally`` commits what it played) before raising it, so that none
    runs on after its rollout has raised.

    Example:
        >>> async def fail() -> None:
        ...     raise ValueError("boom")
        >>> async def hang() -> None:
        ...     await asyncio.sleep(3600)
        >>> asyncio.run(_all_or_none([fail(), hang()]))
        Traceback (most recent call last):
        ...
        ValueError: boom
    """
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Collector:
    """Where a rollout's finished episodes go, for every runner: the progress bar, the
    running totals, ``on_episode`` and, with ``config.keep_results`` only, a list, so
    that memory stays flat over a million episodes.

    Example:
        >>> collector = Collector(1, RolloutConfig(progress=False, keep_results=True))
        >>> collector.add(0, EpisodeRecord("r", Task(id="t", question="Q?", answers=("a",)),
        ...                                0, "answered", 1.0, 1.0, 1.0))
        >>> collector.close()
        >>> report = collector.report("r")
        >>> len(report.results), report.summary.mean_f1
        (1, 1.0)
    """

    def __init__(self, total: int, config: RolloutConfig, *,
                 on_episode: Callable[[EpisodeRecord], None] | None = None,
                 desc: str | None = None) -> None:
        self.kept: dict[int, EpisodeRecord] | None = {} if config.keep_results else None
        self.stats = RolloutStats()
        self.progress = Progress(total, enabled=config.progress, desc=desc)
        self.on_episode = on_episode
        self.trimmer = MemoryTrimmer()  # freed C-heap pages back to the system, every 10 s
        self.start = time.perf_counter()

    def add(self, i: int, episode: EpisodeRecord) -> None:
        """Count the ``i``-th scheduled episode, which has finished."""
        if self.kept is not None:
            self.kept[i] = episode
        self.stats.add(episode)
        self.progress.add(episode)
        if self.on_episode is not None:
            self.on_episode(episode)
        self.trimmer.tick()

    def close(self) -> None:
        """Close the progress bar."""
        self.progress.close()

    def report(self, run_id: str) -> RolloutReport:
        """The rollout's report, timed from this collector's creation."""
        kept = self.kept
        results = [kept[i] for i in sorted(kept)] if kept is not None else None
        return RolloutReport(results, time.perf_counter() - self.start, run_id, self.stats)


def with_config(run: RunRecord, env: WebResearchEnv, config: RolloutConfig) -> RunRecord:
    """``run`` with the env's options and the rollout's settings in its config (kept when
    it has them already), so that the run's record can re-create its env."""
    if "env" in run.config:
        return run
    return dataclasses.replace(run, config={**run.config, "env": env.config_json(),
                                            "rollout": config.to_json()})
