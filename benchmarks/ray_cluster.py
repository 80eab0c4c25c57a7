"""Rollouts on a multi-node Ray cluster on this machine, one worker node killed mid-run.

Starts ``webresearch serve-web`` in its own process with ``--latency-ms`` (200 by
default) on every request, then runs ``--episodes`` oracle episodes (``web="live"`` at
the server, no web cache, every episode recorded in a replay store) twice, each on a
fresh :class:`~webresearch.distributed.LocalCluster` (raylets on 127.0.0.1):

- ``one node``: a head node with ``--nodes`` CPUs and as many workers;
- ``cluster``: a head node and ``--nodes - 1`` worker nodes of one CPU each, a worker
  on each; once ``--kill-at`` of the episodes are recorded, one worker node is removed
  (SIGKILL of its raylet and every process on it); its unrecorded episodes re-run on
  the others and no node replaces it: the replacement worker, never placed, holds
  chunks until ``--placement-s`` after the others run dry, then they run elsewhere.

Both runs record through the store actor on the driver's node (``store_writer``
``"auto"`` on a cluster address). ``duplicates`` counts episode ids the store holds
more than once plus ids the report holds more than once.

Usage: ``python benchmarks/ray_cluster.py [--episodes 2048] [--nodes 3]``; the last
line is one JSON object (``nodes``, ``episodes``, ``recorded``, ``duplicates``,
``node_removed``, ``seconds``, ``steps_per_s``, ``one_node`` with the same fields).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import concurrency  # the serve-web process and the env factory, shared with that benchmark

from webresearch.distributed import LocalCluster, RayConfig, ray_rollout
from webresearch.policies.scripted import OraclePolicy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig
from webresearch.status import EpisodeStatus


class Oracle:
    """Builds the oracle on the server's tasks (picklable: built in every worker)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self) -> OraclePolicy:
        return OraclePolicy(concurrency.sim_tasks(self.base))


def recorded_count(store: Path, run_id: str) -> int:
    """Episodes of ``run_id`` committed so far (the store is on this node: we may look)."""
    with ReplayStore(store) as s:
        return s.count(run_id) if run_id in {r.run_id for r in s.runs()} else 0


def rollout_thread(args: argparse.Namespace, base: str, cluster: LocalCluster, workers: int,
                   store: Path, run: RunRecord, out: dict[str, Any]) -> threading.Thread:
    """Run the rollout in a thread (a node is added or removed from the main thread)."""
    config = RolloutConfig(keep_results=True, episodes=args.episodes,
                           concurrency=args.concurrency, episode_timeout_s=600, progress=False)
    factory = concurrency.LiveEnvFactory(base, math.ceil(args.concurrency / workers))

    def target() -> None:
        try:
            start = time.perf_counter()
            with ReplayStore(store) as recorded:
                out["report"] = asyncio.run(ray_rollout(
                    factory, Oracle(base), concurrency.sim_tasks(base), config,
                    RayConfig(address=cluster.address, workers=workers, chunk_size=args.chunk,
                              placement_timeout_s=args.placement_s),
                    store=recorded, run=run))
            out["wall_s"] = time.perf_counter() - start
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def measure(args: argparse.Namespace, base: str, store: Path, *, one_node: bool
            ) -> dict[str, Any]:
    """One run on a fresh cluster; with ``one_node`` false a worker node dies mid-run."""
    cpus = 1 if not one_node else args.nodes
    run = RunRecord(policy="oracle")
    out: dict[str, Any] = {}
    removed_at = None
    with LocalCluster(head_cpus=cpus) as cluster:
        nodes = [cluster.add_node(num_cpus=1) for _ in range(0 if one_node else args.nodes - 1)]
        thread = rollout_thread(args, base, cluster, args.nodes, store, run, out)
        if nodes:
            deadline = time.monotonic() + 3600
            while (thread.is_alive() and time.monotonic() < deadline
                   and recorded_count(store, run.run_id) < args.kill_at * args.episodes):
                time.sleep(0.2)
            if thread.is_alive():
                cluster.remove_node(nodes[-1])
                removed_at = recorded_count(store, run.run_id)
        thread.join()
    if "error" in out:
        raise out["error"]
    report = out["report"]
    ids = [r.episode_id for r in report.results]
    with ReplayStore(store) as s:
        stored = [e.episode_id for e in s.episodes(run.run_id)]
        recorded = s.count(run.run_id)
    steps = sum(len(r.steps) for r in report.results)
    return {"nodes": 1 if one_node else args.nodes, "workers": args.nodes,
            "episodes": len(report.results), "recorded": recorded,
            "duplicates": (len(stored) - len(set(stored))) + (len(ids) - len(set(ids))),
            "missing": len(set(ids) - set(stored)), "node_removed": removed_at is not None,
            "removed_after": removed_at, "seconds": report.seconds,
            "steps_per_s": steps / report.seconds,
            "broken": sum(not EpisodeStatus.parse(r.status).scored for r in report.results),
            "mean_f1": sum(r.f1 for r in report.results) / max(1, len(report.results))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, default=768, help="episodes in flight")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster (>= 2)")
    parser.add_argument("--chunk", type=int, default=16, help="episodes per chunk")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--kill-at", type=float, default=0.25,
                        help="share of the episodes recorded when a node is removed")
    parser.add_argument("--placement-s", type=float, default=5.0,
                        help="how long the dead node's replacement, never placed, keeps "
                             "its chunks once the others are idle (RayConfig's default: 30)")
    args = parser.parse_args()
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(concurrency)  # workers cannot import it
    with concurrency.sim_server(args.latency_ms) as base, \
            tempfile.TemporaryDirectory() as tmp:
        one = measure(args, base, Path(tmp) / "one", one_node=True)
        print(f"one node, {one['workers']} workers: {one['steps_per_s']:,.0f} steps/s, "
              f"{one['recorded']}/{one['episodes']} recorded", flush=True)
        many = measure(args, base, Path(tmp) / "many", one_node=False)
        print(f"{many['nodes']} nodes, one removed after {many['removed_after']} recorded: "
              f"{many['steps_per_s']:,.0f} steps/s, {many['recorded']}/{many['episodes']} "
              f"recorded, {many['duplicates']} duplicates", flush=True)
    report = {**many, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
              "steps_per_s_one_node": one["steps_per_s"],
              "vs_one_node": many["steps_per_s"] / one["steps_per_s"], "one_node": one}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
