"""The task reward itself (DeepResearcher's F1 with the -1 format penalty, not a stand-in)
rises under GRPO, from a model cloned from scripted demonstrations: a fixed seed, on CPU,
within a couple of minutes."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import SamplingParams
from webresearch.replay.store import ReplayStore
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import World, WorldConfig
from webresearch.tasks import Task
from webresearch.train import GRPOConfig, GRPOLearner, LossConfig, TrainConfig, train
from webresearch.train.compact import CompactFormat
from webresearch.train.demos import demo_policy, record_demos
from webresearch.train.sft import SFTConfig, SFTTrainer, sft_examples

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

STOP = ("</search>", "</answer>")


def one_hop_tasks(n: int) -> list[Task]:
    tasks = generate_tasks(World.generate(WorldConfig()), n=6 * n, seed=3)
    return [t for t in tasks if t.hops == 1][:n]


def make_env(tasks: list[Task]) -> WebResearchEnv:
    return WebResearchEnv(tasks=tasks, action_format=CompactFormat(), reward="deepresearcher",
                          top_k=1, max_turns=2, date="2026-01-01")


def test_grpo_raises_the_task_reward_of_a_cloned_model(tiny_model: Path, tmp_path: Path) -> None:
    from webresearch.policies.hf import HFPolicy

    torch.manual_seed(0)
    random.seed(0)
    tasks = one_hop_tasks(96)
    policy = HFPolicy(tiny_model, max_batch=32)
    with ReplayStore(tmp_path) as store:
        mixture = demo_policy(tasks, CompactFormat(), oracle=0.5, heuristic=0.25, no_tool=0.25)
        demos = asyncio.run(record_demos(store, lambda: make_env(tasks), mixture, tasks))
        examples = sft_examples(store, demos.run_id, policy.tokenizer)
        SFTTrainer(policy.model, SFTConfig(lr=1e-2, batch_size=8, warmup_steps=5,
                                           total_steps=80)).fit(examples, steps=80)
        learner = GRPOLearner(policy.model, GRPOConfig(lr=1e-3, micro_batch_size=16,
                                                       loss=LossConfig(loss_type="grpo")))
        sampling = SamplingParams(temperature=1.0, max_tokens=48, stop=STOP)
        logs = asyncio.run(train(policy=policy, learner=learner,
                                 make_env=lambda: make_env(tasks), tasks=tasks, store=store,
                                 config=TrainConfig(steps=24, groups_per_step=4, group_size=8,
                                                    sampling=sampling)))
    rewards = [log.metrics.reward for log in logs]
    first, last = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert last > first + 0.15, rewards
