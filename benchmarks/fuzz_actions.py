"""Hostile actions per second through both action formats, and how many raised (must be 0).

    python benchmarks/fuzz_actions.py [--actions 20000]

The last line is one JSON object: ``actions``, ``raised``, ``actions_per_s`` and the rate
per format and error mode.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import traceback

from webresearch.envs.fuzz import hostile_action
from webresearch.envs.web_research import WebResearchEnv


def run(action_format: str, on_format_error: str, actions: int, seed: int) -> tuple[int, float]:
    env = WebResearchEnv(action_format=action_format, on_format_error=on_format_error,
                         max_turns=4)
    rng, raised = random.Random(seed), 0
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(actions):
        action = hostile_action(rng)
        try:
            _, _, terminated, truncated, _ = env.step(action)
        except Exception:
            raised += 1
            print(f"raised on {action[:200]!r}:\n{traceback.format_exc()}")
            terminated, truncated = True, False
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return raised, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=20_000, help="per format and mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates, total_raised, total_s = {}, 0, 0.0
    for action_format in ("deepresearcher", "search-r1"):
        for mode in ("end", "feedback"):
            raised, seconds = run(action_format, mode, args.actions, args.seed)
            rates[f"{action_format}/{mode}"] = round(args.actions / seconds)
            total_raised += raised
            total_s += seconds
    actions = 4 * args.actions
    print(json.dumps({"actions": actions, "raised": total_raised,
                      "actions_per_s": round(actions / total_s), "per_format": rates}))


if __name__ == "__main__":
    main()
