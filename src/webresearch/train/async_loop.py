"""Asynchronous GRPO: producers stream groups into the store; the learner never waits on one.

The synchronous loop (:func:`~webresearch.train.train`) rolls out a batch, waits for
its slowest episode, steps, and pushes the weights; generation idles while the learner
steps, and the learner idles behind each batch's straggler. Here producers
(:class:`~webresearch.train.producers.GroupProducers`) keep groups rolling out with the
weights the policy serves now, and the learner takes the oldest ``groups_per_step``
*ready* groups from the store (:class:`~webresearch.replay.GroupCursor`), whichever
they are, steps, and pushes the new weights while the producers carry on.

Staleness: a group sampled with version ``v`` is trained on by a learner at version
``V`` only if ``V - v <= max_staleness``; staler ones are skipped (counted, and never
trained on), and the producers' back-pressure gate keeps that rare. The learner's own
``GRPOConfig.stale_weight`` down-weights the fresher ones by age if asked, and the
importance ratio is taken against the log-probs recorded at sampling time.
``max_staleness=0`` is the synchronous schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.base import Policy
from webresearch.replay.cursor import CursorState, GroupCursor, ReadyGroup
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import LocalRunner, RolloutConfig, Runner, with_config
from webresearch.tasks import Task
from webresearch.train.checkpoints import SkippedGroup, latest_checkpoint, save_checkpoint
from webresearch.train.learner import StepMetrics
from webresearch.train.loop import StepSchedule, TrainLog, _log
from webresearch.train.producers import GroupProducers

__all__ = ["AsyncConfig", "AsyncStepLog", "Learner", "train_async"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncConfig(StepSchedule):
    """How long to train, what a step consumes, and how stale and how far ahead it may get.

    ``steps`` counts the whole run's steps: a resumed run takes those left.
    """

    max_staleness: int = 4
    """Train on a group only while the learner is at most this many versions past the
    weights that sampled it; staler groups are skipped. 0 is the synchronous schedule."""
    max_pending_groups: int | None = None
    """Back-pressure: groups rolling out, waiting in the store or in the learner's step,
    at most; ``None``: ``(max_staleness + 1) * groups_per_step``, the most that keeps every
    group within the staleness bound when they finish in order."""
    group_deadline_s: float | None = None
    """A group with members missing (lost in a crash) is used as it is this long after
    its first member arrived; ``None``: the episode deadline plus 30 s."""
    wait_timeout_s: float | None = None
    """Longest wait of the learner for enough ready groups; ``None``: twice the episode
    deadline plus 60 s. Past it the run fails (the producers are stuck)."""
    poll_s: float = 0.5
    """How often the learner reads the store when no group was committed here."""
    checkpoint_dir: Path | None = None
    """Save the learner and its cursor here after every step, and resume from the newest."""
    keep_checkpoints: int | None = 2
    """Checkpoints kept (``None``: every one)."""

    def __post_init__(self) -> None:
        StepSchedule.__post_init__(self)  # zero-argument super() fails in a slots dataclass
        if self.max_staleness < 0:
            raise ConfigError(f"Expects max_staleness >= 0, actual: {self.max_staleness}")
        if self.max_pending_groups is not None and self.max_pending_groups < self.groups_per_step:
            raise ConfigError(f"Expects max_pending_groups >= groups_per_step "
                              f"({self.groups_per_step}), actual: {self.max_pending_groups}")

    @property
    def pending_limit(self) -> int:
        """Groups outstanding at most (the producers' gate)."""
        bound = (self.max_staleness + 1) * self.groups_per_step
        return min(bound, self.max_pending_groups or bound)

    def rollout(self) -> RolloutConfig:
        """The rollout of one group."""
        return RolloutConfig(group_size=self.group_size, concurrency=self.group_size,
                             episode_timeout_s=self.episode_timeout_s, sampling=self.sampling,
                             progress=False, keep_results=True)


@dataclass(frozen=True, slots=True)
class AsyncStepLog:
    """One asynchronous learner step."""

    log: TrainLog
    """The step's metrics and rollout means, as the synchronous loop logs them."""
    groups: tuple[str, ...]
    """The groups trained on."""
    staleness: tuple[int, ...]
    """Each group's age: the learner's version minus the version that sampled it."""
    skipped: tuple[SkippedGroup, ...]
    """Groups skipped as too stale while this step waited."""
    partial: int
    """Groups used with members missing (past their deadline)."""
    waited_s: float
    """Seconds the learner waited for ready groups."""
    step_s: float
    """Seconds of the learner's step and the weights' push."""


class Learner(Protocol):
    """What the loop needs of a learner (:class:`~webresearch.train.GRPOLearner` is one)."""

    policy_version: int
    model: Any

    def step(self, groups: list[list[EpisodeRecord]]) -> StepMetrics: ...

    def save(self, path: str | Path) -> None: ...

    def load(self, path: str | Path) -> None: ...


async def train_async(
    *,
    learner: Learner,
    make_env: Callable[[], WebResearchEnv],
    tasks: Sequence[Task],
    store: ReplayStore,
    config: AsyncConfig,
    policy: Policy | None = None,
    runner: Runner | None = None,
    run: RunRecord | None = None,
    sync_weights: Callable[[Learner], Awaitable[None]] | None = None,
    on_step: Callable[[AsyncStepLog], None] | None = None,
) -> list[AsyncStepLog]:
    """Train ``learner`` with GRPO while producers keep rolling out groups of ``tasks``.

    Producers roll out through ``runner`` (a :class:`~webresearch.rollout.LocalRunner`
    of ``make_env`` and ``policy`` by default, or a
    :class:`~webresearch.distributed.RayRunner`; either built without a store) and
    record every group in ``store``; the learner takes ready groups from the store,
    oldest first, as described in the module docstring. After each step
    ``sync_weights(learner)`` pushes the new weights to the policy between its
    generations (by default ``runner.load_weights(learner.model.state_dict())``), and
    groups started from then on carry the new version. The policy must hold its own
    copy of the weights: the learner's step would otherwise change them mid-generation.

    With ``config.checkpoint_dir`` the learner and its cursor are saved after every
    step, and a run restarted with the same directory resumes from the newest
    checkpoint: same run, the store's unconsumed groups first, no group trained twice.
    Returns the logs of the steps taken by this call.
    """
    if policy is not None and getattr(policy, "model", None) is learner.model:
        raise ConfigError("Expects a policy with its own copy of the weights, actual: the "
                          "learner's model (its steps would change them mid-generation)")
    if runner is None:
        if policy is None:
            raise ConfigError("Expects a policy or a runner, actual: neither")
        runner = LocalRunner(make_env, policy)
    training = _Training(learner, store, config, sync_weights or _load_into(runner))
    await training.open(make_env, run, policy.name if policy is not None else "runner")
    producers = training.producers(runner, tasks)
    producers.start()
    try:
        return await training.learn(producers, on_step)
    finally:
        await producers.aclose()


def _load_into(runner: Runner) -> Callable[[Learner], Awaitable[None]]:
    async def push(learner: Learner) -> None:
        await runner.load_weights(learner.model.state_dict())

    return push


class _Training:
    """The learner's side: the run, the cursor, the steps, the checkpoints."""

    def __init__(self, learner: Learner, store: ReplayStore, config: AsyncConfig,
                 sync: Callable[[Learner], Awaitable[None]]) -> None:
        self.learner, self.store, self.config, self.sync = learner, store, config, sync
        self.step = 0
        self.resumed = False
        self.cursor: GroupCursor
        self.run: RunRecord

    async def open(self, make_env: Callable[[], WebResearchEnv], run: RunRecord | None,
                   policy: str) -> None:
        """Resume from the newest checkpoint, or record a new run."""
        c = self.config
        checkpoint = latest_checkpoint(c.checkpoint_dir) if c.checkpoint_dir else None
        state: CursorState | None = None
        if checkpoint is not None:
            await asyncio.to_thread(self.learner.load, checkpoint.learner_path)
            self.run, state = self.store.run(checkpoint.cursor.run_id), checkpoint.cursor
            self.step, self.resumed = checkpoint.step, True
            logger.info("resumed at step %d from %s", self.step, checkpoint.path)
        else:
            probe = make_env()
            try:
                self.run = with_config(run or RunRecord(policy=policy,
                                                        notes="asynchronous GRPO"),
                                       probe, c.rollout())
            finally:
                await probe.aclose()
            self.store.create_run(self.run)
        deadline = c.group_deadline_s or c.episode_timeout_s + 30.0
        self.cursor = GroupCursor(self.store, self.run.run_id, group_size=c.group_size,
                                  deadline_s=deadline, state=state)
        await asyncio.to_thread(self.cursor.refresh)
        if self.resumed:  # the policy may have been rebuilt from the initial weights
            await self.sync(self.learner)

    def producers(self, runner: Runner, tasks: Sequence[Task]) -> GroupProducers:
        return GroupProducers(runner, tasks, self.store, self.run, rollout=self.config.rollout(),
                              limit=self.config.pending_limit,
                              outstanding=len(self.cursor.pending()),
                              version=self.learner.policy_version)

    async def learn(self, producers: GroupProducers,
                    on_step: Callable[[AsyncStepLog], None] | None) -> list[AsyncStepLog]:
        logs = []
        while self.step < self.config.steps:
            log = await self._one_step(producers)
            logs.append(log)
            m = log.log.metrics
            logger.info("step %d: reward %.3f, loss %.4f, staleness %s, %d skipped, waited "
                        "%.2f s", self.step, m.reward, m.loss, log.staleness, len(log.skipped),
                        log.waited_s)
            if on_step is not None:
                on_step(log)
        return logs

    async def _one_step(self, producers: GroupProducers) -> AsyncStepLog:
        started = time.perf_counter()
        groups, skipped = await self._take(producers)
        waited = time.perf_counter() - started
        version = self.learner.policy_version
        episodes = await asyncio.to_thread(lambda: [self.cursor.load(g) for g in groups])
        metrics = await asyncio.to_thread(self.learner.step, episodes)
        await self.sync(self.learner)
        self.cursor.resolve(g.key for g in groups)
        await producers.advance(self.learner.policy_version, [g.key for g in groups])
        self.step += 1
        trained = tuple(g.key.id for g in groups)
        if self.config.checkpoint_dir is not None:
            await asyncio.to_thread(
                save_checkpoint, self.config.checkpoint_dir, step=self.step,
                save_learner=self.learner.save, cursor=self.cursor.state(), trained=trained,
                skipped=skipped, keep=self.config.keep_checkpoints)
        return AsyncStepLog(_log(metrics, [e for g in episodes for e in g]), trained,
                            tuple(version - g.version for g in groups), skipped,
                            sum(not g.complete for g in groups), waited,
                            time.perf_counter() - started - waited)

    async def _take(self, producers: GroupProducers
                    ) -> tuple[list[ReadyGroup], tuple[SkippedGroup, ...]]:
        """Wait for ``groups_per_step`` ready groups, skipping those grown too stale."""
        c = self.config
        timeout = c.wait_timeout_s or 2 * c.episode_timeout_s + 60.0
        deadline = time.monotonic() + timeout
        skipped: list[SkippedGroup] = []
        while True:
            producers.arrived.clear()
            await asyncio.to_thread(self.cursor.refresh)
            skipped += await self._skip_stale(producers)
            ready = self.cursor.ready()
            if len(ready) >= c.groups_per_step:
                return ready[:c.groups_per_step], tuple(skipped)
            producers.check()
            left = deadline - time.monotonic()
            if left <= 0:
                raise WebResearchError(
                    f"Expects {c.groups_per_step} ready groups within {timeout:g} s, actual: "
                    f"{len(ready)} ready, {len(self.cursor.pending())} pending "
                    f"({producers.started} started, {producers.committed} recorded here)")
            with contextlib.suppress(TimeoutError):  # a poll of the store, for other writers
                await asyncio.wait_for(producers.arrived.wait(), min(c.poll_s, left))

    async def _skip_stale(self, producers: GroupProducers) -> list[SkippedGroup]:
        version = self.learner.policy_version
        stale = self.cursor.older_than(version - self.config.max_staleness)
        if not stale:
            return []
        self.cursor.resolve(g.key for g in stale)
        await producers.advance(producers.version, [g.key for g in stale])
        logger.info("skipped %d groups older than %d versions", len(stale),
                    self.config.max_staleness)
        return [SkippedGroup(g.key.id, g.version, version) for g in stale]
