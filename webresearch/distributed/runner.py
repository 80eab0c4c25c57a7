"""Rollouts across Ray workers: chunks of episodes pulled by actors, re-run when one dies."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from webresearch.crawlers.live import AUTHORITY_ENV
from webresearch.distributed.cluster import NAMESPACE, init_ray
from webresearch.distributed.services import (
    AuthorityServer,
    PolicyServer,
    RemotePolicy,
    StoreServer,
)
from webresearch.distributed.worker import Job, RolloutWorker
from webresearch.envs.tasks import Task
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, StateError
from webresearch.policies.base import Policy
from webresearch.replay.schema import EpisodeRecord, RunRecord, new_id
from webresearch.replay.store import ReplayStore
from webresearch.rollout.local import RolloutConfig, RolloutReport, schedule
from webresearch.rollout.progress import Progress

__all__ = ["RayConfig", "ray_rollout"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RayConfig:
    """Where and how the Ray rollout runs."""

    address: str | None = None
    """A cluster's address; ``None`` starts (or reuses) a local Ray on loopback."""
    workers: int | None = None
    """Rollout worker actors; one per CPU of the cluster by default."""
    worker_cpus: float = 1.0
    """CPUs each worker reserves."""
    chunk_size: int = 16
    """Episodes per request to a worker: what a dead worker's loss re-runs at most."""
    store_writer: str = "workers"
    """Who writes episodes to the store: ``"workers"``, each into the store directory
    itself (it must be on a disk every worker reaches: one node, or a shared filesystem
    that SQLite can lock), or ``"actor"``, one writer actor on the driver's node that
    every worker sends its episodes to (any cluster; one more copy of each episode)."""
    serve_policy: bool = False
    """Build the policy once in a shared actor (a GPU model) instead of once per worker
    (scripted policies, clients of an OpenAI-compatible server)."""
    policy_gpus: float = 0.0
    """GPUs the policy actor reserves."""
    max_restarts: int = 3
    """Dead workers replaced during one rollout, in all; past that the rest carry on."""
    stall_timeout_s: float | None = None
    """Longest wait for any chunk to finish; default twice the episode deadline + 60 s."""

    def __post_init__(self) -> None:
        if (self.workers is not None and self.workers < 1) or self.chunk_size < 1:
            raise ConfigError(f"Expects workers >= 1 and chunk_size >= 1, actual: "
                              f"{self.workers}, {self.chunk_size}")
        if self.store_writer not in ("workers", "actor"):
            raise ConfigError("Expects store_writer 'workers' or 'actor', actual: "
                              f"{self.store_writer!r}")


class _Run:
    """The driver's state: workers, the chunks they hold, and what came back."""

    def __init__(self, ray: Any, jobs: list[Job], config: RolloutConfig, ray_config: RayConfig,
                 *, spawn: Callable[[], Any], store: Any) -> None:
        self.ray, self.jobs, self.config, self.ray_config = ray, jobs, config, ray_config
        self.spawn, self.store = spawn, store
        self.index = {job[0]: i for i, job in enumerate(jobs)}
        size = ray_config.chunk_size
        self.queue: deque[list[int]] = deque(
            list(range(i, min(i + size, len(jobs)))) for i in range(0, len(jobs), size))
        self.results: list[EpisodeRecord | None] = [None] * len(jobs)
        self.workers: dict[int, Any] = {}
        self.spawned = 0
        self.in_flight: dict[asyncio.Future[Any], tuple[int, list[int]]] = {}
        self.restarts = 0

    def fill(self, per_worker: int) -> None:
        """Give every live worker chunks until it holds ``per_worker`` of them."""
        held = {w: 0 for w in self.workers}
        for worker, _ in self.in_flight.values():
            if worker in held:  # a dead worker's chunks are still in flight, failing
                held[worker] += 1
        for worker, handle in self.workers.items():
            while self.queue and held[worker] < per_worker:
                chunk = self.queue.popleft()
                ref = handle.run.remote([self.jobs[i] for i in chunk])
                self.in_flight[asyncio.ensure_future(ref)] = (worker, chunk)
                held[worker] += 1

    async def lost(self, worker: int, chunk: list[int], error: BaseException) -> None:
        """A worker died holding ``chunk``: keep what it recorded, queue the rest again."""
        if worker in self.workers:
            logger.warning("rollout worker %d died (%s); re-running its unfinished episodes",
                           worker, type(error).__name__)
            self.ray.kill(self.workers.pop(worker), no_restart=True)
            if self.restarts < self.ray_config.max_restarts:
                self.restarts += 1
                self.start_worker()
        recorded = await self.recorded([self.jobs[i][0] for i in chunk])
        for record in recorded:
            self.results[self.index[record.episode_id]] = record
        rest = [i for i in chunk if self.results[i] is None]
        if rest:
            self.queue.appendleft(rest)
        if not self.workers:
            raise StateError("Expects a live rollout worker, actual: every worker died "
                             f"and {self.restarts} restarts are spent")

    def start_worker(self) -> None:
        """Start a worker under a number never used before (a dead one's chunks still fail)."""
        self.workers[self.spawned] = self.spawn()
        self.spawned += 1

    async def recorded(self, episode_ids: list[str]) -> list[EpisodeRecord]:
        """Which of these episodes the store already holds."""
        if isinstance(self.store, str):
            with ReplayStore(self.store) as store:
                return StoreServer.find(store, episode_ids)
        if self.store is not None:
            found: list[EpisodeRecord] = await self.store.stored.remote(episode_ids)
            return found
        return []

    def discard(self) -> None:
        """Drop the chunks still in flight (the rollout is ending early)."""
        for future in self.in_flight:
            future.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "exception was never retrieved" noise
        self.in_flight.clear()

    async def drive(self, progress: Progress, per_worker: int) -> None:
        stall = self.ray_config.stall_timeout_s or 2 * self.config.episode_timeout_s + 60
        self.fill(per_worker)
        while self.in_flight:
            done, _ = await asyncio.wait(self.in_flight, timeout=stall,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise StateError(f"Expects a chunk of episodes to finish within {stall:g} s, "
                                 "actual: none did (are the workers alive?)")
            for future in done:
                worker, chunk = self.in_flight.pop(future)
                try:
                    records: list[EpisodeRecord] = future.result()
                except self.ray.exceptions.RayActorError as exc:
                    await self.lost(worker, chunk, exc)
                    continue
                for i, record in zip(chunk, records, strict=True):
                    self.results[i] = record
                    progress.add(record)
            self.fill(per_worker)


async def ray_rollout(
    make_env: Callable[[], WebResearchEnv],
    make_policy: Callable[[], Policy],
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    ray_config: RayConfig | None = None,
    *,
    store: str | None = None,
    run: RunRecord | None = None,
    policy_version: int = 0,
) -> RolloutReport:
    """Run the scheduled episodes on Ray worker actors; the Ray twin of ``rollout``.

    Workers pull chunks of ``ray_config.chunk_size`` episodes and keep
    ``config.concurrency`` episodes in flight between them; each finished episode goes
    from its worker to one store actor (group commit), never through the driver's
    disk. Per-host and per-API rate limits of ``web="live"`` hold across all workers
    through one authority actor. When a worker dies, what it had recorded is kept and
    the rest of its chunk runs elsewhere (episodes have fixed ids, so the store holds
    each once).

    Args:
        make_env: Builds one env (called inside the workers; must pickle).
        make_policy: Builds the policy, in every worker or, with
            ``ray_config.serve_policy``, once in a shared actor.
        tasks, config: As for :func:`~webresearch.rollout.rollout`.
        ray_config: Cluster address, workers, chunking, policy serving, restarts.
        store: Directory of the replay store to record into (``None``: no recording).
        run: The run to record under (created if new; a new run by default).
        policy_version: Which weights produced the episodes.
    """
    config = config or RolloutConfig()
    ray_config = ray_config or RayConfig()
    ray = init_ray(ray_config.address)
    batch = new_id()
    jobs: list[Job] = [(f"{batch}-{i:06d}", task, group)
                       for i, (task, group) in enumerate(schedule(tasks, config))]
    run_id, store_actor = "", None
    store_target: str | Any = None
    if store is not None:
        run = run or RunRecord(policy="ray")
        with ReplayStore(store) as local:
            if run.run_id not in {r.run_id for r in local.runs()}:
                local.create_run(run)
        run_id = run.run_id
        store_target = store
        if ray_config.store_writer == "actor":
            store_actor = store_target = ray.remote(StoreServer).options(
                num_cpus=0, max_concurrency=1000).remote(store)
    authority_name = f"webresearch-rate-{batch}"
    authority = ray.remote(AuthorityServer).options(  # the services reserve no CPU:
        name=authority_name, namespace=NAMESPACE, num_cpus=0, max_concurrency=1000).remote()
    server = None
    if ray_config.serve_policy:
        server = ray.remote(PolicyServer).options(
            num_cpus=0, num_gpus=ray_config.policy_gpus, max_concurrency=10_000
        ).remote(make_policy)
        name, tokenizer = await server.describe.remote()
        make_policy = _remote_policy_factory(server, name, tokenizer)
    n = ray_config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    per_worker = math.ceil(config.concurrency / n)
    worker_class = ray.remote(RolloutWorker).options(num_cpus=ray_config.worker_cpus,
                                                     max_concurrency=100_000)

    def spawn() -> Any:
        return worker_class.remote(
            make_env, make_policy, config, concurrency=per_worker, run_id=run_id,
            policy_version=policy_version, store=store_target,
            env_vars={AUTHORITY_ENV: f"ray:{authority_name}"})

    state = _Run(ray, jobs, config, ray_config, spawn=spawn, store=store_target)
    for _ in range(n):
        state.start_worker()
    start = time.perf_counter()
    progress = Progress(len(jobs), enabled=config.progress, desc=f"{n} ray workers")
    try:
        await state.drive(progress, math.ceil(per_worker / ray_config.chunk_size) + 1)
    finally:
        progress.close()
        state.discard()
        await _shutdown(ray, [*state.workers.values(), server, store_actor], authority)
    done = [r for r in state.results if r is not None]
    return RolloutReport(done, time.perf_counter() - start, run_id)


def _remote_policy_factory(server: Any, name: str, tokenizer: Any) -> Callable[[], Policy]:
    def make() -> Policy:
        return RemotePolicy(server, name, tokenizer)

    return make


async def _shutdown(ray: Any, actors: list[Any], authority: Any, timeout_s: float = 30.0
                    ) -> None:
    """Close every actor (workers first, the store last: it flushes), then end them all."""
    for actor in actors:
        if actor is None:
            continue
        try:
            await asyncio.wait_for(asyncio.ensure_future(actor.aclose.remote()), timeout_s)
        except (TimeoutError, ray.exceptions.RayActorError) as exc:
            logger.warning("an actor did not close cleanly: %s", type(exc).__name__)
        ray.kill(actor, no_restart=True)
    ray.kill(authority, no_restart=True)
