"""Asynchronous against synchronous GRPO, the same learner steps, on a simulated accelerator.

The policy (:class:`~webresearch.train.simulated.SimulatedPolicy`) sleeps for each
generation's cost: ``--overhead-s`` per request plus its tokens at ``--tokens-per-s``,
holding one of ``groups x group-size`` slots (the synchronous batch fits at once, as
on a batched server); lengths are Pareto-distributed (``--tail``; some episodes are
10x the median and more). The learner
(:class:`~webresearch.train.simulated.SimulatedLearner`) sleeps per token of its
batch, priced so that a synchronous step's rollout (its slowest episode) takes
``--ratio`` times the learner's step, in expectation. Episodes run in the real env on
the simulated web and are recorded in a real store; only the model's time is slept.

The synchronous baseline is :func:`webresearch.train.train` itself; the asynchronous
runs are :func:`webresearch.train.train_async` at each staleness bound of ``--curve``
(0 is the schedule of ``train``: the same loop). Usage:
``python benchmarks/async_train.py``; the last line is one JSON object: ``sync_s``,
``async_s``, ``speedup`` (medians over ``--repeats``, with ``*_range``),
``mean_staleness``, ``max_staleness``, ``max_staleness_setting``,
``generator_idle_fraction``, ``learner_idle_fraction`` (and the synchronous loop's),
``skipped_groups``, and ``curve``: the speedup at each staleness bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.replay.store import ReplayStore
from webresearch.sim.sim_web import SimWeb
from webresearch.train import AsyncConfig, TrainConfig, train, train_async
from webresearch.train.simulated import (
    GenerationCost,
    SimulatedLearner,
    SimulatedPolicy,
    draw_tokens,
)

WEB = SimWeb()
TASKS = WEB.default_tasks()[:16]


def make_env() -> WebResearchEnv:
    return WebResearchEnv(tasks=TASKS, web=WEB, max_turns=1)


def learner_cost(cost: GenerationCost, episodes: int, ratio: float) -> float:
    """Seconds per token that make the learner's step ``1 / ratio`` of a synchronous
    rollout's expected time (its slowest of ``episodes`` generations)."""
    rng = random.Random(1)
    batches = [[draw_tokens(rng, cost) for _ in range(episodes)] for _ in range(4000)]
    rollout_s = statistics.fmean(cost.seconds(max(b)) for b in batches)
    tags = len("<think></think><answer>x</answer>")  # a simulated token is a character
    tokens = statistics.fmean(sum(b) for b in batches) + episodes * tags
    return rollout_s / ratio / tokens


def parts(args: argparse.Namespace, seed: int) -> tuple[SimulatedPolicy, SimulatedLearner]:
    cost = GenerationCost(tokens_per_s=args.tokens_per_s, request_overhead_s=args.overhead_s,
                          median_tokens=args.median_tokens, tail=args.tail,
                          max_tokens=args.max_tokens, slots=args.groups * args.group_size)
    policy = SimulatedPolicy(cost, answers=[t.answers[0] for t in TASKS], seed=seed)
    per_token = learner_cost(cost, args.groups * args.group_size, args.ratio)
    return policy, SimulatedLearner(s_per_token=per_token)


def figures(wall: float, policy: SimulatedPolicy, learner: SimulatedLearner,
            staleness: list[int], skipped: int) -> dict[str, Any]:
    return {"seconds": wall,
            "generator_idle_fraction": 1 - policy.busy_s / (policy.cost.slots * wall),
            "learner_idle_fraction": 1 - learner.busy_s / wall,
            "mean_staleness": statistics.fmean(staleness) if staleness else 0.0,
            "max_staleness": max(staleness, default=0), "skipped_groups": skipped,
            "tokens": policy.tokens}


def run_sync(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    policy, learner = parts(args, seed)
    config = TrainConfig(steps=args.steps, groups_per_step=args.groups,
                         group_size=args.group_size)
    with ReplayStore(tempfile.mkdtemp()) as store:
        start = time.perf_counter()
        asyncio.run(train(policy=policy, learner=learner, make_env=make_env, tasks=TASKS,
                          store=store, config=config))
        wall = time.perf_counter() - start
    out = figures(wall, policy, learner, [0] * args.steps * args.groups, 0)
    out["generation_over_learner"] = (wall - learner.busy_s) / learner.busy_s
    return out


def run_async(args: argparse.Namespace, seed: int, staleness: int) -> dict[str, Any]:
    policy, learner = parts(args, seed)
    config = AsyncConfig(steps=args.steps, groups_per_step=args.groups,
                         group_size=args.group_size, max_staleness=staleness, poll_s=0.05)
    with ReplayStore(tempfile.mkdtemp()) as store:
        start = time.perf_counter()
        logs = asyncio.run(train_async(learner=learner, make_env=make_env, tasks=TASKS,
                                       store=store, config=config, policy=policy))
        wall = time.perf_counter() - start
    ages = [age for log in logs for age in log.staleness]
    return figures(wall, policy, learner, ages, sum(len(log.skipped) for log in logs))


def summary(values: list[float]) -> tuple[float, list[float]]:
    return statistics.median(values), [round(min(values), 3), round(max(values), 3)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--groups", type=int, default=4, help="groups per learner step")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--staleness", type=int, default=4, help="max_staleness of the headline")
    parser.add_argument("--curve", default="0,1,2,4,8", help="staleness bounds to sweep")
    parser.add_argument("--ratio", type=float, default=3.0,
                        help="a synchronous rollout's time over the learner step's")
    parser.add_argument("--tokens-per-s", type=float, default=2000.0)
    parser.add_argument("--overhead-s", type=float, default=0.02)
    parser.add_argument("--median-tokens", type=int, default=100)
    parser.add_argument("--tail", type=float, default=1.5, help="Pareto shape of the lengths")
    parser.add_argument("--max-tokens", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bounds = sorted({int(b) for b in args.curve.split(",") if b} | {args.staleness})
    syncs: list[dict[str, Any]] = []
    runs: dict[int, list[dict[str, Any]]] = {b: [] for b in bounds}
    for repeat in range(args.repeats):
        syncs.append(run_sync(args, repeat))
        for bound in bounds:
            runs[bound].append(run_async(args, repeat, bound))
            print(f"repeat {repeat}: staleness {bound}: {runs[bound][-1]['seconds']:.2f} s "
                  f"(sync {syncs[-1]['seconds']:.2f} s)", flush=True)
    curve = {}
    for bound in bounds:
        speedups = [s["seconds"] / a["seconds"] for s, a in zip(syncs, runs[bound], strict=True)]
        median, span = summary(speedups)
        curve[str(bound)] = {"speedup": round(median, 3), "speedup_range": span,
                             "max_staleness": max(r["max_staleness"] for r in runs[bound]),
                             "skipped_groups": sum(r["skipped_groups"] for r in runs[bound])}
    head = runs[args.staleness]
    sync_s, sync_span = summary([s["seconds"] for s in syncs])
    async_s, async_span = summary([a["seconds"] for a in head])

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return round(statistics.fmean(r[key] for r in rows), 3)

    print(json.dumps({
        "steps": args.steps, "groups_per_step": args.groups, "group_size": args.group_size,
        "repeats": args.repeats, "sync_s": round(sync_s, 3), "sync_s_range": sync_span,
        "async_s": round(async_s, 3), "async_s_range": async_span,
        "speedup": curve[str(args.staleness)]["speedup"],
        "speedup_range": curve[str(args.staleness)]["speedup_range"],
        "max_staleness_setting": args.staleness, "mean_staleness": mean(head, "mean_staleness"),
        "max_staleness": max(r["max_staleness"] for r in head),
        "skipped_groups": sum(r["skipped_groups"] for r in head),
        "generator_idle_fraction": mean(head, "generator_idle_fraction"),
        "learner_idle_fraction": mean(head, "learner_idle_fraction"),
        "sync_generator_idle_fraction": mean(syncs, "generator_idle_fraction"),
        "sync_learner_idle_fraction": mean(syncs, "learner_idle_fraction"),
        "sync_generation_over_learner": mean(syncs, "generation_over_learner"),
        "curve": curve}))


if __name__ == "__main__":
    main()
