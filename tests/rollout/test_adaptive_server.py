"""Adaptive concurrency against a loopback server that 429s above a known rate."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.pressure import process_meter
from webresearch.policies import OraclePolicy
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import AdaptiveConfig, RolloutConfig, RolloutReport, rollout
from webresearch.sim.faults import Faults
from webresearch.sim.served import ServedWeb
from webresearch.sim.server import SimInternet

EPISODES, LOW, HIGH = 240, 1, 16


async def limited_then_free(store: ReplayStore) -> RolloutReport:
    """Oracle episodes at a server that admits 30 requests/s until the client has seen 30
    429s, and then every request (the limit is lifted mid-run)."""
    faults = Faults(rate_limit_rps=30.0, rate_limit_burst=2, retry_after_s=0.05, latency_ms=20)
    async with SimInternet(faults=faults) as net:
        web = ServedWeb(net.base_url)
        tasks = web.default_tasks()
        meter, start = process_meter(), process_meter().snapshot()

        def lift_when_throttled(episode: EpisodeRecord) -> None:
            if net.state.bucket is not None and (meter.snapshot() - start).throttled >= 30:
                net.state.bucket = None

        config = RolloutConfig(episodes=EPISODES, concurrency=HIGH, min_concurrency=LOW,
                               adaptive=True, progress=False, episode_timeout_s=120,
                               adaptive_config=AdaptiveConfig(initial=8, interval_s=0.1))
        try:
            return await rollout(lambda: WebResearchEnv(tasks=tasks, web=web),
                                 OraclePolicy(tasks), tasks, config, store=store,
                                 on_episode=lift_when_throttled)
        finally:
            await web.aclose()


def test_in_flight_goes_down_under_429s_back_up_when_they_stop_and_nothing_is_lost(
        tmp_path: Path) -> None:
    with ReplayStore(tmp_path / "store") as store:
        report = asyncio.run(limited_then_free(store))
        recorded = store.count(report.run_id)
    assert report.summary.episodes == EPISODES and recorded == EPISODES
    assert report.summary.broken == 0  # every episode completed, none cut off

    assert report.adaptive is not None
    windows = report.adaptive.windows
    assert (report.adaptive.low, report.adaptive.high) == (LOW, HIGH)
    assert all(LOW <= w.limit <= HIGH and w.in_flight <= HIGH for w in windows)
    in_flight = [w.in_flight for w in windows]
    first_429 = next(i for i, w in enumerate(windows) if w.throttled)
    before = max(in_flight[:first_429 + 1])
    assert windows[first_429].limit < before  # the limit is cut at the first 429s
    down_at = next(i for i in range(first_429, len(windows)) if in_flight[i] < before)
    assert max(in_flight[down_at:]) >= min(HIGH, in_flight[down_at] + 4), in_flight  # back up
    assert sum(w.throttled for w in windows[down_at:]) < report.adaptive.throttled


def test_fixed_concurrency_is_untouched_by_the_controller() -> None:
    async def scenario() -> RolloutReport:
        async with SimInternet() as net:
            web = ServedWeb(net.base_url)
            tasks = web.default_tasks()
            try:
                return await rollout(lambda: WebResearchEnv(tasks=tasks, web=web),
                                     OraclePolicy(tasks), tasks,
                                     RolloutConfig(episodes=6, concurrency=3, progress=False))
            finally:
                await web.aclose()

    report = asyncio.run(scenario())
    assert report.adaptive is None and report.summary.episodes == 6


def test_a_queue_at_the_policy_server_brings_the_limit_down() -> None:
    """A loopback /metrics that reports 30 requests waiting beside 10 running: the limit
    falls to the floor, and the rollout still finishes every episode."""
    from aiohttp import web

    asked: list[float] = []

    async def metrics(_: web.Request) -> web.Response:
        asked.append(time.monotonic())
        return web.Response(text="vllm:num_requests_waiting 30\nvllm:num_requests_running 10\n")

    async def scenario() -> RolloutReport:
        app = web.Application()
        app.add_routes([web.get("/metrics", metrics)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        net = SimInternet(faults=Faults(latency_ms=10))
        await net.start()
        web_ = ServedWeb(net.base_url)
        tasks = web_.default_tasks()

        config = RolloutConfig(
            episodes=80, concurrency=HIGH, min_concurrency=LOW, adaptive=True, progress=False,
            adaptive_config=AdaptiveConfig(initial=HIGH, interval_s=0.02,
                                           metrics_url=f"http://127.0.0.1:{port}/metrics"))
        try:
            return await rollout(lambda: WebResearchEnv(tasks=tasks, web=web_),
                                 OraclePolicy(tasks), tasks, config)
        finally:
            await web_.aclose()
            await net.stop()
            await runner.cleanup()

    report = asyncio.run(scenario())
    assert report.summary.episodes == 80 and report.adaptive is not None
    limits = [w.limit for w in report.adaptive.windows]
    assert asked and limits, "the probe asked and the controller decided"
    assert limits[-1] == LOW and max(limits) <= HIGH // 2  # cut at the first window
