"""Thousands of concurrent episodes against the simulated web over loopback HTTP.

Starts ``webresearch serve-web`` in its own process with ``--latency-ms`` (200 by
default) on every request, then measures in this run:

- ``bare``: ``--episodes`` coroutines, each looping aiohttp GETs of the same mix of
  search and page URLs the episodes make, for ``--bare-s`` seconds: requests/s, the
  physical limit of one client process here;
- ``runner``: the rollout runner with ``--episodes`` episodes in flight (oracle policy,
  ``web="live:searxng"`` at the server, no web cache so every step is a request, every
  episode recorded in a replay store): env steps/s, and ``ratio`` = steps/s / bare
  requests/s;
- ``vector`` (``--vector N``): the same workload through ``gymnasium.vector.
  AsyncVectorEnv`` with N subprocesses, the peer baseline;
- ``ray`` (``--ray 1,2``): the Ray runner with that many worker actors.

Usage: ``python benchmarks/concurrency.py [--episodes 4096] [--vector 32] [--ray 1,2]``;
the last line is one JSON object (``episodes``, ``steps_per_s``, ``bare_rps``,
``ratio``, ``peak_rss_mb``, ``errors`` and the baselines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import aiohttp

from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.safety import UrlPolicy
from webresearch.policies.scripted import OraclePolicy
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.server import served_tasks
from webresearch.sim.sim_web import SimWeb
from webresearch.tasks import Task


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sim_server(latency_ms: float, extra: Sequence[str] = ()) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "serve-web", "--port",
                               str(port), "--latency-ms", str(latency_ms), *extra],
                              stdout=subprocess.PIPE)
    assert server.stdout is not None
    server.stdout.readline()  # "serving ..." once it listens
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.communicate(timeout=10)


def web_config(base: str, connections: int) -> LiveWebConfig:
    """The live backend at the loopback server: no cache, no politeness delays."""
    http = HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",)), max_per_host=connections,
                      max_connections=connections)
    return LiveWebConfig(engine="searxng", endpoint=f"{base}/searxng", api_key="test-key",
                         cache_dir=None, http=http, respect_robots=False,
                         host_rate=Rate(per_second=1e9, burst=10**9),
                         search_rate=Rate(per_second=1e9, burst=10**9))


def sim_tasks(base: str) -> list[Task]:
    """The sim's default tasks, their supporting pages at the loopback server's URLs."""
    return served_tasks(SimWeb().default_tasks(), base)


def request_mix(base: str) -> list[str]:
    """The URLs oracle episodes ask for, over every task: searches and pages."""
    urls = []
    for task in sim_tasks(base):
        for page in task.supporting:
            urls.append(f"{base}/searxng/search?q={page.title}&format=json")
            urls.append(page.url)
    return urls


async def bare(base: str, concurrency: int, seconds: float) -> float:
    """Requests/s of ``concurrency`` coroutines looping GETs for ``seconds``."""
    urls = request_mix(base)
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def loop(i: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(urls[(i + done) % len(urls)]) as response:
                    await response.read()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(concurrency)))
        return done / (time.perf_counter() - start)


async def runner(base: str, episodes: int, concurrency: int, store_dir: str) -> dict[str, Any]:
    tasks = sim_tasks(base)
    config = web_config(base, concurrency)
    webs: list[LiveWeb] = []

    def make_env() -> WebResearchEnv:
        webs.append(LiveWeb(config))
        return WebResearchEnv(tasks=tasks, web=webs[-1], date="2026-01-01")

    policy = OraclePolicy(tasks)
    with ReplayStore(store_dir) as store:
        report = await rollout(make_env, policy, tasks,
                               RolloutConfig(keep_results=True,
                                             episodes=episodes, concurrency=concurrency,
                                             episode_timeout_s=600, progress=False),
                               store=store)
        recorded = store.count(report.run_id)
    for web in webs:
        await web.aclose()
    steps = sum(len(r.steps) for r in report.results)
    calls = sum(len(s.web) for r in report.results for s in r.steps)
    errors = sum(r.status in ("error", "timeout") for r in report.results)
    return {"episodes": len(report.results), "recorded": recorded, "steps": steps,
            "web_calls": calls, "seconds": report.seconds, "steps_per_s": steps / report.seconds,
            "web_calls_per_s": calls / report.seconds, "errors": errors,
            "mean_f1": sum(r.f1 for r in report.results) / len(report.results)}


class LiveEnvFactory:
    """Builds envs on the live web at the server (picklable, for subprocesses and Ray)."""

    def __init__(self, base: str, connections: int) -> None:
        self.tasks = sim_tasks(base)
        self.config = web_config(base, connections)

    def __call__(self) -> WebResearchEnv:
        return WebResearchEnv(tasks=self.tasks, web=LiveWeb(self.config), date="2026-01-01")


def vector(base: str, n_envs: int, seconds: float) -> dict[str, Any]:
    """The peer baseline: AsyncVectorEnv, one subprocess per env, every step a barrier."""
    import gymnasium as gym

    tasks = sim_tasks(base)
    policy = OraclePolicy(tasks)
    envs = gym.vector.AsyncVectorEnv([LiveEnvFactory(base, 4)] * n_envs, shared_memory=False,
                                     context="spawn")
    try:
        observations, _ = envs.reset(seed=0)
        conversations = [[{"role": "user", "content": o}] for o in observations]
        fresh = [False] * n_envs
        steps = episodes = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            # an env that just ended resets on this step and ignores its action
            actions = ["" if fresh[i] else policy.act(c) for i, c in enumerate(conversations)]
            observations, _, terminated, truncated, _ = envs.step(actions)
            for i in range(n_envs):
                if fresh[i]:  # this step was the autoreset: a new episode begins
                    conversations[i] = [{"role": "user", "content": observations[i]}]
                    fresh[i] = False
                    continue
                steps += 1
                conversations[i] += [{"role": "assistant", "content": actions[i]},
                                     {"role": "user", "content": observations[i]}]
                if terminated[i] or truncated[i]:
                    episodes += 1
                    fresh[i] = True
        elapsed = time.perf_counter() - start
    finally:
        envs.close()
    return {"envs": n_envs, "steps": steps, "episodes": episodes, "seconds": elapsed,
            "steps_per_s": steps / elapsed}


def ray_runs(base: str, episodes: int, concurrency: int, workers: int, store_dir: str
             ) -> dict[str, Any]:
    from webresearch.distributed import RayConfig, ray_rollout

    tasks = sim_tasks(base)
    factory = LiveEnvFactory(base, math.ceil(concurrency / workers))

    def policy() -> OraclePolicy:
        return OraclePolicy(tasks)

    with ReplayStore(store_dir) as store:
        report = asyncio.run(ray_rollout(
            factory, policy, tasks,
            RolloutConfig(keep_results=True,
                          episodes=episodes, concurrency=concurrency, episode_timeout_s=600,
                          progress=False),
            RayConfig(workers=workers, chunk_size=64), store=store))
    steps = sum(len(r.steps) for r in report.results)
    return {"workers": workers, "episodes": len(report.results), "seconds": report.seconds,
            "steps_per_s": steps / report.seconds,
            "errors": sum(r.status in ("error", "timeout") for r in report.results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4096, help="episodes in flight")
    parser.add_argument("--rounds", type=int, default=2, help="episodes per slot")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--bare-s", type=float, default=10.0)
    parser.add_argument("--vector", type=int, default=0,
                        help="also run AsyncVectorEnv with this many subprocesses")
    parser.add_argument("--vector-s", type=float, default=20.0)
    parser.add_argument("--ray", default="", help="also run Ray with these worker counts: 1,2")
    args = parser.parse_args()
    report: dict[str, Any] = {"episodes": args.episodes, "latency_ms": args.latency_ms}
    with sim_server(args.latency_ms) as base, tempfile.TemporaryDirectory() as tmp:
        report["bare_rps"] = asyncio.run(bare(base, args.episodes, args.bare_s))
        print(f"bare aiohttp: {report['bare_rps']:,.0f} requests/s", flush=True)
        run = asyncio.run(runner(base, args.episodes * args.rounds, args.episodes, tmp))
        print(f"runner: {run['steps_per_s']:,.0f} steps/s, {run['web_calls_per_s']:,.0f} web "
              f"calls/s ({run['episodes']} episodes, mean F1 {run['mean_f1']:.3f}, "
              f"{run['errors']} errors, {run['recorded']} recorded)", flush=True)
        report.update(steps_per_s=run["steps_per_s"], errors=run["errors"],
                      ratio=run["steps_per_s"] / report["bare_rps"], runner=run)
        report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if args.vector:
            vec = vector(base, args.vector, args.vector_s)
            vec["ratio"] = vec["steps_per_s"] / report["bare_rps"]
            report["vector"] = vec
            print(f"AsyncVectorEnv x{args.vector}: {vec['steps_per_s']:,.0f} steps/s "
                  f"(ratio {vec['ratio']:.2f})", flush=True)
        for workers in (int(w) for w in args.ray.split(",") if w):
            out = ray_runs(base, args.episodes * args.rounds, args.episodes, workers,
                           tempfile.mkdtemp(dir=tmp))
            out["vs_runner"] = out["steps_per_s"] / run["steps_per_s"]
            report[f"ray_{workers}"] = out
            print(f"Ray x{workers}: {out['steps_per_s']:,.0f} steps/s ({out['vs_runner']:.2f} "
                  f"of the single-process runner, {out['errors']} errors)", flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
