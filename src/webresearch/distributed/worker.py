"""A Ray rollout worker: one process, many episodes in flight on its event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch.distributed.services import RayAuthority
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.rate_limit import use_authority
from webresearch.policies.policy import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.rollout.episode import run_episode
from webresearch.rollout.memory import MemoryTrimmer
from webresearch.tasks import Task

__all__ = ["Job", "RolloutWorker", "Settings"]

Job = tuple[str, Task, int]
"""One episode to run: its fixed id, the task, its index in the task's group."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What every episode of one rollout shares."""

    run_id: str
    policy_version: int
    sampling: SamplingParams | None
    timeout_s: float


class RolloutWorker:
    """Ray actor body: runs chunks of episodes, ``concurrency`` at a time, and records each
    finished episode before reporting it done: into the store's directory itself (group
    commit in a thread, as the local runner does) or through the run's store actor.

    Envs are made on demand and reused; the policy is built once in the worker (a
    scripted policy, a client of an OpenAI-compatible server, or a
    :class:`~webresearch.distributed.services.RemotePolicy` of the shared server).
    """

    def __init__(self, make_env: Callable[[], WebResearchEnv], make_policy: Callable[[], Policy],
                 *, concurrency: int, store_dir: Path | None = None, store_actor: Any = None,
                 rate_authority: str | None = None) -> None:
        if rate_authority is not None:  # the run's authority actor, for every live web here
            use_authority(RayAuthority(rate_authority))
        self.make_env = make_env
        self.writer = EpisodeWriter(ReplayStore(store_dir)) if store_dir is not None else None
        self.store_actor = store_actor
        self.policy = make_policy()
        self.slots = asyncio.Semaphore(concurrency)
        self.idle: list[WebResearchEnv] = []
        self.envs: list[WebResearchEnv] = []
        self.trimmer = MemoryTrimmer()

    def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    async def run(self, jobs: Sequence[Job], settings: Settings) -> list[EpisodeRecord]:
        """Run ``jobs`` concurrently; return their episodes in order, once recorded."""
        return list(await asyncio.gather(*(self._episode(job, settings) for job in jobs)))

    async def _episode(self, job: Job, settings: Settings) -> EpisodeRecord:
        episode_id, task, group = job
        async with self.slots:
            if not self.idle:
                self.envs.append(self.make_env())
                self.idle.append(self.envs[-1])
            env = self.idle.pop()
            try:
                record = await run_episode(
                    env, self.policy, task, group=group, run_id=settings.run_id,
                    sampling=settings.sampling, timeout_s=settings.timeout_s,
                    policy_version=settings.policy_version, episode_id=episode_id)
            finally:
                self.idle.append(env)
        if self.writer is not None:
            await self.writer.write(record)
        elif self.store_actor is not None:
            await self.store_actor.write.remote(record)
        self.trimmer.tick()
        return record

    async def aclose(self) -> None:
        for env in self.envs:
            await env.aclose()
        self.envs.clear()
        self.idle.clear()
        await self.policy.aclose()
        if self.writer is not None:
            await self.writer.aclose()
            self.writer.store.close()
            self.writer = None
