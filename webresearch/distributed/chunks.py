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

    def replace(self, worker: int, error: BaseException) -> None:
        """Retire a dead worker (and start another, while restarts last)."""
        ...


class Chunks:
    """The driver's side of one rollout: which chunk each worker holds, and what came back.

    Args:
        pool: The workers.
        jobs: Every episode of the rollout.
        submit: Sends a chunk's jobs to a worker; returns the awaitable of its episodes.
        recorded: Which of some episode ids the store already holds.
        chunk_size: Episodes per chunk.
        dead_errors: The exception types that mean a worker died.
    """

    def __init__(self, pool: WorkerPool, jobs: list[Job], *,
                 submit: Callable[[Any, list[Job]], Awaitable[list[EpisodeRecord]]],
                 recorded: Callable[[list[str]], Awaitable[list[EpisodeRecord]]],
                 chunk_size: int, dead_errors: tuple[type[BaseException], ...]) -> None:
        self.pool, self.jobs, self.submit, self.recorded = pool, jobs, submit, recorded
        self.dead_errors = dead_errors
        self.index = {job[0]: i for i, job in enumerate(jobs)}
        self.queue: deque[list[int]] = deque(
            list(range(i, min(i + chunk_size, len(jobs))))
            for i in range(0, len(jobs), chunk_size))
        self.results: list[EpisodeRecord | None] = [None] * len(jobs)
        self.in_flight: dict[asyncio.Future[list[EpisodeRecord]], tuple[int, list[int]]] = {}

    def fill(self, per_worker: int) -> None:
        """Give every live worker chunks until it holds ``per_worker`` of them."""
        held = dict.fromkeys(self.pool.workers, 0)
        for worker, _ in self.in_flight.values():
            if worker in held:  # a dead worker's chunks are still in flight, failing
                held[worker] += 1
        for worker, handle in self.pool.workers.items():
            while self.queue and held[worker] < per_worker:
                chunk = self.queue.popleft()
                future = asyncio.ensure_future(self.submit(handle, [self.jobs[i] for i in chunk]))
                self.in_flight[future] = (worker, chunk)
                held[worker] += 1

    async def lost(self, worker: int, chunk: list[int], error: BaseException) -> None:
        """A worker died holding ``chunk``: keep what it recorded, queue the rest again."""
        if worker in self.pool.workers:
            self.pool.replace(worker, error)
        for record in await self.recorded([self.jobs[i][0] for i in chunk]):
            self.results[self.index[record.episode_id]] = record
        rest = [i for i in chunk if self.results[i] is None]
        if rest:
            self.queue.appendleft(rest)
        if not self.pool.workers:
            raise StateError("Expects a live rollout worker, actual: every worker died "
                             "and the restarts are spent")

    async def drive(self, progress: Progress, per_worker: int, stall_s: float) -> None:
        """Run until every chunk is back; raise if none finishes for ``stall_s`` seconds."""
        self.fill(per_worker)
        while self.in_flight:
            done, _ = await asyncio.wait(self.in_flight, timeout=stall_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise StateError(f"Expects a chunk of episodes to finish within {stall_s:g} s, "
                                 "actual: none did (are the workers alive?)")
            for future in done:
                worker, chunk = self.in_flight.pop(future)
                try:
                    records = future.result()
                except self.dead_errors as exc:
                    await self.lost(worker, chunk, exc)
                    continue
                for i, record in zip(chunk, records, strict=True):
                    self.results[i] = record
                    progress.add(record)
            self.fill(per_worker)

    def discard(self) -> None:
        """Drop the chunks still in flight (the rollout is ending early)."""
        for future in self.in_flight:
            future.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "exception was never retrieved" noise
        self.in_flight.clear()
