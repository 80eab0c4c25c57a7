"""One Ray rollout's schedule: chunks of episodes handed to workers, and re-queued if one dies."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from webresearch.distributed.worker import Job
from webresearch.errors import StateError
from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout.progress import Progress

__all__ = ["Chunks", "WorkerPool"]

logger = logging.getLogger(__name__)


class WorkerPool(Protocol):
    """The live workers a rollout hands chunks to (:class:`RayRunner` is one)."""

    workers: dict[int, Any]
    """Every worker not known to be dead, started or still waiting for a node."""
    ready: set[int]
    """The workers that have answered once: placed on a node and running."""

    def replace(self, worker: int, error: BaseException) -> None:
        """Retire a dead worker (and start another, while restarts last)."""
        ...

    def abandon(self, worker: int) -> None:
        """End a worker that never started (no node has room for it); start none."""
        ...


class Chunks:
    """The driver's side of one rollout: which chunk each worker holds, and what came back.

    Every worker gets chunks at once, started or not, and is probed until it answers.
    A worker that has not started may never start (a replacement for a worker whose
    node died waits for a node with room): once the started workers have nothing left
    to do but wait for such workers' chunks, those workers get ``placement_s`` seconds
    to start, then are ended and their chunks run on the started ones. A node that
    joins in time gets work as soon as the waiting worker lands on it.

    Args:
        pool: The workers.
        jobs: Every episode of the rollout.
        submit: Sends a chunk's jobs to a worker; returns the awaitable of its episodes.
        probe: Asks a worker whether it runs; returns an awaitable answered once it does.
        recorded: Which of some episode ids the store already holds.
        chunk_size: Episodes per chunk.
        dead_errors: The exception types that mean a worker died.
    """

    def __init__(self, pool: WorkerPool, jobs: list[Job], *,
                 submit: Callable[[Any, list[Job]], Awaitable[list[EpisodeRecord]]],
                 probe: Callable[[Any], Awaitable[Any]],
                 recorded: Callable[[list[str]], Awaitable[list[EpisodeRecord]]],
                 chunk_size: int, dead_errors: tuple[type[BaseException], ...]) -> None:
        self.pool, self.jobs, self.submit, self.recorded = pool, jobs, submit, recorded
        self.probe = probe
        self.dead_errors = dead_errors
        self.index = {job[0]: i for i, job in enumerate(jobs)}
        self.queue: deque[list[int]] = deque(
            list(range(i, min(i + chunk_size, len(jobs))))
            for i in range(0, len(jobs), chunk_size))
        self.results: list[EpisodeRecord | None] = [None] * len(jobs)
        self.in_flight: dict[asyncio.Future[list[EpisodeRecord]], tuple[int, list[int]]] = {}
        self.probes: dict[asyncio.Future[Any], int] = {}

    def fill(self, per_worker: int) -> None:
        """Give every worker chunks until it holds ``per_worker``; probe the unstarted ones."""
        held = dict.fromkeys(self.pool.workers, 0)
        for worker, _ in self.in_flight.values():
            if worker in held:  # a dead worker's chunks are still in flight, failing
                held[worker] += 1
        probing = set(self.probes.values())
        for worker, handle in self.pool.workers.items():
            if worker not in self.pool.ready and worker not in probing:
                self.probes[asyncio.ensure_future(self.probe(handle))] = worker
            while self.queue and held[worker] < per_worker:
                chunk = self.queue.popleft()
                future = asyncio.ensure_future(self.submit(handle, [self.jobs[i] for i in chunk]))
                self.in_flight[future] = (worker, chunk)
                held[worker] += 1

    async def lost(self, worker: int, chunk: list[int], error: BaseException) -> None:
        """A worker died holding ``chunk``: keep what it recorded, queue the rest again."""
        if worker in self.pool.workers:
            self.pool.replace(worker, error)
        if chunk:
            for record in await self.recorded([self.jobs[i][0] for i in chunk]):
                self.results[self.index[record.episode_id]] = record
        rest = [i for i in chunk if self.results[i] is None]
        if rest:
            self.queue.appendleft(rest)
        if not self.pool.workers:
            raise StateError("Expects a live rollout worker, actual: every worker died "
                             "and the restarts are spent")

    async def drive(self, progress: Progress, per_worker: int, stall_s: float,
                    placement_s: float) -> None:
        """Run until every chunk is back; raise if nothing happens for ``stall_s`` seconds."""
        self.fill(per_worker)
        while self.in_flight:
            stranded = self._stranded()
            done, _ = await asyncio.wait([*self.in_flight, *self.probes],
                                         timeout=placement_s if stranded else stall_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and stranded:
                for worker in stranded:
                    logger.warning("rollout worker %d did not start within %g s; its "
                                   "episodes run on the started workers", worker, placement_s)
                    self.pool.abandon(worker)  # its chunks fail, and are queued again
                continue
            if not done:
                raise StateError(f"Expects a chunk of episodes to finish within {stall_s:g} "
                                 "s, actual: none did (are the workers alive?)")
            for future in done:
                if future in self.probes:
                    await self._answered(self.probes.pop(future), future)
                else:
                    await self._returned(future, progress)
            self.fill(per_worker)
        if self.queue:
            raise StateError("Expects a rollout worker that runs, actual: none is left")

    def _stranded(self) -> set[int]:
        """The unstarted workers holding chunks, when only they hold any while started
        workers are there to take them over (empty otherwise)."""
        holders = {worker for worker, _ in self.in_flight.values()}
        if holders & self.pool.ready or not self.pool.ready & set(self.pool.workers):
            return set()
        return holders & set(self.pool.workers)

    async def _answered(self, worker: int, probe: asyncio.Future[Any]) -> None:
        try:
            probe.result()
        except self.dead_errors as exc:
            await self.lost(worker, [], exc)
        else:
            self.pool.ready.add(worker)

    async def _returned(self, future: asyncio.Future[list[EpisodeRecord]],
                        progress: Progress) -> None:
        worker, chunk = self.in_flight.pop(future)
        try:
            records = future.result()
        except self.dead_errors as exc:
            await self.lost(worker, chunk, exc)
            return
        for i, record in zip(chunk, records, strict=True):
            self.results[i] = record
            progress.add(record)

    def discard(self) -> None:
        """Drop the chunks and probes still in flight (the rollout is over, or ending early)."""
        for probe, worker in self.probes.items():
            if probe.done() and not probe.cancelled() and probe.exception() is None:
                self.pool.ready.add(worker)  # it answered as the rollout ended
        for future in [*self.in_flight, *self.probes]:
            future.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "exception was never retrieved" noise
        self.in_flight.clear()
        self.probes.clear()
