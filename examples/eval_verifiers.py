"""Evaluate a model on ``WebResearch-v0`` with verifiers' own eval runner (``vf-eval``'s).

verifiers loads the environment by name (``webresearch-v0``), serves each rollout's
tools (``web_search``, ``browse_webpage``, ``answer``) and records the env's reward.
Point ``--base-url`` at any OpenAI-compatible server (vLLM, SGLang)::

    python examples/eval_verifiers.py --base-url http://127.0.0.1:8000/v1 --model Qwen2.5-7B

The same run from the shell: ``vf-eval webresearch-v0 -m MODEL --client.base-url URL
-n 8 --no-push``. The last line is one JSON object: ``tasks``, ``rewards``,
``reward_mean`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from verifiers.v1.cli.eval.runner import run_eval
from verifiers.v1.configs.cli.eval import EvalConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--num-tasks", type=int, default=8)
    parser.add_argument("--tasks", default="default", help="a task file, or the web's own")
    parser.add_argument("--output-dir", default="runs/verifiers")
    args = parser.parse_args()

    start = time.monotonic()
    config = EvalConfig.model_validate({
        "env": {"taskset": {"id": "webresearch-v0", "env": {"tasks": args.tasks}}},
        "model": args.model, "client": {"base_url": args.base_url},
        "select": {"limit": args.num_tasks}, "push": False, "rich": None,
        "output_dir": args.output_dir})
    episodes = asyncio.run(run_eval(config))
    rewards = [trace.reward for episode in episodes for trace in episode.traces]
    print(json.dumps({"tasks": len(episodes), "rewards": rewards,
                      "reward_mean": sum(rewards) / len(rewards),
                      "seconds": round(time.monotonic() - start, 1)}))


if __name__ == "__main__":
    main()
