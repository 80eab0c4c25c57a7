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
        job: The ``i``-th episode of the rollout (made when handed out: a million
            episodes keep no million jobs in memory).
        total: Episodes in the rollout.
        submit: Sends a chunk's jobs to a worker; returns the awaitable of its episodes.
        probe: Asks a worker whether it runs; returns an awaitable answered once it does.
        recorded: Which of some episode ids the store already holds.
        finished: Called once with each episode's index and record, as it comes back
            (or is found recorded after its worker died).
        chunk_size: Episodes per chunk.
        dead_errors: The exception types that mean a worker died.
    """

    def __init__(self, pool: WorkerPool, job: Callable[[int], Job], total: int, *,
                 submit: Callable[[Any, list[Job]], Awaitable[list[EpisodeRecord]]],
                 probe: Callable[[Any], Awaitable[Any]],
                 recorded: Callable[[list[str]], Awaitable[list[EpisodeRecord]]],
                 finished: Callable[[int, EpisodeRecord], None],
                 chunk_size: int, dead_errors: tuple[type[BaseException], ...]) -> None:
        self.pool, self.job, self.total, self.submit = pool, job, total, submit
        self.probe, self.recorded, self.finished = probe, recorded, finished
        self.chunk_size, self.dead_errors = chunk_size, dead_errors
        self.handed = 0  # episodes [0, handed) have been handed out at least once
        self.requeued: deque[list[int]] = deque()  # a dead worker's unfinished episodes
        self.done = bytearray(total)  # one byte an episode: memory flat in what finished
        self.in_flight: dict[asyncio.Future[list[EpisodeRecord]], tuple[int, list[int]]] = {}
        self.probes: dict[asyncio.Future[Any], int] = {}

    @property
    def queued(self) -> bool:
        """Whether episodes wait for a worker."""
        return bool(self.requeued) or self.handed < self.total

    def _next_chunk(self) -> list[int]:
        if self.requeued:
            return self.requeued.popleft()
        start, self.handed = self.handed, min(self.handed + self.chunk_size, self.total)
        return list(range(start, self.handed))

    def _finish(self, i: int, record: EpisodeRecord) -> None:
        if not self.done[i]:
            self.done[i] = 1
            self.finished(i, record)

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
            while self.queued and held[worker] < per_worker:
                chunk = self._next_chunk()
                future = asyncio.ensure_future(self.submit(handle, [self.job(i) for i in chunk]))
                self.in_flight[future] = (worker, chunk)
                held[worker] += 1

    async def lost(self, worker: int, chunk: list[int], error: BaseException) -> None:
        """A worker died holding ``chunk``: keep what it recorded, queue the rest again."""
        if worker in self.pool.workers:
            self.pool.replace(worker, error)
        if chunk:
            index = {self.job(i)[0]: i for i in chunk}
            for record in await self.recorded(list(index)):
                self._finish(index[record.episode_id], record)
        rest = [i for i in chunk if not self.done[i]]
        if rest:
            self.requeued.appendleft(rest)
        if not self.pool.workers:
            raise StateError("Expects a live rollout worker, actual: every worker died "
                             "and the restarts are spent")

    async def drive(self, per_worker: int, stall_s: float,
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
                    await self._returned(future)
            self.fill(per_worker)
        if self.queued:
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

    async def _returned(self, future: asyncio.Future[list[EpisodeRecord]]) -> None:
        worker, chunk = self.in_flight.pop(future)
        try:
            records = future.result()
        except self.dead_errors as exc:
            await self.lost(worker, chunk, exc)
            return
        for i, record in zip(chunk, records, strict=True):
            self._finish(i, record)

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
