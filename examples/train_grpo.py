"""Train a policy with GRPO on the simulated web, on CPU, in minutes.

By default it builds a tiny random Qwen2 model and teaches it a task it can learn from
scratch: answering the simulated web's year questions with digits (the reward is the
share of the agent's text that is digits; a random model produces a few). Every
episode is recorded in a replay store, and a plot of reward, F1, tool calls and
response length per step is written as PNG. Point ``--model`` at a real checkpoint and
use ``--reward deepresearcher`` for DeepResearcher's reward. With ``--workers N`` the
rollouts run on N Ray worker actors against one shared policy actor, which loads the
learner's weights after every step.

With ``--async`` producers and the learner overlap (``webresearch.train.train_async``):
producers keep rolling out groups with the weights the policy serves now and record them
in the store, the learner trains on the oldest ready groups at most ``--staleness``
versions old and pushes its weights to the policy (which holds its own copy) between
generations; the learner and its cursor in the store are checkpointed after every
step, and a run restarted with the same ``--out`` resumes where it stopped.

    python examples/train_grpo.py --steps 20 --out runs/grpo
    python examples/train_grpo.py --steps 20 --out runs/grpo-ray --workers 2
    python examples/train_grpo.py --steps 20 --out runs/grpo-async --async
    python examples/train_grpo.py --steps 20 --out runs/grpo-async-ray --async --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from webresearch.envs.rewards import Submission, get_reward
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.hf import HFPolicy
from webresearch.policies.policy import SamplingParams
from webresearch.policies.tiny import build_tiny_model
from webresearch.replay.store import ReplayStore
from webresearch.rollout import Runner
from webresearch.train import (
    AsyncConfig,
    AsyncStepLog,
    GRPOConfig,
    GRPOLearner,
    LossConfig,
    TrainConfig,
    TrainLog,
    train,
    train_async,
)


def digit_share(submission: Submission, golds: Sequence[str]) -> float:
    """The share of the agent's characters that are digits (a toy, learnable reward)."""
    response = "\n".join(submission.responses)
    return sum(c.isdigit() for c in response) / max(1, len(response))


def plot(logs: list[TrainLog], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [log.metrics.step for log in logs]
    series = {"mean reward": [log.metrics.reward for log in logs],
              "mean F1": [log.mean_f1 if log.mean_f1 is not None else float("nan")
                          for log in logs],
              "tool calls per episode": [log.mean_tool_calls for log in logs],
              "response tokens per episode": [log.mean_response_tokens for log in logs]}
    figure, axes = plt.subplots(2, 2, figsize=(10, 7))
    for axis, (title, values) in zip(axes.flat, series.items(), strict=True):
        axis.plot(steps, values, marker="o")
        axis.set_title(title)
        axis.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path)


def served_policy(model_dir: Path) -> HFPolicy:
    """The policy actor's policy: the same initial weights as the learner's."""
    torch.set_num_threads(1)
    return HFPolicy(model_dir)


async def train_on_ray(workers: int, model_dir: Path, concurrency: int,
                       options: dict[str, Any]) -> list[TrainLog]:
    """``train`` with its rollouts on Ray workers and its weights pushed to the policy actor."""
    from webresearch.distributed import RayConfig, RayRunner

    runner = RayRunner(options["make_env"], functools.partial(served_policy, model_dir),
                       RayConfig(workers=workers, chunk_size=4, serve_policy=True),
                       concurrency=concurrency)
    async with runner:
        assert isinstance(runner, Runner)  # the same interface as the local runner's
        return await train(
            **options, runner=runner,
            sync_weights=lambda learner: runner.load_weights(learner.model.state_dict()))


async def train_overlapped(args: argparse.Namespace, model_dir: Path, options: dict[str, Any]
                           ) -> list[TrainLog]:
    """``train_async``: the policy samples from its own copy of the weights (local, or a
    Ray policy actor), which the learner's are pushed to after every step.

    Sampling draws from the process's RNG (seeded once by ``--seed``), not from a seed
    per batch: the HF policy re-seeds every batch with ``SamplingParams.seed``, and two
    groups of a task batched alike at one version would then draw the same samples.
    """
    policy = options.pop("policy")
    sampling = dataclasses.replace(options["config"].sampling, seed=None)
    config = AsyncConfig(steps=args.steps, groups_per_step=args.groups,
                         group_size=args.group_size, sampling=sampling,
                         max_staleness=args.staleness, checkpoint_dir=args.out / "checkpoints")
    options = {**options, "config": config, "on_step": report_async}
    if args.workers:
        from webresearch.distributed import RayConfig, RayRunner

        runner = RayRunner(options["make_env"], functools.partial(served_policy, model_dir),
                           RayConfig(workers=args.workers, chunk_size=4, serve_policy=True),
                           concurrency=args.groups * args.group_size)
        async with runner:
            logs = await train_async(**options, runner=runner)
    else:
        logs = await train_async(**options, policy=policy)
    return [log.log for log in logs]


def report_async(log: AsyncStepLog) -> None:
    m = log.log.metrics
    print(f"step {m.step:3d}  reward {m.reward:.3f}  loss {m.loss:+.4f}  staleness "
          f"{max(log.staleness)}  clip {m.clip_fraction:.2f}  skipped {len(log.skipped)}  waited "
          f"{log.waited_s:.2f} s",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: a new tiny one)")
    parser.add_argument("--reward", default="digits", help="'digits' (toy) or a reward name")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--groups", type=int, default=4, help="tasks per step")
    parser.add_argument("--group-size", type=int, default=8, help="rollouts per task")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/grpo"))
    parser.add_argument("--workers", type=int, default=0, help="Ray rollout workers (0: none)")
    parser.add_argument("--async", dest="overlap", action="store_true",
                        help="overlap rollouts and learning (asynchronous GRPO)")
    parser.add_argument("--staleness", type=int, default=2,
                        help="with --async: train on groups at most this many versions old")
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or build_tiny_model(args.out / "model", seed=args.seed)
    policy = HFPolicy(model_dir, max_batch=args.groups * args.group_size)
    model = policy.model
    if args.overlap:  # the learner's own copy: its steps must not change the weights
        from transformers import AutoModelForCausalLM  # that the policy is generating with

        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    learner = GRPOLearner(model, GRPOConfig(
        lr=args.lr, loss=LossConfig(loss_type="grpo"), micro_batch_size=8,
        total_steps=args.steps))
    reward = digit_share if args.reward == "digits" else get_reward(args.reward)
    tasks = [t for t in WebResearchEnv().tasks if t.question.startswith("In what year")]

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(tasks=tasks, reward=reward, max_turns=1)

    def report(log: TrainLog) -> None:
        m = log.metrics
        print(f"step {m.step:3d}  reward {m.reward:.3f}  loss {m.loss:+.4f}  kl {m.kl:.4f}  "
              f"entropy {m.entropy:.2f}  clip {m.clip_fraction:.2f}  grad {m.grad_norm:.2f}",
              flush=True)

    sampling = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, stop=(),
                              seed=args.seed)
    with ReplayStore(args.out / "store") as store:
        config = TrainConfig(steps=args.steps, groups_per_step=args.groups,
                             group_size=args.group_size, sampling=sampling)
        options = dict(policy=policy, learner=learner, make_env=make_env, tasks=tasks,
                       store=store, config=config, on_step=report)
        if args.overlap:
            logs = asyncio.run(train_overlapped(args, model_dir, options))
        elif args.workers:
            logs = asyncio.run(train_on_ray(args.workers, model_dir,
                                            args.groups * args.group_size, options))
        else:
            logs = asyncio.run(train(**options))
    plot(logs, args.out / "training.png")
    learner.save(args.out / "checkpoint.pt")
    first, last = logs[0].metrics.reward, sum(log.metrics.reward for log in logs[-3:]) / 3
    print(json.dumps({"steps": len(logs), "first_reward": first, "last_reward": last,
                      "plot": str(args.out / "training.png")}))


if __name__ == "__main__":
    main()
