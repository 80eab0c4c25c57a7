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
from webresearch.rollout.progress import Progress
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
          placement_s: float = 0.05) -> tuple[FakePool, list[str]]:
    async def scenario() -> tuple[FakePool, list[str]]:
        pool = FakePool(kinds, spare=spare)
        pool.workers = {w: (w, k) for w, k in pool.workers.items()}
        jobs: list[Job] = [(f"e{i}", TASK, 0) for i in range(episodes)]

        async def recorded(ids: list[str]) -> list[EpisodeRecord]:
            return []

        chunks = Chunks(pool, jobs, submit=pool.submit, probe=pool.probe, recorded=recorded,
                        chunk_size=chunk, dead_errors=(Dead,))
        try:
            await chunks.drive(Progress(episodes, enabled=False), 2, 60.0, placement_s)
        finally:
            chunks.discard()
        return pool, [r.episode_id for r in chunks.results if r is not None]

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


def test_no_worker_left_is_a_clear_error() -> None:
    with pytest.raises(StateError, match="every worker died"):
        drive(["dies"], 10)
