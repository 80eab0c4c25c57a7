"""Replay store throughput: steps written and read per second, and bytes per step on disk.

Runs the oracle on the simulated web for ``--episodes`` episodes (not timed), then:

- ``write``: the rollout's path, every episode through ``EpisodeWriter`` (group commit:
  each ``write`` returns once committed) from 64 concurrent coroutines; JSON encoding
  and compression are inside the time;
- ``write_batched``: ``ReplayStore.append`` in transactions of 256 episodes;
- ``read``: every episode decoded back (``store.episodes(run)``).

Usage: ``python benchmarks/replay_store.py [--episodes 10000]``; the last line is one
JSON object with ``write_steps_per_s``, ``read_steps_per_s`` and ``bytes_per_step``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import OraclePolicy
from webresearch.replay import EpisodeRecord, EpisodeWriter, ReplayStore, RunRecord
from webresearch.rollout import RolloutConfig, rollout


def record(episodes: int) -> list[EpisodeRecord]:
    tasks = WebResearchEnv().tasks
    config = RolloutConfig(keep_results=True, episodes=episodes, concurrency=64, progress=False)
    return asyncio.run(rollout(WebResearchEnv, OraclePolicy(tasks), tasks, config)).results


def write_concurrently(store: ReplayStore, run_id: str, episodes: list[EpisodeRecord]) -> float:
    async def main() -> float:
        writer, queue = EpisodeWriter(store), list(reversed(episodes))

        async def worker() -> None:
            while queue:
                await writer.write(queue.pop())

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(64)))
        await writer.aclose()
        return time.perf_counter() - start

    return asyncio.run(main())


def size_of(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    args = parser.parse_args()
    episodes = record(args.episodes)
    steps = sum(len(e.steps) for e in episodes)
    figures: dict[str, float] = {"episodes": len(episodes), "steps": steps}

    directory = Path(tempfile.mkdtemp())
    with ReplayStore(directory / "group") as store:
        run = store.create_run(RunRecord(policy="oracle"))
        rebound = [EpisodeRecord(**{**_fields(e), "run_id": run.run_id}) for e in episodes]
        seconds = write_concurrently(store, run.run_id, rebound)
        figures["write_steps_per_s"] = steps / seconds
        start = time.perf_counter()
        read_steps = sum(len(e.steps) for e in store.episodes(run.run_id))
        figures["read_steps_per_s"] = read_steps / (time.perf_counter() - start)
        assert read_steps == steps and store.count(run.run_id) == len(episodes)
    figures["bytes_per_step"] = size_of(directory / "group") / steps

    with ReplayStore(directory / "batched") as store:
        run = store.create_run(RunRecord(policy="oracle"))
        rebound = [EpisodeRecord(**{**_fields(e), "run_id": run.run_id}) for e in episodes]
        start = time.perf_counter()
        for i in range(0, len(rebound), 256):
            store.append(rebound[i:i + 256])
        figures["write_batched_steps_per_s"] = steps / (time.perf_counter() - start)

    print(f"{len(episodes)} episodes, {steps} steps: write {figures['write_steps_per_s']:,.0f} "
          f"steps/s (group commit), {figures['write_batched_steps_per_s']:,.0f} (batches of "
          f"256); read {figures['read_steps_per_s']:,.0f} steps/s; "
          f"{figures['bytes_per_step']:,.0f} bytes/step")
    print(json.dumps(figures))


def _fields(episode: EpisodeRecord) -> dict[str, object]:
    return {name: getattr(episode, name) for name in EpisodeRecord.__slots__}


if __name__ == "__main__":
    main()
