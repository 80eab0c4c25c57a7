"""GRPO training, one route for every episode: runner, store, cursor, learner.

Producers (:class:`~webresearch.train.producers.GroupProducers`) roll out groups through
a :class:`~webresearch.rollout.Runner` (local or Ray) with the weights the policy serves
now and record them in the store; the learner (:class:`GroupConsumer`) takes the oldest
``groups_per_step`` *ready* groups from the store (:class:`~webresearch.replay.GroupCursor`),
steps, and pushes the new weights. A run resumes from its newest checkpoint.

Staleness: a group sampled with version ``v`` is trained on by a learner at version
``V`` only if ``V - v <= max_staleness``; staler ones are skipped (counted, and never
trained on), and the producers' back-pressure gate keeps that rare. The learner's own
``GRPOConfig.stale_weight`` down-weights the fresher ones by age if asked, and the
importance ratio is taken against the log-probs recorded at sampling time.

``max_staleness=0`` (:func:`train`) is the synchronous schedule: each step's groups
are rolled out together with the current weights, and the learner steps while none is
rolling out, so the policy may hold the learner's model itself. Above 0
(:func:`train_async`) producers keep groups rolling out while the learner steps, and
the learner never waits on a straggler of another group.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.policy import Policy
from webresearch.replay.cursor import GroupCursor, ReadyGroup
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import LocalRunner, Runner, with_config
from webresearch.tasks import Task
from webresearch.train.checkpoints import SkippedGroup, latest_checkpoint, save_checkpoint
from webresearch.train.config import AsyncConfig, AsyncStepLog, TrainConfig, TrainLog
from webresearch.train.learner import StepMetrics
from webresearch.train.producers import GroupProducers

__all__ = ["AsyncConfig", "AsyncStepLog", "Learner", "TrainConfig", "TrainLog", "train",
           "train_async"]

logger = logging.getLogger(__name__)


class Learner(Protocol):
    """What the loop needs of a learner (:class:`~webresearch.train.GRPOLearner` is one)."""

    policy_version: int
    model: Any

    def step(self, groups: list[list[EpisodeRecord]]) -> StepMetrics: ...

    def save(self, path: str | Path) -> None: ...

    def load(self, path: str | Path) -> None: ...


WeightSync = Callable[[Learner], Awaitable[None] | None]
"""Pushes the learner's weights to the policy (plain or async)."""


async def train(*, policy: Policy, learner: Learner, make_env: Callable[[], WebResearchEnv],
                tasks: Sequence[Task], store: ReplayStore, config: TrainConfig,
                run: RunRecord | None = None, runner: Runner | None = None,
                sync_weights: WeightSync | None = None,
                on_step: Callable[[TrainLog], None] | None = None) -> list[TrainLog]:
    """Train ``learner.model`` with GRPO on ``tasks``, step by step; every episode is recorded.

    Each step rolls out ``config.groups_per_step`` tasks ``config.group_size`` times with
    the current weights (the episodes carry ``learner.policy_version``), records them in
    ``store``, and takes one learner step on those groups as the store holds them;
    episodes broken from outside are left out (see ``GRPOConfig.broken_reward``). When
    the policy holds the learner's model (``HFPolicy`` built on ``learner.model``) it
    samples from the new weights at once; otherwise ``sync_weights(learner)`` (plain or
    async) must push them (a vLLM weight reload, ``runner.load_weights``). ``runner``,
    checkpoints and the steps returned are as in :func:`train_async`, which this is with
    ``max_staleness=0`` (an :class:`AsyncConfig`'s bound is honoured).
    """
    logs = await train_async(
        learner=learner, make_env=make_env, tasks=tasks, store=store, config=config,
        policy=policy, runner=runner, run=run,
        sync_weights=sync_weights or (lambda _: None),  # by default the policy holds the model
        on_step=(lambda log: on_step(log.log)) if on_step else None)
    return [log.log for log in logs]


async def train_async(*, learner: Learner, make_env: Callable[[], WebResearchEnv],
                      tasks: Sequence[Task], store: ReplayStore, config: TrainConfig,
                      policy: Policy | None = None, runner: Runner | None = None,
                      run: RunRecord | None = None, sync_weights: WeightSync | None = None,
                      on_step: Callable[[AsyncStepLog], None] | None = None
                      ) -> list[AsyncStepLog]:
    """Train ``learner`` with GRPO while producers keep rolling out groups of ``tasks``.

    Producers roll out through ``runner`` (a :class:`~webresearch.rollout.LocalRunner`
    of ``make_env`` and ``policy`` by default, or a
    :class:`~webresearch.distributed.RayRunner`; either built without a store) and
    record every group in ``store``; the learner takes ready groups from the store,
    oldest first, as described in the module docstring. After each step
    ``sync_weights(learner)`` pushes the new weights to the policy between its
    generations (by default ``runner.load_weights(learner.model.state_dict())``), and
    groups started from then on carry the new version. With ``max_staleness > 0`` the
    policy must hold its own copy of the weights: the learner's step would otherwise
    change them mid-generation.

    With ``config.checkpoint_dir`` the learner and its cursor are saved after every
    step, and a run restarted with the same directory resumes from the newest
    checkpoint: same run, the store's unconsumed groups first, no group trained twice.
    Returns the logs of the steps taken by this call.
    """
    runner = _runner(make_env, tasks, config, learner, policy=policy, runner=runner)
    consumer = GroupConsumer(learner, store, config, sync_weights or (
        lambda trained: runner.load_weights(trained.model.state_dict())))
    probe = make_env()
    try:
        await consumer.open(with_config(run or RunRecord(
            policy=policy.name if policy is not None else "runner", notes="GRPO training"),
            probe, config.rollout()))
    finally:
        await probe.aclose()
    producers = GroupProducers(runner, tasks, store, consumer.run, config,
                               outstanding=len(consumer.cursor.pending()),
                               version=learner.policy_version)
    producers.start()
    try:
        return await consumer.learn(producers, on_step)
    finally:
        await producers.aclose()


def _runner(make_env: Callable[[], WebResearchEnv], tasks: Sequence[Task], config: TrainConfig,
            learner: Learner, *, policy: Policy | None, runner: Runner | None) -> Runner:
    """The runner that rolls out (misuse refused before anything is recorded)."""
    if not tasks:
        raise ConfigError("Expects tasks to roll out, actual: none")
    if (config.max_staleness > 0 and policy is not None
            and getattr(policy, "model", None) is learner.model):
        raise ConfigError("Expects a policy with its own copy of the weights when "
                          "max_staleness > 0, actual: the learner's model (its steps would "
                          "change them mid-generation)")
    if runner is None:
        if policy is None:
            raise ConfigError("Expects a policy or a runner, actual: neither")
        runner = LocalRunner(make_env, policy)
    if runner.store is not None:
        raise ConfigError("Expects a runner that does not record (store=None): the loop "
                          "records each group under its own ids, actual: a runner with a store")
    return runner


class GroupConsumer:
    """The learner's side of one run: it takes ready groups from the store (skipping the
    stale), steps, pushes the weights, releases the groups to the producers' gate, and
    checkpoints the learner with its cursor.

    Args:
        learner: Trained in place.
        store: Where the producers record the run's groups.
        config: The schedule.
        sync: Pushes the learner's new weights to the policy after each step.
    """

    def __init__(self, learner: Learner, store: ReplayStore, config: TrainConfig,
                 sync: WeightSync) -> None:
        self.learner, self.store, self.config, self.sync = learner, store, config, sync
        self.step = 0
        self.cursor: GroupCursor
        self.run: RunRecord

    async def open(self, new_run: RunRecord) -> None:
        """Resume from the newest checkpoint, or record ``new_run``."""
        c = self.config
        checkpoint = latest_checkpoint(c.checkpoint_dir) if c.checkpoint_dir else None
        if checkpoint is not None:
            await asyncio.to_thread(self.learner.load, checkpoint.learner_path)
            self.run, self.step = self.store.run(checkpoint.cursor.run_id), checkpoint.step
            logger.info("resumed at step %d from %s", self.step, checkpoint.path)
        else:
            self.run = self.store.create_run(new_run)
        self.cursor = GroupCursor(self.store, self.run.run_id, group_size=c.group_size,
                                  deadline_s=c.group_deadline_s or c.episode_timeout_s + 30.0,
                                  state=checkpoint.cursor if checkpoint else None)
        await asyncio.to_thread(self.cursor.refresh)
        if checkpoint is not None:  # the dead run's groups grow no more; the policy may
            self.cursor.expire()  # have been rebuilt from the initial weights
            await self._push()

    async def _push(self) -> None:
        pushed = self.sync(self.learner)  # plain or async
        if inspect.isawaitable(pushed):
            await pushed

    async def learn(self, producers: GroupProducers,
                    on_step: Callable[[AsyncStepLog], None] | None) -> list[AsyncStepLog]:
        """Take the steps left; return their logs."""
        logs = []
        while self.step < self.config.steps:
            log = await self._one_step(producers)
            logs.append(log)
            m = log.log.metrics
            logger.info("step %d: reward %.3f, loss %.4f, %d broken, staleness %s, %d skipped, "
                        "waited %.2f s", self.step, m.reward, m.loss, log.log.broken,
                        log.staleness, len(log.skipped), log.waited_s)
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
        await self._push()
        self.cursor.resolve(g.key for g in groups)
        self.step += 1
        if self.step < self.config.steps:  # no group is started that no step would train on
            await producers.advance(self.learner.policy_version, [g.key for g in groups])
        trained = tuple(g.key.id for g in groups)
        if self.config.checkpoint_dir is not None:
            await asyncio.to_thread(
                save_checkpoint, self.config.checkpoint_dir, step=self.step,
                save_learner=self.learner.save, cursor=self.cursor.state(), trained=trained,
                skipped=skipped, keep=self.config.keep_checkpoints)
        return AsyncStepLog(TrainLog.of(metrics, [e for g in episodes for e in g]), trained,
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
