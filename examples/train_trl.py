"""GRPO with TRL's ``GRPOTrainer`` on the simulated web: a tiny model, on CPU, in minutes.

TRL drives everything: its chat template renders the env's tools, it parses the model's
tool calls and runs them on ``WebResearchToolEnv`` (``environment_factory``, built by
``tool_env_factory`` so that each tool result fits TRL's ``max_completion_length``), and
``webresearch_reward`` hands it the env's verdict on each episode (DeepResearcher's F1
with its format penalty). The lines a user writes are in ``train``. A random tiny model
makes no tool calls, so a supervised warm-up (500 steps, a few minutes on one
core) first shows it oracle episodes (search the question, answer); GRPO then trains on
what it samples. Each phase prints its progress (the warm-up every 50 steps, GRPO
every step). Point ``--model`` at a real
checkpoint (Qwen2.5, say) and use ``--warmup-steps 0`` to train it as it is.

    python examples/train_trl.py --steps 2

The last line is one JSON object: ``steps``, ``tool_calls_per_episode``,
``reward_mean`` and ``reward_std`` (per step), and ``seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from webresearch.envs.config import EnvConfig
from webresearch.integrations.episodes import make_env
from webresearch.integrations.trl import task_dataset, tool_env_factory, webresearch_reward
from webresearch.policies.tiny import build_tiny_model

ENV = EnvConfig(max_turns=2, date="2026-01-01")


QUERY = "Pogre Works"
"""The one query the warm-up shows: a tiny model learns a fixed call in seconds; GRPO
is left to learn what to ask."""


def warm_up(model: Any, tokenizer: Any, tool_env: Any, steps: int, lr: float) -> None:
    """Teach a random model the shape of an episode: a search for the question, then an answer.

    Supervised on the model's turns only (the prompt and the tool's result, as TRL shows
    it, are context).
    """
    env = make_env(dataclasses.replace(ENV, tools_in_prompt=False))
    tools = [tool_env.web_search, tool_env.browse_webpage]  # as TRL renders them
    examples = []
    for task in env.tasks[:32]:
        tool_env.reset(task=task.to_json())
        call = {"name": "web_search", "arguments": {"query": [QUERY]}}
        messages = [{"role": "system", "content": env.system_prompt},
                    {"role": "user", "content": task.question}]
        turn = {"role": "assistant", "content": "",
                "tool_calls": [{"type": "function", "function": call}]}
        examples.append(_example(tokenizer, messages, turn, tools))
        messages += [turn, {"role": "tool", "name": "web_search",
                            "content": asyncio.run(tool_env.web_search([QUERY]))}]
        answer = {"role": "assistant",
                  "content": f"<think>found it</think><answer>{task.answers[0]}</answer>"}
        examples.append(_example(tokenizer, messages, answer, tools))
    env.close()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    print(f"warm-up: {steps} supervised steps on {len(examples)} oracle turns", flush=True)
    start = time.perf_counter()
    for step in range(steps):
        batch = [examples[(step * 4 + i) % len(examples)] for i in range(4)]
        width = max(len(ids) for ids, _ in batch)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            print(f"warm-up step {step + 1:4d}/{steps}  loss {loss.item():.3f}  "
                  f"[{time.perf_counter() - start:.0f} s]", flush=True)


def _example(tokenizer: Any, context: list[dict[str, Any]], turn: dict[str, Any],
             tools: list[Any]) -> tuple[list[int], list[int]]:
    """Token ids of ``context`` then ``turn``, and labels on ``turn``'s tokens only."""
    prefix = tokenizer.apply_chat_template(context, tools=tools, tokenize=False,
                                           add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*context, turn], tools=tools, tokenize=False)
    head = tokenizer.encode(prefix, add_special_tokens=False)
    tail = tokenizer.encode(full[len(prefix):].rstrip("\n"), add_special_tokens=False)
    return head + tail, [-100] * len(head) + tail


def train(model: Any, tokenizer: Any, args: Any, out: Path, warmup_steps: int) -> dict[str, Any]:
    """The lines a user writes: a GRPOConfig, the env's tools sized to it, the trainer."""
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(  # TRL's default max_completion_length (512): results are sized to it
        output_dir=str(out / "grpo"), max_steps=args.steps, learning_rate=args.lr,
        per_device_train_batch_size=args.generations, num_generations=args.generations,
        max_tool_calling_iterations=ENV.max_turns, temperature=1.0, logging_steps=1,
        report_to="none", use_cpu=True, save_strategy="no", seed=args.seed, disable_tqdm=True)
    environment_factory = tool_env_factory(config, tokenizer, config=ENV)
    if warmup_steps:
        warm_up(model, tokenizer, environment_factory(), warmup_steps, lr=1e-3)
    outcomes: list[Any] = []

    async def env_reward(completions: list[Any], environments: list[Any],
                         **kwargs: Any) -> list[float | None]:
        rewards = await webresearch_reward(completions, environments, **kwargs)
        outcomes.extend(env.outcome for env in environments)
        return rewards

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TRL's notes on experimental features
        trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=config,
                              reward_funcs=env_reward, train_dataset=task_dataset(config=ENV),
                              environment_factory=environment_factory)
        print(f"GRPO: {args.steps} steps of {args.generations} rollouts (TRL logs each step)",
              flush=True)
        trainer.train()
    logs = [log for log in trainer.state.log_history if "reward" in log]
    return {"steps": len(logs),
            "tool_calls_per_episode": statistics.fmean(o.tool_calls for o in outcomes),
            "reward_mean": [round(log["reward"], 4) for log in logs],
            "reward_std": [round(log["reward_std"], 4) for log in logs],
            "statuses": sorted({str(o.status) for o in outcomes})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps")
    parser.add_argument("--model", type=Path, help="model directory (default: a new tiny one)")
    parser.add_argument("--warmup-steps", type=int, default=500)
    parser.add_argument("--generations", type=int, default=4, help="rollouts per question")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output directory (default: a temporary one)")
    args = parser.parse_args()

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = args.out or Path(tempfile.mkdtemp(prefix="train-trl-"))
    start = time.perf_counter()
    if args.model is None:
        print("building a random tiny model and its tokenizer ...", flush=True)
    model_dir = args.model or build_tiny_model(out / "model", seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    figures = train(model, tokenizer, args, out, args.warmup_steps if args.model is None else 0)
    print(json.dumps({**figures, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
