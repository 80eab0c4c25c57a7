"""Rollouts across Ray workers: chunks of episodes pulled by actors, re-run when one dies."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from webresearch.distributed.chunks import Chunks
from webresearch.distributed.cluster import NAMESPACE, cluster_address, init_ray, node_id
from webresearch.distributed.services import (
    AuthorityServer,
    PolicyServer,
    RemotePolicy,
    StoreServer,
    open_run,
)
from webresearch.distributed.worker import Job, RolloutWorker, Settings
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.policy import Policy
from webresearch.replay.schema import EpisodeRecord, RunRecord, new_id
from webresearch.replay.store import ReplayStore
from webresearch.rollout.local import (
    Collector,
    RolloutConfig,
    RolloutReport,
    episode_count,
    scheduled,
)
from webresearch.tasks import Task

__all__ = ["RayConfig", "RayRunner", "ray_rollout"]

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
    store_writer: str = "auto"
    """Who writes episodes to the store: ``"workers"``, each into the store's directory
    itself (it must be on a disk every worker reaches: one node, or a shared filesystem
    that SQLite can lock), ``"actor"``, one writer actor on the driver's node that every
    worker sends its episodes to (any cluster: no node but the driver's touches the
    store's directory; one more copy of each episode), or ``"auto"``: ``"workers"`` on
    a local one-node Ray, ``"actor"`` on a cluster (an ``address``, or more nodes)."""
    serve_policy: bool = False
    """Build the policy once in a shared actor (a GPU model) instead of once per worker
    (scripted policies, clients of an OpenAI-compatible server)."""
    policy_gpus: float = 0.0
    """GPUs the policy actor reserves."""
    policy_resources: Mapping[str, float] | None = None
    """Custom resources the policy actor reserves, which places it on a node that has
    them (``{"policy": 1}``, with ``ray start --resources='{"policy": 1}'`` on the GPU
    node). Without these or ``policy_gpus`` it runs on the driver's node, as the rate
    authority and the store writer always do: a worker node that dies takes none of them."""
    max_restarts: int = 3
    """Dead workers replaced during one rollout, in all; past that the rest carry on."""
    placement_timeout_s: float = 30.0
    """How long workers that have not started (a replacement waiting for a node with
    room) may keep their chunks once the started workers have nothing else to do;
    then they are ended and their episodes run on the started workers."""
    stall_timeout_s: float | None = None
    """Longest wait for any chunk to finish; default twice the episode deadline + 60 s."""

    def __post_init__(self) -> None:
        if (self.workers is not None and self.workers < 1) or self.chunk_size < 1:
            raise ConfigError(f"Expects workers >= 1 and chunk_size >= 1, actual: "
                              f"{self.workers}, {self.chunk_size}")
        if self.store_writer not in ("auto", "workers", "actor"):
            raise ConfigError("Expects store_writer 'auto', 'workers' or 'actor', actual: "
                              f"{self.store_writer!r}")


class RayRunner:
    """Ray worker actors and the services they share, started once for many rollouts.

    Workers pull chunks of ``ray_config.chunk_size`` episodes and keep ``concurrency``
    episodes in flight between them; each finished episode is recorded by its worker
    (or the store actor, on the driver's node), never by the driver. Per-host and
    per-API rate limits of ``web="live"`` hold across all workers through one authority
    actor. When a worker dies (its node with it), what it had recorded is kept, the rest
    of its chunk runs elsewhere (episodes have fixed ids, so the store holds each once)
    and a new worker takes its place, on whichever node has room, now or once one joins.
    A GRPO loop keeps one runner for all its steps and pushes each step's weights to
    the shared policy with :meth:`load_weights`.

    Args:
        make_env: Builds one env (called inside the workers; must pickle).
        make_policy: Builds the policy, in every worker or, with
            ``ray_config.serve_policy``, once in a shared actor.
        ray_config: Cluster address, workers, chunking, policy serving, restarts.
        concurrency: Episodes in flight across all workers.
        store: The replay store to record into (``None``: no recording); the workers or
            the store actor open its directory in their own processes. It stays the
            caller's to close.
    """

    def __init__(self, make_env: Callable[[], WebResearchEnv], make_policy: Callable[[], Policy],
                 ray_config: RayConfig | None = None, *, concurrency: int = 64,
                 store: ReplayStore | None = None) -> None:
        self.make_env, self.make_policy = make_env, make_policy
        self.ray_config = ray_config or RayConfig()
        self.concurrency, self.store = concurrency, store
        self.ray: Any = None
        self.workers: dict[int, Any] = {}
        self.ready: set[int] = set()
        self.server: Any = None
        self.store_actor: Any = None
        self._authority: Any = None
        self._spawned = self.restarts = 0
        self.per_worker = concurrency

    async def start(self) -> RayRunner:
        """Start the services and the workers (once; later calls do nothing).

        If any of them fails to start (a policy that cannot load), those already
        started are ended before the error propagates.
        """
        if self.ray is not None:
            return self
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _start(self) -> None:
        ray = self.ray = init_ray(self.ray_config.address)
        here = _pinned(node_id())  # the services live where the driver does
        name = f"webresearch-rate-{new_id()}"
        self._authority = ray.remote(AuthorityServer).options(  # services reserve no CPU
            name=name, namespace=NAMESPACE, num_cpus=0, max_concurrency=1000, **here).remote()
        if self.store is not None and self._store_writer(ray) == "actor":
            self.store_actor = ray.remote(StoreServer).options(
                num_cpus=0, max_concurrency=1000, **here).remote(self.store.directory)
        make_policy = self.make_policy
        if self.ray_config.serve_policy:
            config = self.ray_config
            placed = config.policy_resources or config.policy_gpus
            self.server = ray.remote(PolicyServer).options(
                num_cpus=0, num_gpus=config.policy_gpus,
                resources=dict(config.policy_resources or {}), max_concurrency=10_000,
                **({} if placed else here)).remote(self.make_policy)
            make_policy = _remote_policy_factory(self.server, *await self.server.describe.remote())
        n = self.ray_config.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.per_worker = math.ceil(self.concurrency / n)
        worker_class = ray.remote(RolloutWorker).options(
            num_cpus=self.ray_config.worker_cpus, max_concurrency=100_000)
        directory = None  # the workers write into it, unless the store actor does
        if self.store is not None and self.store_actor is None:
            directory = self.store.directory

        def spawn() -> Any:
            return worker_class.remote(self.make_env, make_policy, concurrency=self.per_worker,
                                       store_dir=directory, store_actor=self.store_actor,
                                       rate_authority=name)

        self._spawn = spawn
        for _ in range(n):
            self._start_worker()

    def _store_writer(self, ray: Any) -> str:
        """The store writer mode, ``"auto"`` resolved: workers only on a local one-node Ray."""
        mode = self.ray_config.store_writer
        if mode == "auto":
            nodes = sum(1 for node in ray.nodes() if node["Alive"])
            local = cluster_address(self.ray_config.address) is None
            mode = "workers" if local and nodes == 1 else "actor"
        return mode

    def _start_worker(self) -> None:
        # a number never used before: a dead worker's chunks may still be failing
        self.workers[self._spawned] = self._spawn()
        self._spawned += 1

    def replace(self, worker: int, error: BaseException) -> None:
        """Retire a dead worker, and start another while restarts last."""
        logger.warning("rollout worker %d died (%s); re-running its unfinished episodes",
                       worker, type(error).__name__)
        self.ray.kill(self.workers.pop(worker), no_restart=True)
        self.ready.discard(worker)
        if self.restarts < self.ray_config.max_restarts:
            self.restarts += 1
            self._start_worker()

    def abandon(self, worker: int) -> None:
        """End a worker that never started; start no other."""
        self.ray.kill(self.workers.pop(worker), no_restart=True)

    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None, *,
                  run: RunRecord | None = None, policy_version: int = 0,
                  on_episode: Callable[[EpisodeRecord], None] | None = None) -> RolloutReport:
        """Run the scheduled episodes of ``tasks`` (as ``rollout`` schedules them).

        ``config.concurrency`` is the runner's, fixed at construction; ``run`` is
        created in the store if new (a new run by default). As in ``rollout``, each
        episode goes to ``on_episode`` as it comes back and the report keeps the
        episodes only with ``config.keep_results``: the driver's memory does not grow
        with the episodes that finished.
        """
        config = config or RolloutConfig()
        _check_local_only(config)
        await self.start()
        batch, total = new_id(), episode_count(tasks, config)

        def job(i: int) -> Job:
            return (f"{batch}-{i:06d}", *scheduled(tasks, config, i))

        run_id = await self._open_run(run or RunRecord(policy="ray"))
        settings = Settings(run_id, policy_version, config.sampling, config.episode_timeout_s)
        collector = Collector(total, config, on_episode=on_episode,
                              desc=f"{len(self.workers)} ray workers")
        chunks = Chunks(self, job, total, submit=lambda w, js: w.run.remote(js, settings),
                        probe=lambda w: w.pid.remote(), recorded=self._recorded,
                        finished=collector.add, chunk_size=self.ray_config.chunk_size,
                        dead_errors=(self.ray.exceptions.RayActorError,))
        stall = self.ray_config.stall_timeout_s or 2 * config.episode_timeout_s + 60
        try:
            await chunks.drive(math.ceil(self.per_worker / self.ray_config.chunk_size) + 1,
                               stall, self.ray_config.placement_timeout_s)
        finally:
            collector.close()
            chunks.discard()
        return collector.report(run_id)

    async def _open_run(self, run: RunRecord) -> str:
        if self.store_actor is not None:
            run_id: str = await self.store_actor.open_run.remote(run)
            return run_id
        return open_run(self.store, run) if self.store is not None else ""

    async def _recorded(self, episode_ids: list[str]) -> list[EpisodeRecord]:
        if self.store_actor is not None:
            found: list[EpisodeRecord] = await self.store_actor.stored.remote(episode_ids)
            return found
        return StoreServer.find(self.store, episode_ids) if self.store is not None else []

    async def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Give the shared policy new weights (needs ``serve_policy``)."""
        if self.server is None:
            raise ConfigError("Expects RayConfig(serve_policy=True) to load weights, actual: "
                              "each worker builds its own policy")
        await self.server.load_weights.remote(self.ray.put(state_dict))

    async def aclose(self) -> None:
        """Close the workers, then the policy and the store writer; idempotent."""
        if self.ray is None:
            return
        started = [h for w, h in self.workers.items() if w in self.ready]
        waiting = [h for w, h in self.workers.items() if w not in self.ready]
        await _shutdown(self.ray, started, [self.server, self.store_actor],
                        [*waiting, self._authority])
        self._authority = None
        self.workers.clear()
        self.ready.clear()
        self.ray = self.server = self.store_actor = None

    async def __aenter__(self) -> RayRunner:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


async def ray_rollout(
    make_env: Callable[[], WebResearchEnv],
    make_policy: Callable[[], Policy],
    tasks: Sequence[Task],
    config: RolloutConfig | None = None,
    ray_config: RayConfig | None = None,
    *,
    store: ReplayStore | None = None,
    run: RunRecord | None = None,
    policy_version: int = 0,
) -> RolloutReport:
    """Run the scheduled episodes on Ray worker actors; the Ray twin of ``rollout``.

    Starts a :class:`RayRunner` (workers, shared services), runs, and shuts it down;
    keep a runner instead to roll out many times.

    Args:
        make_env: Builds one env (called inside the workers; must pickle).
        make_policy: Builds the policy, in every worker or, with
            ``ray_config.serve_policy``, once in a shared actor.
        tasks, config: As for :func:`~webresearch.rollout.rollout`.
        ray_config: Cluster address, workers, chunking, policy serving, restarts.
        store: The replay store to record into (``None``: no recording).
        run: The run to record under (created if new; a new run by default).
        policy_version: Which weights produced the episodes.
    """
    config = config or RolloutConfig()
    async with RayRunner(make_env, make_policy, ray_config, concurrency=config.concurrency,
                         store=store) as runner:
        return await runner.run(tasks, config, run=run, policy_version=policy_version)


def _check_local_only(config: RolloutConfig) -> None:
    """A clear error for what only the local runner does, never a setting ignored.

    Example:
        >>> _check_local_only(RolloutConfig(budget_usd=1.0))
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects a RolloutConfig without budget_usd on Ray ...
    """
    for name in ("budget_usd", "adaptive"):
        value = getattr(config, name)
        if value not in (None, False):
            raise ConfigError(f"Expects a RolloutConfig without {name} on Ray workers (only "
                              f"the local runner enforces it), actual: {value!r}")


def _remote_policy_factory(server: Any, name: str, tokenizer: Any) -> Callable[[], Policy]:
    def make() -> Policy:
        return RemotePolicy(server, name, tokenizer)

    return make


def _pinned(node: str) -> dict[str, Any]:
    """Actor options that place it on ``node`` and nowhere else."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}


async def _shutdown(ray: Any, workers: list[Any], services: list[Any], others: list[Any],
                    timeout_s: float = 30.0) -> None:
    """Close the workers (together), then each service (the store last: it flushes), and
    end them all; ``others`` (workers never placed, the authority) are only ended."""

    async def close(actors: list[Any]) -> None:
        closing = [asyncio.ensure_future(actor.aclose.remote()) for actor in actors]
        if not closing:
            return
        done, pending = await asyncio.wait(closing, timeout=timeout_s)
        for future in pending:
            future.cancel()
        for future in done:
            if future.exception() is not None:
                logger.warning("an actor did not close cleanly: %s",
                               type(future.exception()).__name__)
        if pending:
            logger.warning("%d actors did not close within %g s", len(pending), timeout_s)

    await close(workers)
    for service in services:
        if service is not None:
            await close([service])
    for actor in [*workers, *services, *others]:
        if actor is not None:
            ray.kill(actor, no_restart=True)
