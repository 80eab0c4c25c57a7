"""Long horizons: 128-turn episodes with ~150k-token transcripts, many in flight, beside short ones.

A scripted long policy (:class:`~webresearch.policies.scripted.LongPolicy`) searches and
browses the simulated web for ``--turns`` tool calls and then answers; ``--long`` such
episodes run at once (the env's ``max_turns`` is ``--turns``, its observations cut
at the default ``max_observation_chars``). Each action waits ``--think-ms`` (a model
server's latency) and each web call ``--web-ms`` (the web's), so the run is I/O-bound
as a real one is. Short episodes (``--short-turns`` tool calls) run first alone, then
again beside the long ones once those are three quarters through (their transcripts
near full length): the two p95s of their wall time say whether the long ones stall
them. A thread-free sampler reads this process's resident memory every 0.2 s.

Afterwards the long episodes are read back from the replay store (checked whole),
written again to a fresh store (timed), and the viewer serves one of them on loopback
(timed: its episode JSON and its run's first paint).

    python benchmarks/long_horizon.py [--long 32] [--short 16] [--turns 127]

The last line is one JSON object: ``episodes``, ``turns`` (steps of each long episode),
``transcript_chars`` and ``transcript_tokens_est`` (chars / 4) per long episode (mean),
``rss_base_mb``, ``rss_peak_mb``, ``rss_per_long_episode_mb`` ((peak - base) / long),
``step_latency_p50_ms`` / ``p95_ms`` (the env's time per step of the long episodes) and
``step_latency_late_p95_ms`` (turns past three quarters), ``short_episode_p95_s_alone``
and ``short_episode_p95_s_beside_long``, ``store_write_s`` (all long episodes, fresh
store), ``store_read_s``, ``episode_json_mb``, ``viewer_render_ms`` (the episode's
JSON from the viewer) and ``viewer_index_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webresearch.envs.config import EnvConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import ChatMessage
from webresearch.policies.scripted import LongPolicy
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.sim_web import SimWeb
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchResults, WebBackend

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux /proc; else the peak so far)."""
    try:
        return int(Path("/proc/self/statm").read_text("ascii").split()[1]) * _PAGE / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SlowWeb(WebBackend):
    """A backend that answers as ``inner`` does, ``delay_s`` later (a web's latency)."""

    def __init__(self, inner: WebBackend, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        await asyncio.sleep(self.delay_s)
        return await self.inner.search(query, k=k)

    async def fetch(self, url: str) -> Page:
        await asyncio.sleep(self.delay_s)
        return await self.inner.fetch(url)

    def default_tasks(self) -> list[Task] | None:
        return self.inner.default_tasks()


class Paced(LongPolicy):
    """A :class:`LongPolicy` that counts its actions and says when ``mark`` are done."""

    def __init__(self, turns: int, *, think_s: float, mark: int) -> None:
        super().__init__(turns, think_s=think_s)
        self.actions, self.mark, self.reached = 0, mark, asyncio.Event()

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        self.actions += 1
        if self.actions >= self.mark:
            self.reached.set()
        return super().act(conversation)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def sample_rss(peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def short_wave(make_env: Any, tasks: Sequence[Task], args: argparse.Namespace,
                     store: ReplayStore, name: str) -> list[float]:
    """Run the short episodes at once; return each one's wall time."""
    seconds: list[float] = []
    await rollout(make_env, LongPolicy(args.short_turns, think_s=args.think_ms / 1000),
                  tasks, RolloutConfig(concurrency=len(tasks), progress=False), store=store,
                  run=RunRecord(run_id=name, policy="long", notes=name),
                  on_episode=lambda e: seconds.append(e.seconds))
    return seconds


async def run_load(args: argparse.Namespace, store: ReplayStore) -> dict[str, Any]:
    web = SlowWeb(SimWeb(), args.web_ms / 1000)
    tasks = WebResearchEnv(web=web).tasks
    long_tasks, short_tasks = tasks[:args.long], tasks[args.long:args.long + args.short]

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web=web, tasks=tasks, max_turns=args.turns, top_k=args.top_k)

    alone = await short_wave(make_env, short_tasks, args, store, "short-alone")
    base = rss_mb()
    peak, stop = [base], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(peak, stop))
    policy = Paced(args.turns, think_s=args.think_ms / 1000, mark=args.long * args.turns * 3 // 4)
    timeout = 4 * (args.turns + 1) * (args.think_ms + 2 * args.web_ms + 50) / 1000
    longs = asyncio.create_task(rollout(
        make_env, policy, long_tasks, RolloutConfig(concurrency=args.long, progress=False,
                                                    episode_timeout_s=max(300.0, timeout)),
        store=store, run=RunRecord(run_id="long", policy="long", notes="long horizon")))
    await asyncio.wait([longs, asyncio.create_task(policy.reached.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    beside = await short_wave(make_env, short_tasks, args, store, "short-beside")
    await longs
    stop.set()
    await sampler
    return {"alone": alone, "beside": beside, "base": base, "peak": peak[0]}


def transcript_chars(episode: EpisodeRecord) -> int:
    return sum(len(m["content"]) for m in episode.messages())


def store_figures(store: ReplayStore,
                  directory: Path) -> tuple[list[EpisodeRecord], dict[str, Any]]:
    """The long episodes read back (timed), then written to a fresh store (timed, checked)."""
    start = time.perf_counter()
    longs = list(store.episodes("long"))
    read_s = time.perf_counter() - start
    with ReplayStore(directory / "copy") as copy:
        copy.create_run(store.run("long"))
        start = time.perf_counter()
        for episode in longs:
            copy.append([episode])
        write_s = time.perf_counter() - start
        intact = all(copy.episode(e.episode_id).to_json() == e.to_json() for e in longs)
    return longs, {"store_read_s": round(read_s, 3), "store_write_s": round(write_s, 3),
                   "store_intact": intact}


async def viewer_figures(store: ReplayStore, episode_id: str) -> dict[str, Any]:
    from aiohttp import ClientSession, web

    from webresearch.replay.viewer import create_viewer

    runner = web.AppRunner(create_viewer(store))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ClientSession() as session:
            start = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}/api/episode/{episode_id}") as r:
                body = await r.read()
                steps = len(json.loads(body)["steps"]) if r.status == 200 else -1
            episode_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}/?run=long") as r:
                index_ok = r.status == 200 and "long" in await r.text()
            index_ms = (time.perf_counter() - start) * 1000
    finally:
        await runner.cleanup()
    return {"viewer_render_ms": round(episode_ms, 1), "viewer_index_ms": round(index_ms, 1),
            "episode_json_mb": round(len(body) / 2**20, 2), "viewer_steps": steps,
            "viewer_index_ok": index_ok}


def figures(args: argparse.Namespace, load: dict[str, Any], longs: list[EpisodeRecord],
            stored: dict[str, Any], viewed: dict[str, Any]) -> dict[str, Any]:
    latencies = [s.latency_s * 1000 for e in longs for s in e.steps]
    late = [s.latency_s * 1000 for e in longs for s in e.steps[args.turns * 3 // 4:]]
    chars = [transcript_chars(e) for e in longs]
    return {
        "episodes": len(longs), "turns": sorted({len(e.steps) for e in longs}),
        "statuses": sorted({str(e.status) for e in longs}),
        "transcript_chars": round(statistics.mean(chars)),
        "transcript_tokens_est": round(statistics.mean(chars) / 4),
        "rss_base_mb": round(load["base"], 1), "rss_peak_mb": round(load["peak"], 1),
        "rss_per_long_episode_mb": round((load["peak"] - load["base"]) / len(longs), 2),
        "step_latency_p50_ms": round(percentile(latencies, 0.5), 2),
        "step_latency_p95_ms": round(percentile(latencies, 0.95), 2),
        "step_latency_late_p95_ms": round(percentile(late, 0.95), 2),
        "short_episode_p95_s_alone": round(percentile(load["alone"], 0.95), 3),
        "short_episode_p95_s_beside_long": round(percentile(load["beside"], 0.95), 3),
        "short_episodes": len(load["beside"]), **stored, **viewed,
        "config": {"long": args.long, "short": args.short, "turns": args.turns,
                   "short_turns": args.short_turns, "think_ms": args.think_ms,
                   "web_ms": args.web_ms, "top_k": args.top_k,
                   "max_observation_chars": EnvConfig().max_observation_chars}}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", type=int, default=32, help="long episodes in flight")
    parser.add_argument("--short", type=int, default=16, help="short episodes per wave")
    parser.add_argument("--turns", type=int, default=127, help="tool calls per long episode")
    parser.add_argument("--short-turns", type=int, default=4, help="tool calls per short one")
    parser.add_argument("--think-ms", type=float, default=200.0, help="policy latency per action")
    parser.add_argument("--web-ms", type=float, default=50.0, help="latency per web call")
    parser.add_argument("--top-k", type=int, default=15, help="search results shown per query "
                        "(the env's default is 10; 15 brings a transcript to ~150k tokens)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, ReplayStore(Path(tmp) / "store") as store:
        load = asyncio.run(run_load(args, store))
        longs, stored = store_figures(store, Path(tmp))
        viewed = asyncio.run(viewer_figures(store, longs[0].episode_id))
    result = figures(args, load, longs, stored, viewed)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
