"""Adaptive concurrency against a rate limit the client does not know, beside a fixed sweep.

Starts ``webresearch serve-web`` with a real rate limit over every client
(``--rate-limit-rps``, 60 by default: a token bucket ``--burst`` deep; a request past
it is answered 429 with ``Retry-After``) and a log-normal latency (median
``--latency-ms``) on every request. Refused requests count against the limit (the
bucket owes up to a burst), as hosted APIs that count unsuccessful requests do
(OpenAI's); ``--lenient`` makes them free, a plain token bucket, where hammering costs
the client only 429s. The client then runs oracle episodes
through the live backend at it for ``--seconds`` each: once per fixed concurrency of
the sweep, and once with ``RolloutConfig(adaptive=True)`` between 1 and the largest
of the sweep. The client is told nothing of the limit (no client-side rate). Every run
starts after ``--settle-s`` of quiet (2 by default), so that none begins on a server still
busy with the run before it (the adaptive run, last, would otherwise start into the 429s
that the run at 64 left behind).

An episode counts as completed when it ended scored and the oracle reached the gold
answer (F1 1.0): a call that failed after its retries makes the oracle answer
"unknown", so a shorter, useless episode never counts as throughput. The 429 rate is
429s over the tries the client sent (its own counters, :mod:`webresearch.net.pressure`).

    python benchmarks/adaptive.py [--seconds 25] [--rps 60] [--burst 10] [--latency-ms 200]
                                  [--sweep 4,8,16,32,64] [--target-429 0.0] [--lenient]
                                  [--settle-s 2]

The last line is one JSON object: ``best_fixed_concurrency``,
``best_fixed_episodes_per_min``, ``best_fixed_429_rate``, ``adaptive_episodes_per_min``,
``adaptive_429_rate``, ``adaptive_mean_in_flight``, ``adaptive`` and ``sweep`` (every
run's figures; ``mean_in_flight`` is episode-seconds over the run's seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from concurrency import sim_server, sim_tasks, web_config

from webresearch.crawlers.live import LiveWeb
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.pressure import process_meter
from webresearch.policies.scripted import OraclePolicy
from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout import AdaptiveConfig, RolloutConfig, rollout


async def timed_run(base: str, concurrency: int, seconds: float, *, adaptive: bool,
                    tuning: AdaptiveConfig | None = None) -> dict[str, Any]:
    """Episodes back to back for ``seconds``; what finished in that time is counted."""
    tasks = sim_tasks(base)
    config = web_config(base, concurrency)
    backends: list[LiveWeb] = []

    def make_env() -> WebResearchEnv:
        backends.append(LiveWeb(config))
        return WebResearchEnv(tasks=tasks, web=backends[-1], date="2026-01-01")

    finished = {"all": 0, "completed": 0, "seconds": 0.0}

    def count(episode: EpisodeRecord) -> None:
        finished["all"] += 1
        finished["completed"] += episode.status.scored and episode.f1 == 1.0
        finished["seconds"] += episode.seconds

    before = process_meter().snapshot()
    start = time.perf_counter()
    job = asyncio.ensure_future(rollout(
        make_env, OraclePolicy(tasks), tasks,
        RolloutConfig(episodes=10**7, concurrency=concurrency, adaptive=adaptive,
                      adaptive_config=tuning, progress=False, episode_timeout_s=120),
        on_episode=count))
    await asyncio.wait([job], timeout=seconds)
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    elapsed = time.perf_counter() - start
    wire = process_meter().snapshot() - before
    for backend in backends:
        await backend.aclose()
    out: dict[str, Any] = {
        "concurrency": concurrency, "adaptive": adaptive, "seconds": round(elapsed, 1),
        "episodes_per_min": round(finished["completed"] * 60 / elapsed, 1),
        "finished_per_min": round(finished["all"] * 60 / elapsed, 1),
        "tries": wire.tries, "429s": wire.throttled,
        "429_rate": round(wire.throttled_share, 4),
        "mean_in_flight": round(finished["seconds"] / elapsed, 1)}  # Little's law
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each run")
    parser.add_argument("--rps", type=float, default=60.0, help="the server's rate limit")
    parser.add_argument("--burst", type=int, default=10, help="the rate limit's bucket depth")
    parser.add_argument("--retry-after-s", type=float, default=1.0)
    parser.add_argument("--lenient", action="store_true",
                        help="a plain token bucket: refused requests cost the client nothing "
                             "(by default they count against the limit, as OpenAI's do)")
    parser.add_argument("--latency-ms", type=float, default=200.0,
                        help="median latency of a request (log-normal, so that episodes do "
                             "not march in step)")
    parser.add_argument("--sweep", default="4,8,16,32,64", help="fixed concurrencies")
    parser.add_argument("--settle-s", type=float, default=2.0,
                        help="quiet before every run (the same for each)")
    parser.add_argument("--target-429", type=float, default=AdaptiveConfig().target_throttled,
                        help="the adaptive controller's tolerated share of 429s")
    args = parser.parse_args()
    sweep = [int(c) for c in args.sweep.split(",") if c]
    flags = ["--rate-limit-rps", str(args.rps), "--rate-limit-burst", str(args.burst),
             "--retry-after-s", str(args.retry_after_s), "--latency", "lognormal",
             *([] if args.lenient else ["--rate-limit-counts-refused"])]
    runs: list[dict[str, Any]] = []
    with sim_server(args.latency_ms, flags) as base:
        for concurrency in sweep:
            time.sleep(args.settle_s)
            runs.append(asyncio.run(timed_run(base, concurrency, args.seconds, adaptive=False)))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        tuning = AdaptiveConfig(target_throttled=args.target_429)
        time.sleep(args.settle_s)
        adaptive = asyncio.run(timed_run(base, max(sweep), args.seconds, adaptive=True,
                                         tuning=tuning))
        print(json.dumps(adaptive), file=sys.stderr, flush=True)
    best = max(runs, key=lambda r: (r["episodes_per_min"], -r["429_rate"]))
    print(json.dumps({
        "rps": args.rps, "latency_ms": args.latency_ms, "seconds": args.seconds,
        "refused_count": not args.lenient, "target_429": args.target_429,
        "settle_s": args.settle_s,
        "best_fixed_concurrency": best["concurrency"],
        "best_fixed_episodes_per_min": best["episodes_per_min"],
        "best_fixed_429_rate": best["429_rate"],
        "adaptive_episodes_per_min": adaptive["episodes_per_min"],
        "adaptive_429_rate": adaptive["429_rate"],
        "adaptive_mean_in_flight": adaptive["mean_in_flight"], "adaptive": adaptive,
        "sweep": runs}))


if __name__ == "__main__":
    main()
