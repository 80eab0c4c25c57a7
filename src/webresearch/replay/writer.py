"""Group commit: many coroutines' episodes written in one transaction, off the event loop."""

from __future__ import annotations

import asyncio
import logging

from webresearch.errors import RecordTooLarge
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore

__all__ = ["EpisodeWriter"]

logger = logging.getLogger(__name__)


class EpisodeWriter:
    """Writes episodes for an asyncio rollout; ``await write(e)`` returns once ``e`` is committed.

    Episodes that finish while a commit is in progress wait for the next one, which
    takes them all in one transaction; the SQLite work runs in a thread, so the
    event loop keeps serving the other episodes. A crash loses only episodes whose
    ``write`` had not returned; an episode too large to store
    (:class:`~webresearch.errors.RecordTooLarge`) fails its own ``write`` only.

    Example:
        >>> import tempfile
        >>> from webresearch.tasks import Task
        >>> from webresearch.replay.schema import RunRecord
        >>> store = ReplayStore(tempfile.mkdtemp())
        >>> run = store.create_run(RunRecord())
        >>> task = Task(id="t", question="Q?", answers=("a",))
        >>> async def demo() -> int:
        ...     writer = EpisodeWriter(store)
        ...     episodes = [EpisodeRecord(run.run_id, task, g, "answered", 1.0, 1.0, 1.0)
        ...                 for g in range(5)]
        ...     await asyncio.gather(*(writer.write(e) for e in episodes))
        ...     return writer.commits
        >>> asyncio.run(demo()) <= 2, store.count(run.run_id)
        (True, 5)
    """

    def __init__(self, store: ReplayStore, *, max_batch: int = 512) -> None:
        self.store = store
        self.max_batch = max_batch
        self.commits = 0
        """Transactions made so far."""
        self.written = 0
        """Episodes committed so far."""
        self._pending: list[tuple[EpisodeRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, episode: EpisodeRecord) -> None:
        """Commit ``episode`` (with whatever else is waiting); raise if the commit failed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((episode, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = (self._pending[: self.max_batch],
                                    self._pending[self.max_batch:])
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[EpisodeRecord, asyncio.Future[None]]]) -> None:
        """Write ``batch`` in one transaction; one episode too large to store fails alone."""
        try:
            await asyncio.to_thread(self.store.append, [e for e, _ in batch])
        except RecordTooLarge as exc:
            if len(batch) > 1:  # the others are written, one transaction each
                for item in batch:
                    await self._commit([item])
                return
            self._fail(batch, exc)
            return
        except Exception as exc:  # a full disk, a broken store: every waiter hears it
            self._fail(batch, exc)
            return
        self.commits += 1
        self.written += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    @staticmethod
    def _fail(batch: list[tuple[EpisodeRecord, asyncio.Future[None]]], exc: Exception) -> None:
        logger.error("writing %d episodes failed: %s", len(batch), exc)
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    async def aclose(self) -> None:
        """Wait for every pending write."""
        if self._flusher is not None:
            await self._flusher
