"""What the compact action format costs and allows: tokens per episode and scripted F1.

Plays the held-out world's tasks (``sim:seed=1000``, as ``examples/train_sim.py``
evaluates) with the oracle, the impatient oracle, the heuristic and the no-tool floor,
in the compact format (top hit only, four searches) and in DeepResearcher's (top 3 hits,
browsing, 400-character segments), and reports mean F1 per hop count and mean tokens per
episode under a tiny model's tokenizer (trained on the simulated web).
Usage: ``python benchmarks/compact_format.py [--tasks 300]``; the last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from typing import Any

from transformers import AutoTokenizer

from webresearch.envs.formats import ActionFormat, get_format
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import HeuristicPolicy, NoToolPolicy, OraclePolicy
from webresearch.policies.scripted import ScriptedPolicy
from webresearch.policies.tiny import build_tiny_model
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import World, WorldConfig
from webresearch.tasks import Task
from webresearch.train.compact import CompactFormat
from webresearch.train.demos import ImpatientPolicy
from webresearch.train.sft import demo_tokens

WORLD = 1000


def play(policy: ScriptedPolicy, fmt: ActionFormat, tasks: list[Task], tokenizer: Any,
         **options: Any) -> dict[str, Any]:
    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web=f"sim:seed={WORLD}", tasks=tasks, action_format=fmt,
                              reward="deepresearcher", date="2026-01-01", **options)

    config = RolloutConfig(progress=False, keep_results=True)
    episodes = asyncio.run(rollout(make_env, policy, tasks, config)).results
    by_hops: dict[int, list[float]] = {}
    for e in episodes:
        by_hops.setdefault(e.task.hops, []).append(e.f1)
    tokens = [len(demo_tokens(e, tokenizer).ids) for e in episodes]
    return {"f1": round(sum(e.f1 for e in episodes) / len(episodes), 3),
            "f1_by_hops": {h: round(sum(v) / len(v), 3) for h, v in sorted(by_hops.items())},
            "tokens_per_episode": round(sum(tokens) / len(tokens))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()
    tasks = generate_tasks(World.generate(WorldConfig(seed=WORLD)), n=args.tasks, seed=0)
    with tempfile.TemporaryDirectory() as directory:
        tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(directory))
    out: dict[str, Any] = {}
    for name, fmt, options in (
            ("compact", CompactFormat(), {"top_k": 1, "max_turns": 4}),
            ("deepresearcher", get_format("deepresearcher"),
             {"top_k": 3, "max_turns": 4, "segment_chars": 400})):
        oracle = OraclePolicy(tasks, fmt)
        policies: list[ScriptedPolicy] = [oracle, ImpatientPolicy(oracle), HeuristicPolicy(fmt),
                                          NoToolPolicy(fmt)]
        out[name] = {p.name: play(p, fmt, tasks, tokenizer, **options) for p in policies}
        print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
