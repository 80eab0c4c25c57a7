"""Producers of GRPO groups: rolled out without pause, under a back-pressure gate.

Each producer rolls out groups through a :class:`~webresearch.rollout.Runner` (local or
Ray) with the weights the policy serves now, ``per_call`` groups a call (the step's
groups together when synchronous, one at a time otherwise), and records their episodes
in the store under ids that name the group (:class:`~webresearch.replay.cursor.GroupKey`)
with the policy version that sampled them. A group is *outstanding* from its start
until the learner has resolved it (trained on it and pushed the new weights, or skipped
it as too stale) and its producer is done with it. Producers start groups only while
fewer than ``limit`` are outstanding: with ``limit = (max_staleness + 1) * groups_per_step``
a group started now is consumed at most ``max_staleness`` learner steps later unless it
is overtaken by younger ones (then the learner skips it), and memory holds at most
``limit`` groups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Iterable, Sequence

from webresearch.replay.cursor import GroupKey
from webresearch.replay.schema import RunRecord, new_id
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.rollout import Runner
from webresearch.tasks import Task
from webresearch.train.config import TrainConfig

__all__ = ["GroupProducers"]

logger = logging.getLogger(__name__)


class GroupProducers:
    """Producer coroutines that keep groups coming while the gate lets them.

    Args:
        runner: Runs the groups; it must not record (``runner.store is None``): the
            producers record each group under its own ids.
        tasks: Cycled through, a group per task.
        store, run: Where the groups are recorded.
        config: The rollout (:meth:`~webresearch.train.TrainConfig.rollout`), the groups
            a call rolls out and the most outstanding (``groups_per_call``,
            ``pending_limit``).
        outstanding: Groups already outstanding at the start (unresolved in the store).
        version: The policy version the runner serves at the start.
    """

    def __init__(self, runner: Runner, tasks: Sequence[Task], store: ReplayStore, run: RunRecord,
                 config: TrainConfig, *, outstanding: int = 0, version: int = 0) -> None:
        self.runner, self.store, self.run_record = runner, store, run
        self.rollout, self.limit = config.rollout(), config.pending_limit
        self.per_call = min(config.groups_per_call, self.limit)
        self.outstanding = outstanding
        """Groups started (or found unresolved) and not yet released."""
        self.version = version
        """The policy version the runner serves now (new groups are sampled with it)."""
        self.started = self.committed = 0
        self.token = new_id()[:8]
        """This process's producer token, in every group id (a restart takes a new one)."""
        self.arrived = asyncio.Event()
        """Set whenever a group was committed (the learner clears it)."""
        self._tasks = itertools.cycle(tasks)
        self._numbers = itertools.count()
        self._gate = asyncio.Condition()
        self._running: set[GroupKey] = set()
        self._released_early: set[GroupKey] = set()
        self._writer = EpisodeWriter(store)
        self._workers: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the producers (enough to keep ``limit`` groups outstanding)."""
        self._workers = [asyncio.create_task(self._produce(), name=f"producer-{i}")
                         for i in range(-(-self.limit // self.per_call))]

    def check(self) -> None:
        """Raise what a producer died of, if one did."""
        for worker in self._workers:
            if worker.done() and not worker.cancelled() and worker.exception() is not None:
                raise worker.exception()  # type: ignore[misc]

    async def aclose(self) -> None:
        """Stop the producers (groups in flight are abandoned) and flush what was written."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        await self._writer.aclose()

    # ------------------------------------------------------------- the gate
    async def advance(self, version: int, released: Iterable[GroupKey]) -> None:
        """The policy now serves ``version``; the learner is done with ``released``."""
        async with self._gate:
            self.version = version
            for key in released:
                if key in self._running:  # skipped while still rolling out: freed at its end
                    self._released_early.add(key)
                else:
                    self.outstanding -= 1
            self._gate.notify_all()

    async def _admit(self) -> tuple[list[GroupKey], int]:
        """Up to ``per_call`` new groups, as many as the gate lets through; their version."""
        async with self._gate:
            await self._gate.wait_for(lambda: self.outstanding < self.limit)
            n = min(self.per_call, self.limit - self.outstanding)
            self.outstanding += n
            self.started += n
            keys = [GroupKey(self.token, next(self._numbers)) for _ in range(n)]
            self._running.update(keys)
            return keys, self.version

    async def _finish(self, keys: list[GroupKey]) -> None:
        async with self._gate:
            for key in keys:
                self._running.discard(key)
                if key in self._released_early:
                    self._released_early.discard(key)
                    self.outstanding -= 1
                    self._gate.notify_all()

    # -------------------------------------------------------------- producing
    async def _produce(self) -> None:
        while True:
            keys, version = await self._admit()
            try:
                await self._groups(keys, version, [next(self._tasks) for _ in keys])
            finally:
                await self._finish(keys)

    async def _groups(self, keys: list[GroupKey], version: int, tasks: list[Task]) -> None:
        """Roll out one group of each task with the weights of ``version``; record them."""
        report = await self.runner.run(tasks, self.rollout, run=self.run_record,
                                       policy_version=version)
        size = self.rollout.group_size  # the results are in schedule order: group by group
        episodes = [dataclasses.replace(e, run_id=self.run_record.run_id,
                                        episode_id=keys[i // size].episode_id(e.group))
                    for i, e in enumerate(report.results)]
        await asyncio.gather(*(self._writer.write(e) for e in episodes))
        self.committed += len(keys)
        self.arrived.set()
        logger.debug("groups %s (tasks %s, version %d) recorded", [k.id for k in keys],
                     [t.id for t in tasks], version)
