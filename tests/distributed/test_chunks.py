"""The rollout schedule without Ray: chunks handed out, lost with a worker, stranded on one
that never starts."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.distributed.chunks import Chunks
from webresearch.distributed.worker import Job
from webresearch.errors import StateError
from webresearch.replay.schema import EpisodeRecord
from webresearch.tasks import Task

TASK = Task(id="t", question="Q?", answers=("a",))


class Dead(Exception):
    """A worker died (Ray's RayActorError, here)."""


class FakePool:
    """Workers named by a behaviour: ``"runs"``, ``"dies"`` (after its first chunk
    starts) or ``"never"`` (never placed on a node)."""

    def __init__(self, kinds: list[str], *, spare: int = 0) -> None:
        self.workers: dict[int, Any] = dict(enumerate(kinds))
        self.ready: set[int] = set()
        self.spare = spare
        self.ran: list[str] = []
        self.ended: set[int] = set()
        self.gone: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(len(kinds))}

    def replace(self, worker: int, error: BaseException) -> None:
        self.workers.pop(worker)
        self.ready.discard(worker)
        if self.spare:
            self.spare -= 1
            new = max(self.gone) + 1
            self.gone[new] = asyncio.Event()
            self.workers[new] = (new, "runs")

    def abandon(self, worker: int) -> None:
        self.workers.pop(worker)
        self.ended.add(worker)
        self.gone[worker].set()

    async def probe(self, handle: tuple[int, str]) -> int:
        worker, kind = handle
        if kind == "never":
            await self.gone[worker].wait()
            raise Dead
        return worker

    async def submit(self, handle: tuple[int, str], jobs: list[Job]) -> list[EpisodeRecord]:
        worker, kind = handle
        if kind == "never":
            await self.gone[worker].wait()
            raise Dead
        await asyncio.sleep(0.001)
        if kind == "dies":
            raise Dead
        self.ran += [job[0] for job in jobs]
        return [dataclasses.replace(EpisodeRecord("r", TASK, 0, "answered", 1.0, 1.0, 1.0),
                                    episode_id=job[0]) for job in jobs]


def drive(kinds: list[str], episodes: int, *, chunk: int = 2, spare: int = 0,
          placement_s: float = 0.05, stored: frozenset[str] = frozenset()
          ) -> tuple[FakePool, list[str]]:
    """Runs ``episodes`` on workers of ``kinds``; ``stored``: the ids a dead worker had
    recorded before it died. Returns the pool and the ids reported finished, in order."""
    async def scenario() -> tuple[FakePool, list[str]]:
        pool = FakePool(kinds, spare=spare)
        pool.workers = {w: (w, k) for w, k in pool.workers.items()}
        finished: list[str] = []

        async def recorded(ids: list[str]) -> list[EpisodeRecord]:
            return [dataclasses.replace(EpisodeRecord("r", TASK, 0, "answered", 1.0, 1.0, 1.0),
                                        episode_id=i) for i in ids if i in stored]

        def finish(i: int, record: EpisodeRecord) -> None:
            assert record.episode_id == f"e{i}"
            finished.append(record.episode_id)

        chunks = Chunks(pool, lambda i: (f"e{i}", TASK, 0), episodes, submit=pool.submit,
                        probe=pool.probe, recorded=recorded, finished=finish,
                        chunk_size=chunk, dead_errors=(Dead,))
        try:
            await chunks.drive(2, 60.0, placement_s)
        finally:
            chunks.discard()
        assert len(finished) == len(set(finished))  # each reported once
        return pool, finished

    return asyncio.run(scenario())


@settings(max_examples=30, deadline=None)
@given(kinds=st.lists(st.sampled_from(["runs", "never"]), min_size=1, max_size=4)
       .filter(lambda k: "runs" in k), episodes=st.integers(1, 40), chunk=st.integers(1, 5))
def test_workers_that_never_start_lose_no_episode(kinds: list[str], episodes: int,
                                                  chunk: int) -> None:
    pool, done = drive(kinds, episodes, chunk=chunk)
    assert sorted(done) == sorted(f"e{i}" for i in range(episodes))
    assert sorted(pool.ran) == sorted(done)  # each ran once, on a worker that runs
    assert pool.ended <= {w for w, k in enumerate(kinds) if k == "never"}


def test_a_dead_worker_is_replaced_and_its_chunk_runs_again() -> None:
    pool, done = drive(["runs", "dies"], 20, spare=1)
    assert sorted(done) == sorted(f"e{i}" for i in range(20)) == sorted(pool.ran)
    assert 2 in pool.workers  # the replacement


def test_what_a_dead_worker_recorded_is_kept_and_not_run_again() -> None:
    stored = frozenset({"e0", "e1", "e3"})  # the dying worker's first chunks, in part
    pool, done = drive(["dies", "runs"], 12, chunk=4, spare=0, stored=stored)
    assert sorted(done) == sorted(f"e{i}" for i in range(12))
    assert not stored & set(pool.ran) and sorted(pool.ran) == sorted(set(done) - stored)


def test_a_million_episodes_are_scheduled_without_a_million_jobs() -> None:
    made: list[int] = []

    def job(i: int) -> Job:
        made.append(i)
        return (f"e{i}", TASK, 0)

    chunks = Chunks(FakePool(["runs"]), job, 1_000_000, submit=FakePool([]).submit,
                    probe=FakePool([]).probe, recorded=None,  # type: ignore[arg-type]
                    finished=lambda i, r: None, chunk_size=16, dead_errors=(Dead,))
    assert len(chunks.done) == 1_000_000 and not made  # one byte an episode, no job yet


def test_no_worker_left_is_a_clear_error() -> None:
    with pytest.raises(StateError, match="every worker died"):
        drive(["dies"], 10)
