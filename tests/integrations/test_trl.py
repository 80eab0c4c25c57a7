"""TRL: the tool env and its reward, and both routes through the real ``GRPOTrainer``."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest

from webresearch.envs.config import EnvConfig
from webresearch.integrations.trl import (
    WebResearchToolEnv,
    make_rollout_func,
    task_dataset,
    webresearch_reward,
)
from webresearch.policies.types import SamplingParams
from webresearch.status import EpisodeStatus

TASKS = [{"question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]},
         {"question": "What is Pogre Works?", "answers": ["a company"]}]
CONFIG = EnvConfig(tasks=TASKS, max_turns=2, top_k=2, max_observation_chars=600,
                   date="2026-01-01")
ANSWER = "<think>found</think><answer>Kraemukreisk Jepudou</answer>"


def assistant(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": text}]


def test_only_the_two_tools_are_public_and_typed() -> None:
    import inspect

    public = [name for name, _ in inspect.getmembers(WebResearchToolEnv, inspect.isfunction)
              if not name.startswith("_")]
    assert public == ["browse_webpage", "reset", "web_search"]  # what TRL offers as tools
    from transformers.utils import get_json_schema

    schema = get_json_schema(WebResearchToolEnv.web_search)
    assert schema["function"]["parameters"]["properties"]["query"]["type"] == "array"


def test_reward_is_the_env_s_verdict_on_each_rollout() -> None:
    envs = [WebResearchToolEnv(config=CONFIG) for _ in range(3)]
    for env in envs:
        env.reset(task=task_dataset(TASKS)[0]["task"])
    assert "Pogre Works" in asyncio.run(envs[0].web_search(["Pogre Works"]))
    tool_left = '<tool_call>{"name": "web_search", "arguments": {"query": ["x"]}}</tool_call>'
    completions = [assistant(ANSWER), assistant("no tags at all"), assistant(tool_left)]
    rewards = asyncio.run(webresearch_reward(completions, environments=envs))
    assert rewards == [1.0, -1.0, -1.0]
    assert [e.outcome.status for e in envs] == [
        EpisodeStatus.ANSWERED, EpisodeStatus.FORMAT_ERROR, EpisodeStatus.TRUNCATED]
    assert envs[0].outcome.tool_calls == 1
    # scoring again changes nothing: the episode ended once
    assert asyncio.run(webresearch_reward(completions, environments=envs)) == rewards


def test_reset_takes_question_columns_or_lets_the_env_draw() -> None:
    env = WebResearchToolEnv(config=CONFIG)
    assert env.reset(question="Who founded Pogre Works?", answers=["x"], prompt=[]) is None
    assert env.env.state.task.answers == ("x",)
    assert env.reset() in {t["question"] for t in TASKS}


def test_factory_and_instance_pickle() -> None:
    factory = functools.partial(WebResearchToolEnv, config=CONFIG)
    env = pickle.loads(pickle.dumps(factory))()
    env.reset(task=TASKS[0])
    again = pickle.loads(pickle.dumps(env))
    assert again.config == env.config and again.config.tools_in_prompt is False


def test_task_dataset_rows() -> None:
    pytest.importorskip("datasets")
    rows = task_dataset(TASKS, config=CONFIG)
    assert len(rows) == 2 and set(rows.column_names) == {"prompt", "task", "task_id"}
    system, user = rows[0]["prompt"]
    assert "<tools>" not in system["content"] and user["content"] == TASKS[0]["question"]


# ---------------------------------------------------------------- the real trainer
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("trl")
    from webresearch.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def trainer_for(model_dir: Path, out: Path, **route: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen2_5_chat_template

    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    tokenizer.chat_template = qwen2_5_chat_template
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = GRPOConfig(output_dir=str(out), max_steps=1, per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=16, logging_steps=1,
                      report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GRPOTrainer(model=model, processing_class=tokenizer, args=args,
                           reward_funcs=webresearch_reward,
                           train_dataset=task_dataset(TASKS, config=CONFIG), **route)


def train(trainer: Any) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    return next(log for log in trainer.state.log_history if "reward" in log)


@pytest.mark.slow
def test_environment_factory_route(tiny: Path, tmp_path: Path) -> None:
    trainer = trainer_for(tiny, tmp_path, environment_factory=functools.partial(
        WebResearchToolEnv, config=CONFIG))
    assert sorted(t.__name__ for t in trainer.tools) == ["browse_webpage", "web_search"]
    log = train(trainer)
    assert all(env.outcome is not None for env in trainer.environments)  # each one scored
    rewards = [env.outcome.reward for env in trainer.environments]
    assert math.isclose(log["reward"], sum(rewards) / len(rewards))


@pytest.mark.slow
def test_rollout_func_route(tiny: Path, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    inner = make_rollout_func(tasks=TASKS, config=CONFIG,
                              sampling=SamplingParams(max_tokens=8))

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        calls.append(out := inner(prompts, trainer))
        return out

    log = train(trainer_for(tiny, tmp_path, rollout_func=rollout_func))
    out = calls[0]
    assert len(out["prompt_ids"]) == 2
    for completion, mask, logprobs in zip(out["completion_ids"], out["env_mask"],
                                          out["logprobs"], strict=True):
        assert len(completion) == len(mask) == len(logprobs) and mask[0] == 1
    assert math.isclose(log["reward"], sum(out["env_reward"]) / 2)
