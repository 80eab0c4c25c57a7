"""The Ray runner on a local, loopback-only Ray: workers, the shared services, faults."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
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
from webresearch.tasks import Task

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")

from webresearch.distributed import RayConfig, init_ray, ray_rollout  # noqa: E402

TASKS = SimWeb().default_tasks()[:40]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    init_ray(num_cpus=2)
    yield
    ray.shutdown()


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1 or IPv4-mapped 127.x (never 0.0.0.0, :: or the machine's address)."""
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_a_local_ray_listens_on_loopback_only() -> None:
    """Every socket that this process and the Ray processes it started listen on is loopback
    (the machine's other addresses would open the cluster to its network)."""
    import psutil

    me = psutil.Process()
    ray_processes = [me, *me.children(recursive=True)]
    listening = {(p.pid, c.laddr.ip) for p in ray_processes
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    names = {p.name() for p in ray_processes}
    assert {"gcs_server", "raylet"} <= names, names  # the check covers Ray's servers
    assert len(listening) >= 3  # the GCS, the raylet and this driver's worker at least
    assert all(is_loopback(ip) for _, ip in listening), listening
    assert ray.util.get_node_ip_address() == "127.0.0.1"


def sim_env() -> WebResearchEnv:
    return WebResearchEnv(tasks=TASKS, date="2026-01-01")


def recording_env(pids: Path) -> WebResearchEnv:
    """A sim env that leaves its process id in ``pids``: which workers ran episodes."""
    (pids / str(os.getpid())).touch()
    return sim_env()


def oracle() -> Policy:
    return OraclePolicy(TASKS)


class SlowOracle(OraclePolicy):
    """The oracle, thinking for ``delay_s`` before each action."""

    def __init__(self, tasks: Sequence[Task], delay_s: float) -> None:
        super().__init__(tasks)
        self.delay_s = delay_s

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        await asyncio.sleep(self.delay_s)
        return await super().generate(prompts, sampling)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_episode_runs_once_and_is_recorded_once(workers: int, tmp_path: Path) -> None:
    config = RolloutConfig(keep_results=True, episodes=60, group_size=3, concurrency=8,
                           progress=False)
    with ReplayStore(tmp_path) as store:
        report = asyncio.run(ray_rollout(sim_env, oracle, TASKS, config,
                                         RayConfig(workers=workers, chunk_size=4), store=store))
        stored = list(store.episodes(report.run_id))
    assert len(report.results) == 60
    assert {r.f1 for r in report.results} == {1.0}
    assert [r.group for r in report.results[:6]] == [0, 1, 2, 0, 1, 2]
    assert sorted(e.episode_id for e in stored) == sorted(r.episode_id for r in report.results)


def test_the_driver_streams_episodes_and_keeps_none_by_default(tmp_path: Path) -> None:
    """Without ``keep_results`` the driver hands each episode to ``on_episode`` and keeps
    only running totals: its memory does not grow with the finished episodes."""
    from webresearch.distributed import RayRunner
    from webresearch.errors import StateError

    seen: list[str] = []
    config = RolloutConfig(episodes=24, concurrency=8, progress=False)

    async def run(store: ReplayStore) -> Any:
        async with RayRunner(sim_env, oracle, RayConfig(workers=1, chunk_size=4),
                             concurrency=8, store=store) as runner:
            return await runner.run(TASKS, config, on_episode=lambda e: seen.append(e.episode_id))

    with ReplayStore(tmp_path) as store:
        report = asyncio.run(run(store))
    assert len(seen) == len(set(seen)) == 24 and report.summary.episodes == 24
    assert report.kept is None
    with pytest.raises(StateError, match="keep_results=True"):
        _ = report.results
    with ReplayStore(tmp_path) as store:
        assert sorted(e.episode_id for e in store.episodes(report.run_id)) == sorted(seen)


@pytest.mark.parametrize("store_writer", ["workers", "actor"])
def test_a_killed_worker_loses_nothing_and_records_nothing_twice(tmp_path: Path,
                                                                 store_writer: str) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    env = functools.partial(recording_env, pids)

    def slow() -> Policy:
        return SlowOracle(TASKS, delay_s=0.05)

    store = tmp_path / "store"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(pids.iterdir())) < 2:
            time.sleep(0.05)
        time.sleep(1.0)  # let both workers record some episodes
        victim = int(sorted(pids.iterdir())[0].name)
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    thread = threading.Thread(target=killer)
    thread.start()
    config = RolloutConfig(keep_results=True, episodes=160, concurrency=16, progress=False)
    with ReplayStore(store) as s:
        report = asyncio.run(ray_rollout(env, slow, TASKS, config, RayConfig(
            workers=2, chunk_size=4, store_writer=store_writer), store=s))
    thread.join()
    assert killed, "the test never killed a worker"
    assert len(report.results) == 160 and {r.f1 for r in report.results} == {1.0}
    ids = [r.episode_id for r in report.results]
    assert len(set(ids)) == 160
    with ReplayStore(store) as s:
        stored = [e.episode_id for e in s.episodes(report.run_id)]
    assert sorted(stored) == sorted(ids)
    assert len(list(pids.iterdir())) >= 3  # a replacement worker started


def test_host_rate_limit_holds_across_workers() -> None:
    rate = 8.0

    async def scenario() -> list[float]:
        async with SimInternet() as net:
            tasks = served_tasks(TASKS[:24], net.base_url)
            config = LiveWebConfig(
                engine="searxng", endpoint=net.base_url + "/searxng", api_key="test-key",
                http=HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",))),
                cache_dir=None, respect_robots=False,
                host_rate=Rate(per_second=rate, burst=1),
                search_rate=Rate(per_second=1000.0, burst=1000))

            def env() -> WebResearchEnv:
                return WebResearchEnv(tasks=tasks, web=LiveWeb(config), date="2026-01-01")

            def policy() -> Policy:
                return OraclePolicy(tasks)

            report = await ray_rollout(env, policy, tasks,
                                       RolloutConfig(keep_results=True, concurrency=12,
                                                     progress=False),
                                       RayConfig(workers=2, chunk_size=2))
            assert {r.f1 for r in report.results} == {1.0}
            return [r.time for r in net.log if r.path.startswith("/wiki/")]

    times = asyncio.run(scenario())
    assert len(times) >= 24
    assert_rate_held(times, rate)


def test_served_policy_is_built_once_and_shared(tmp_path: Path) -> None:
    marks = tmp_path / "built"
    marks.mkdir()

    def policy() -> Policy:
        (marks / str(os.getpid())).touch()
        return OraclePolicy(TASKS)

    config = RolloutConfig(keep_results=True, episodes=40, concurrency=8, progress=False)
    report = asyncio.run(ray_rollout(sim_env, policy, TASKS, config,
                                     RayConfig(workers=2, chunk_size=4, serve_policy=True)))
    assert len(report.results) == 40 and {r.f1 for r in report.results} == {1.0}
    assert len(list(marks.iterdir())) == 1


def test_served_tiny_model_assembles_tokens(tiny_model: Path) -> None:
    def policy() -> Policy:
        import torch

        from webresearch.policies.hf import HFPolicy

        torch.set_num_threads(1)
        return HFPolicy(str(tiny_model))

    config = RolloutConfig(keep_results=True, episodes=4, concurrency=4, progress=False,
                           sampling=SamplingParams(max_tokens=8))
    report = asyncio.run(ray_rollout(sim_env, policy, TASKS, config,
                                     RayConfig(workers=2, chunk_size=1, serve_policy=True)))
    assert len(report.results) == 4
    for episode in report.results:
        assert episode.token_ids and episode.loss_mask and 1 in episode.loss_mask
        assert len(episode.token_ids) == len(episode.loss_mask)


def test_bad_ray_config_is_a_clear_error() -> None:
    from webresearch.errors import ConfigError

    with pytest.raises(ConfigError, match="workers >= 1"):
        RayConfig(workers=0)
    with pytest.raises(ConfigError, match="store_writer"):
        RayConfig(store_writer="driver")


def max_logprob_gap(model: object, episodes: Sequence[object]) -> float:
    """The largest gap between the log-probs recorded with the sampled tokens and those of
    ``model`` over the same ids (temperature 1): ~1e-6 when ``model`` sampled them."""
    import torch

    gaps = []
    for episode in episodes:
        ids, mask, logprobs = episode.token_ids, episode.loss_mask, episode.logprobs  # type: ignore[attr-defined]
        assert ids and logprobs and 1 in mask
        with torch.no_grad():
            logits = model(torch.tensor([list(ids)])).logits[0].float()  # type: ignore[operator]
        scores = torch.log_softmax(logits[:-1], dim=-1).gather(
            -1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
        gaps += [abs(scores[i - 1].item() - logprobs[i]) for i, m in enumerate(mask) if m]
    return max(gaps)


def test_a_runner_serves_many_rollouts_and_loads_weights(tiny_model: Path,
                                                         tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from webresearch.distributed import RayRunner
    from webresearch.errors import ConfigError, PolicyError

    pids = tmp_path / "pids"
    pids.mkdir()
    env = functools.partial(recording_env, pids)

    def policy() -> Policy:
        import torch

        from webresearch.policies.hf import HFPolicy

        torch.set_num_threads(1)
        return HFPolicy(str(tiny_model))

    old = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    new = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights the served policy does not have yet
        for parameter in new.parameters():
            parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    config = RolloutConfig(keep_results=True, episodes=4, concurrency=4, progress=False,
                           sampling=SamplingParams(temperature=1.0, max_tokens=4))

    async def scenario() -> tuple[list[object], list[object]]:
        with ReplayStore(tmp_path / "store") as store:
            async with RayRunner(env, policy, RayConfig(workers=2, chunk_size=1,
                                                        serve_policy=True),
                                 concurrency=4, store=store) as runner:
                first = await runner.run(TASKS, config)
                await runner.load_weights(new.state_dict())
                second = await runner.run(TASKS, config, policy_version=1)
            versions = {e.policy_version for e in store.episodes()
                        if e.episode_id in {r.episode_id for r in second.results}}
        assert versions == {1}  # recorded with the version the caller gave
        return list(first.results), list(second.results)

    first, second = asyncio.run(scenario())
    assert (len(first), len(second)) == (4, 4)
    assert len(list(pids.iterdir())) == 2  # the same two workers served both rollouts
    assert max_logprob_gap(old, first) < 1e-4 < 1e-2 < max_logprob_gap(new, first)
    assert max_logprob_gap(new, second) < 1e-4 < 1e-2 < max_logprob_gap(old, second)

    async def unserved() -> None:
        async with RayRunner(sim_env, oracle, RayConfig(workers=1)) as runner:
            await runner.load_weights({})

    with pytest.raises(ConfigError, match="serve_policy=True"):
        asyncio.run(unserved())

    async def scripted() -> None:
        async with RayRunner(sim_env, oracle, RayConfig(workers=1, serve_policy=True)) as r:
            await r.load_weights({})

    with pytest.raises(PolicyError, match="cannot"):
        asyncio.run(scripted())


def test_a_policy_that_cannot_load_leaves_no_actors_behind() -> None:
    from webresearch.distributed import RayRunner
    from webresearch.errors import ConfigError

    def broken() -> Policy:
        raise ConfigError("Expects a model directory, actual: none")

    async def scenario() -> None:
        async with RayRunner(sim_env, broken, RayConfig(workers=1, serve_policy=True)):
            pass

    with pytest.raises(Exception, match="Expects a model directory"):
        asyncio.run(scenario())
    named = ray.util.list_named_actors(all_namespaces=True)
    assert not [a for a in named if a["name"].startswith("webresearch-rate-")]
