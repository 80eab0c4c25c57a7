"""Env steps per second on the in-process simulated web with the oracle policy, in one process.

Measures three loops over the default task set:

- ``sync``: ``gym.make("WebResearch-v0")`` (with Gymnasium's wrappers) stepped by a plain
  Python loop, pages already extracted (the headline ``steps_per_s``);
- ``async``: the rollout runner, 64 episodes in flight on one event loop, warm;
- ``cold``: the sync loop on a freshly built site, so every page's HTML is parsed
  for the first time during the run.

The oracle's own time (building its JSON tool calls) is inside every figure.
Usage: ``python benchmarks/env_steps.py [--episodes 1000] [--repeats 3]``; the last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import gymnasium as gym

import webresearch  # noqa: F401 - registers WebResearch-v0
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import OraclePolicy
from webresearch.policies.policy import ChatMessage
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.sim_web import SimSite


def sync_loop(env: gym.Env[str, str], policy: OraclePolicy, episodes: int) -> tuple[int, float]:
    """Run ``episodes`` episodes; return (steps, seconds)."""
    n_tasks = len(env.unwrapped.tasks)  # type: ignore[attr-defined]
    steps, start = 0, time.perf_counter()
    for i in range(episodes):
        observation, _ = env.reset(options={"task_index": i % n_tasks})
        conversation: list[ChatMessage] = [{"role": "user", "content": observation}]
        while True:
            action = policy.act(conversation)
            conversation.append({"role": "assistant", "content": action})
            observation, _, terminated, truncated, _ = env.step(action)
            steps += 1
            if terminated or truncated:
                break
            conversation.append({"role": "user", "content": observation})
    return steps, time.perf_counter() - start


def async_loop(policy: OraclePolicy, episodes: int) -> tuple[int, float]:
    config = RolloutConfig(keep_results=True, episodes=episodes, concurrency=64, progress=False)
    report = asyncio.run(rollout(WebResearchEnv, policy, policy.tasks, config))
    return sum(len(r.steps) for r in report.results), report.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    SimSite.of.cache_clear()
    env = gym.make("WebResearch-v0")
    policy = OraclePolicy(env.unwrapped.tasks)  # type: ignore[attr-defined]
    n_tasks = len(env.unwrapped.tasks)  # type: ignore[attr-defined]
    steps, seconds = sync_loop(env, policy, n_tasks)
    cold = steps / seconds
    print(f"cold  (first extraction of every page): {cold:,.0f} steps/s")

    sync_rates, async_rates = [], []
    for _ in range(args.repeats):
        steps, seconds = sync_loop(env, policy, args.episodes)
        sync_rates.append(steps / seconds)
        steps, seconds = async_loop(policy, args.episodes)
        async_rates.append(steps / seconds)
        print(f"sync  {sync_rates[-1]:,.0f} steps/s   async {async_rates[-1]:,.0f} steps/s")
    env.close()
    print(json.dumps({
        "steps_per_s": statistics.median(sync_rates),
        "async_steps_per_s": statistics.median(async_rates),
        "cold_steps_per_s": cold,
        "episodes": args.episodes,
        "repeats": args.repeats,
        "steps_per_episode": steps / args.episodes,
    }))


if __name__ == "__main__":
    main()
