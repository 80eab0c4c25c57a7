"""The Ray runner on a real multi-node cluster (three raylets on loopback): nodes that die."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_rate_held
from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.safety import UrlPolicy
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams
from webresearch.policies.scripted import OraclePolicy
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig
from webresearch.sim.server import SimInternet, served_tasks
from webresearch.sim.sim_web import SimWeb

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")

from webresearch.distributed import LocalCluster, RayConfig, RayRunner, ray_rollout  # noqa: E402
from webresearch.distributed.cluster import node_id  # noqa: E402
from webresearch.distributed.guardian import guard, marked  # noqa: E402

TASKS = SimWeb().default_tasks()[:40]
DEADLINE_S = 120.0
"""A safety net for waits on a busy machine, never a pace."""


@dataclass(frozen=True)
class Three:
    """A cluster of three nodes of one CPU each: the head (the driver's), one with a
    ``policy`` resource, one plain (the one the node-death test removes)."""

    local: LocalCluster
    policy: Any
    plain: Any

    @property
    def address(self) -> str:
        return self.local.address


@pytest.fixture(scope="module")
def cluster() -> Iterator[Three]:
    if ray.is_initialized():
        ray.shutdown()
    local = LocalCluster(head_cpus=1)
    try:
        three = Three(local, local.add_node(num_cpus=1, resources={"policy": 1}),
                      local.add_node(num_cpus=1))
        local.connect()
        yield three
    finally:
        local.shutdown()
        _, token = guard()
        deadline = time.monotonic() + DEADLINE_S
        while marked(token) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marked(token) == [], "a raylet, GCS or worker outlived the cluster"


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def mark(directory: Path) -> None:
    """Leave ``<node id>-<pid>`` in ``directory``: which node and process ran this."""
    (directory / f"{node_id()}-{os.getpid()}").touch()


def nodes_in(directory: Path) -> set[str]:
    return {path.name.split("-")[0] for path in directory.iterdir()}


def sim_env(where: Path) -> WebResearchEnv:
    mark(where)
    return WebResearchEnv(tasks=TASKS, date="2026-01-01")


class CountingOracle(OraclePolicy):
    """The oracle, thinking ``delay_s`` per action and leaving one byte per action in
    ``progress/<node id>``: how far each node has got."""

    def __init__(self, progress: Path, delay_s: float) -> None:
        super().__init__(TASKS)
        self.progress, self.delay_s = progress, delay_s

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        await asyncio.sleep(self.delay_s)
        with (self.progress / node_id()).open("ab") as file:
            file.write(b".")
        return await super().generate(prompts, sampling)


async def rollout_on_every_worker(make_env: Any, make_policy: Any, tasks: Sequence[Any],
                                  config: RolloutConfig, ray_config: RayConfig,
                                  store: ReplayStore | None = None) -> Any:
    """``ray_rollout``, once every worker runs."""
    async with RayRunner(make_env, make_policy, ray_config, concurrency=config.concurrency,
                         store=store) as runner:
        await all_started(runner)
        return await runner.run(tasks, config)


async def all_started(runner: RayRunner) -> None:
    """Wait until every worker runs: the first to start would take all of a small run."""
    pids = asyncio.gather(*(w.pid.remote() for w in runner.workers.values()))
    await asyncio.wait_for(pids, DEADLINE_S)


def open_files(pid: int) -> list[str]:
    """The paths ``pid`` holds open."""
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(str(fd.readlink()))
        except OSError:
            continue
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads open files through /proc")
def test_the_store_lives_on_the_drivers_node_only(cluster: Three, tmp_path: Path) -> None:
    where = tmp_path / "ran"
    where.mkdir()
    store = tmp_path / "store"
    config = RolloutConfig(keep_results=True, episodes=48, concurrency=12, progress=False)

    def oracle() -> Policy:
        return OraclePolicy(TASKS)

    async def scenario() -> tuple[Any, list[list[str]], list[str], str]:
        async with RayRunner(functools.partial(sim_env, where), oracle,
                             RayConfig(address=cluster.address, workers=3, chunk_size=4),
                             concurrency=12, store=driver_store) as runner:
            await all_started(runner)
            report = await runner.run(TASKS, config)
            assert runner.store_actor is not None, "auto chose workers writing on a cluster"
            workers = [open_files(await w.pid.remote()) for w in runner.workers.values()]
            writer = open_files(await runner.store_actor.pid.remote())
            return report, workers, writer, await runner.store_actor.node.remote()

    with ReplayStore(store) as driver_store:
        report, workers, writer, writer_node = asyncio.run(scenario())
    assert writer_node == node_id() == LocalCluster.node_id(cluster.local.head)
    assert len(nodes_in(where)) == 3  # a worker on every node ran episodes
    inside = str(store.resolve())
    assert any(path.startswith(inside) for path in writer)  # the check sees an open store
    for files in workers:
        assert not [p for p in files if p.startswith(inside)], "a worker opened the store"
    with ReplayStore(store) as s:
        stored = [e.episode_id for e in s.episodes(report.run_id)]
    assert sorted(stored) == sorted(r.episode_id for r in report.results)
    assert len(stored) == 48


def test_host_rate_limit_holds_across_three_nodes(cluster: Three, tmp_path: Path) -> None:
    rate = 8.0
    where = tmp_path / "ran"
    where.mkdir()

    async def scenario() -> list[float]:
        async with SimInternet() as net:
            tasks = served_tasks(TASKS[:18], net.base_url)
            config = LiveWebConfig(
                engine="searxng", endpoint=net.base_url + "/searxng", api_key="test-key",
                http=HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",))),
                cache_dir=None, respect_robots=False,
                host_rate=Rate(per_second=rate, burst=1),
                search_rate=Rate(per_second=1000.0, burst=1000))

            def env() -> WebResearchEnv:
                mark(where)
                return WebResearchEnv(tasks=tasks, web=LiveWeb(config), date="2026-01-01")

            def policy() -> Policy:
                return OraclePolicy(tasks)

            report = await rollout_on_every_worker(
                env, policy, tasks,
                RolloutConfig(keep_results=True, concurrency=18, progress=False),
                RayConfig(address=cluster.address, workers=3, chunk_size=2))
            assert {r.f1 for r in report.results} == {1.0}
            return [r.time for r in net.log if r.path.startswith("/wiki/")]

    times = asyncio.run(scenario())
    assert len(nodes_in(where)) == 3
    assert len(times) >= 18
    assert_rate_held(times, rate)


class LoggedPolicy(Policy):
    """A policy that leaves every completion's token ids and log-probs in ``log``."""

    def __init__(self, inner: Policy, log: Path) -> None:
        self.inner, self.log = inner, log
        self.name, self.tokenizer = inner.name, inner.tokenizer
        (log / f"server-{node_id()}").touch()

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        completions = await self.inner.generate(prompts, sampling)
        (self.log / f"{uuid.uuid4().hex}.json").write_text(json.dumps(
            [[c.token_ids, c.logprobs] for c in completions]))
        return completions


def test_policy_server_placed_by_resource_serves_other_nodes(
        cluster: Three, tmp_path: Path, tiny_model: Path) -> None:
    log, where = tmp_path / "log", tmp_path / "ran"
    log.mkdir()
    where.mkdir()

    def policy() -> Policy:
        import torch

        from webresearch.policies.hf import HFPolicy

        torch.set_num_threads(1)
        return LoggedPolicy(HFPolicy(str(tiny_model)), log)

    config = RolloutConfig(keep_results=True, episodes=6, concurrency=6, progress=False,
                           sampling=SamplingParams(max_tokens=8))
    report = asyncio.run(rollout_on_every_worker(
        functools.partial(sim_env, where), policy, TASKS, config,
        RayConfig(address=cluster.address, workers=3, chunk_size=1, serve_policy=True,
                  policy_resources={"policy": 1})))
    (server,) = [p.name.split("-", 1)[1] for p in log.glob("server-*")]
    assert server == LocalCluster.node_id(cluster.policy)
    assert nodes_in(where) - {server}, "no worker on another node reached the server"
    served = {json.dumps(pair) for p in log.glob("*.json") for pair in json.loads(p.read_text())}
    assert len(report.results) == 6
    for episode in report.results:
        assert episode.token_ids is not None and episode.loss_mask is not None
        sampled = [t for t, m in zip(episode.token_ids, episode.loss_mask, strict=True) if m]
        assert sampled == [t for step in episode.steps for t in step.token_ids or ()]
        for step in episode.steps:
            assert json.dumps([list(step.token_ids or ()), list(step.logprobs or ())]) in served


def test_a_node_that_dies_mid_run_loses_nothing_and_a_new_node_gets_work(
        cluster: Three, tmp_path: Path) -> None:
    progress, where = tmp_path / "progress", tmp_path / "ran"
    progress.mkdir()
    where.mkdir()
    victim_id = LocalCluster.node_id(cluster.plain)
    reports: list[Any] = []
    failures: list[BaseException] = []

    def roll() -> None:  # in a thread: Ray starts a node from the main thread only
        try:
            config = RolloutConfig(keep_results=True, episodes=300, concurrency=12, progress=False)
            with ReplayStore(tmp_path / "store") as store:
                reports.append(asyncio.run(ray_rollout(
                    functools.partial(sim_env, where), slow, TASKS, config,
                    RayConfig(address=cluster.address, workers=3, chunk_size=4),
                    store=store)))
        except BaseException as exc:
            failures.append(exc)

    def slow() -> Policy:
        return CountingOracle(progress, delay_s=0.1)

    thread = threading.Thread(target=roll)
    thread.start()
    try:
        victim_log = progress / victim_id
        wait_for(lambda: (victim_log.exists() and victim_log.stat().st_size >= 12) or failures,
                 "the victim node to run episodes")
        cluster.local.remove_node(cluster.plain)
        joined = LocalCluster.node_id(cluster.local.add_node(num_cpus=1))
    finally:
        thread.join(timeout=10 * DEADLINE_S)
    assert not failures, failures
    (report,) = reports
    ids = [r.episode_id for r in report.results]
    assert len(ids) == len(set(ids)) == 300 and {r.f1 for r in report.results} == {1.0}
    with ReplayStore(tmp_path / "store") as store:
        stored = [e.episode_id for e in store.episodes(report.run_id)]
        assert store.count(report.run_id) == 300
    assert sorted(stored) == sorted(ids)
    assert (progress / joined).exists(), "the node that joined got no work"
