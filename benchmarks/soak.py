"""A long rollout in bounded memory: many episodes against a faulty simulated internet.

Starts ``webresearch serve-web`` in its own process with every fault on (log-normal
latency, 429s with Retry-After, 5xx, resets, truncated bodies, drips, redirects), then
runs oracle episodes through the live backend at it (``--web live``; or in-process on
the simulated web, ``--web sim``), 256 in flight, each recorded in a replay store, while
a thread samples this process's resident memory every second.

    python benchmarks/soak.py [--episodes 200000] [--minutes 30] [--web live|sim]

The last line is one JSON object: ``episodes``, ``recorded``, ``duplicates``,
``mean_f1``, ``rss_first_third_mb``, ``rss_last_third_mb`` (peaks after a warm-up of a
tenth of the episodes), ``rss_slope_kb_per_1000_episodes`` (least squares over the
samples after the warm-up) and ``errors_by_kind`` (failed web calls by kind).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from concurrency import sim_server, sim_tasks, web_config

from webresearch.crawlers.live import LiveWeb
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.scripted import OraclePolicy
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, RolloutStats, rollout
from webresearch.sim.sim_web import SimWeb
from webresearch.tasks import Task

FAULTS = ["--latency", "lognormal", "--rate-429", "0.03", "--retry-after-s", "0.05",
          "--rate-5xx", "0.03", "--rate-reset", "0.02", "--rate-truncated", "0.02",
          "--rate-drip", "0.01", "--rate-redirect", "0.03"]


def rss_mb() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Samples (episodes finished, RSS in MB) every ``period_s`` in a thread."""

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s, self.done = period_s, 0
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.samples.append((self.done, rss_mb()))

    @contextlib.contextmanager
    def running(self) -> Iterator[Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


def memory_figures(samples: list[tuple[int, float]], episodes: int) -> dict[str, float]:
    """Peaks of the first and last thirds after a tenth's warm-up, and the slope."""
    warm = [(n, mb) for n, mb in samples if n >= episodes / 10]
    if len(warm) < 3:
        return {"rss_first_third_mb": 0.0, "rss_last_third_mb": 0.0,
                "rss_slope_kb_per_1000_episodes": 0.0}
    third = len(warm) // 3
    xs, ys = [n for n, _ in warm], [mb for _, mb in warm]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread  # MB/ep
    return {"rss_first_third_mb": round(max(ys[:third]), 1),
            "rss_last_third_mb": round(max(ys[-third:]), 1),
            "rss_slope_kb_per_1000_episodes": round(slope * 1024 * 1000, 2)}


async def soak(web: str, base: str, episodes: int, minutes: float, store_dir: str
               ) -> dict[str, object]:
    tasks: list[Task] = sim_tasks(base) if web == "live" else SimWeb().default_tasks()
    config = web_config(base, 256) if web == "live" else None

    backends: list[LiveWeb] = []  # the envs do not own backends given to them: closed here

    def make_env() -> WebResearchEnv:
        if config is not None:
            backends.append(LiveWeb(config))
        return WebResearchEnv(tasks=tasks, web=backends[-1] if config else "sim",
                              date="2026-01-01")

    stats, sampler = RolloutStats(), Sampler()

    def finished(episode: EpisodeRecord) -> None:
        stats.add(episode)
        sampler.done += 1

    start = time.perf_counter()
    with ReplayStore(store_dir) as store:
        with sampler.running():  # the rollout only, not the count below (it reads every row)
            job = asyncio.ensure_future(rollout(
                make_env, OraclePolicy(tasks), tasks,
                RolloutConfig(episodes=episodes, concurrency=256,
                              progress=sys.stderr.isatty(), episode_timeout_s=120),
                store=store, on_episode=finished))
            done, _ = await asyncio.wait([job], timeout=minutes * 60)
            if not done:  # the time cap: stop, keeping what finished
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            seconds = time.perf_counter() - start
            for backend in backends:
                await backend.aclose()
        run_id = store.runs()[-1].run_id
        ids = [s["episode_id"] for s in store.summaries(run_id)]
    summary = stats.summary(seconds)
    return {"web": web, "episodes": summary.episodes, "recorded": len(ids),
            "duplicates": len(ids) - len(set(ids)), "mean_f1": summary.mean_f1,
            "broken": summary.broken, "seconds": round(seconds, 1),
            "episodes_per_s": round(summary.episodes_per_s, 1),
            **memory_figures(sampler.samples, summary.episodes),
            "errors_by_kind": summary.failed_calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200_000)
    parser.add_argument("--minutes", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--web", choices=("live", "sim"), default="live")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.web == "sim":
            result = asyncio.run(soak("sim", "", args.episodes, args.minutes, tmp))
        else:
            with sim_server(args.latency_ms, FAULTS) as base:
                result = asyncio.run(soak("live", base, args.episodes, args.minutes, tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
