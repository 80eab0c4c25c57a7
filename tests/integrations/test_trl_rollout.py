"""TRL's ``rollout_func``: sized, sampled and grouped by ``GRPOConfig``, safe in a running loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from webresearch.envs.config import EnvConfig
from webresearch.errors import ConfigError
from webresearch.integrations.trl import make_rollout_func, task_dataset
from webresearch.policies.policy import Completion, Policy
from webresearch.policies.types import PromptLike, SamplingParams, as_prompt

TASKS = [{"question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]},
         {"question": "What is Pogre Works?", "answers": ["a company"]}]
CONFIG = EnvConfig(tasks=TASKS, max_turns=2, date="2026-01-01")
SEARCH = '<think>look</think><tool_call>{"name": "web_search", "arguments": ' \
         '{"query": ["Pogre Works", "Kraemukreisk Jepudou", "founder"]}}</tool_call>'
ANSWER = "<think>found</think><answer>Kraemukreisk Jepudou</answer>"


class Scripted(Policy):
    """Turn ``i`` of each episode is ``turns[i]``, in the tokenizer's ids, cut at ``max_tokens``
    as a real backend cuts; the samplings it was given are kept."""

    name = "scripted-tokens"

    def __init__(self, tokenizer: Any, *turns: str, hang: bool = False) -> None:
        self.tokenizer, self.turns, self.hang = tokenizer, turns, hang
        self.samplings: list[SamplingParams] = []

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        sampling = sampling or SamplingParams()
        self.samplings.append(sampling)
        if self.hang:  # a policy that never answers: the episode's deadline ends it
            await asyncio.Event().wait()
        out = []
        for prompt in map(as_prompt, prompts):
            turn = sum(m["role"] == "assistant" for m in prompt.messages)
            ids = [*self.tokenizer.encode(self.turns[min(turn, len(self.turns) - 1)],
                                          add_special_tokens=False), self.tokenizer.eos_token_id]
            ids = ids[:sampling.max_tokens]
            out.append(Completion(self.tokenizer.decode(ids, skip_special_tokens=True),
                                  tuple(ids), (-0.5,) * len(ids),
                                  "stop" if len(ids) < sampling.max_tokens else "length"))
        return out


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def trainer(length: int = 512, generations: int = 2) -> Any:
    """What a rollout_func reads of TRL's trainer: its GRPOConfig and the model's mode."""
    args = SimpleNamespace(max_completion_length=length, num_generations=generations,
                           num_generations_eval=None, temperature=0.7, top_p=0.9)
    return SimpleNamespace(args=args, model=SimpleNamespace(training=True))


def prompts(config: EnvConfig = CONFIG, group: int = 2) -> list[Any]:
    return [row["prompt"] for row in task_dataset(config=config) for _ in range(group)]


def test_lengths_sampling_and_groups_come_from_grpo_config(tokenizer: Any) -> None:
    policy = Scripted(tokenizer, SEARCH, ANSWER)
    rollout = make_rollout_func(config=CONFIG, policy=lambda _: policy)
    out = rollout(prompts(), trainer(length=512))
    assert out["env_status"] == ["answered"] * 4 and out["env_reward"] == [1.0, 1.0, 0.0, 0.0]
    assert out["tool_calls"] == [1] * 4
    assert {(s.temperature, s.top_p) for s in policy.samplings} == {(0.7, 0.9)}
    for completion, mask, logprobs in zip(out["completion_ids"], out["env_mask"],
                                          out["logprobs"], strict=True):
        assert len(completion) == len(mask) == len(logprobs) <= 512
        assert 0 in mask and mask[0] == 1  # the observation is in, masked out
    assert all(s.max_tokens <= 512 for s in policy.samplings)


def test_a_short_budget_cuts_turns_and_observations_and_says_truncated(tokenizer: Any) -> None:
    """Issue 32: 1,024-token completions came back with max_completion_length=128."""
    policy = Scripted(tokenizer, SEARCH, ANSWER)
    rollout = make_rollout_func(config=CONFIG, policy=lambda _: policy)
    out = rollout(prompts(), trainer(length=128))
    assert all(len(c) <= 128 for c in out["completion_ids"])
    assert max(s.max_tokens for s in policy.samplings) <= 128
    short = make_rollout_func(config=CONFIG, policy=lambda _: Scripted(tokenizer, SEARCH))
    cut = short(prompts(), trainer(length=20))  # the call itself does not fit
    assert all(len(c) <= 20 for c in cut["completion_ids"])
    assert cut["env_status"] == ["truncated"] * 4  # stopped mid-call: not a format error


def test_a_broken_episode_is_one_masked_token_with_no_reward(tokenizer: Any) -> None:
    """Issue 32: a timeout gave empty completion_ids, and TRL raised IndexError."""
    rollout = make_rollout_func(config=CONFIG, timeout_s=0.05,
                                policy=lambda _: Scripted(tokenizer, SEARCH, hang=True))
    out = rollout(prompts(), trainer())
    assert out["completion_ids"] == [[tokenizer.eos_token_id]] * 4
    assert out["env_mask"] == [[0]] * 4 and out["logprobs"] == [[0.0]] * 4
    assert out["env_reward"] == [None] * 4 and out["env_status"] == ["timeout"] * 4
    assert all(ids for ids in out["prompt_ids"])


def test_it_runs_inside_a_running_event_loop(tokenizer: Any) -> None:
    """Issue 32: ``asyncio.run`` failed in Jupyter (a loop is already running there)."""
    rollout = make_rollout_func(config=CONFIG,
                                policy=lambda _: Scripted(tokenizer, SEARCH, ANSWER))

    async def notebook_cell() -> dict[str, Any]:
        return rollout(prompts(), trainer())

    assert asyncio.run(notebook_cell())["env_status"] == ["answered"] * 4


def test_only_config_tasks_are_rolled_out(tokenizer: Any, tmp_path: Path) -> None:
    """Issue 32: ``config.tasks`` was replaced by the 500 default tasks."""
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    config = EnvConfig(tasks=str(path), max_turns=2, date="2026-01-01")
    rollout = make_rollout_func(config=config,
                                policy=lambda _: Scripted(tokenizer, SEARCH, ANSWER))
    assert rollout(prompts(config), trainer())["env_reward"] == [1.0, 1.0, 0.0, 0.0]
    default = [task_dataset(config=EnvConfig())[0]["prompt"]] * 2
    with pytest.raises(ConfigError, match="Expects a prompt whose question is one of the "
                                          "rollout's tasks"):
        rollout(default, trainer())


def test_prompts_must_come_in_groups_of_num_generations(tokenizer: Any) -> None:
    rollout = make_rollout_func(config=CONFIG, policy=lambda _: Scripted(tokenizer, ANSWER))
    mixed = prompts(group=1)  # two tasks, one each: not groups of 2
    with pytest.raises(ConfigError, match="in groups of num_generations=2 copies"):
        rollout(mixed, trainer(generations=2))
    assert len(rollout(mixed, trainer(generations=1))["env_reward"]) == 2
