"""TRL: the tool env and its reward, and both routes through the real ``GRPOTrainer``."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from webresearch.envs.config import EnvConfig
from webresearch.errors import ConfigError
from webresearch.integrations.trl import (
    CompletionBudget,
    WebResearchToolEnv,
    check_trl_version,
    make_rollout_func,
    task_dataset,
    tool_env_factory,
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


def call(*queries: str) -> dict[str, Any]:
    """An assistant message with a tool call, as TRL's parser hands it back."""
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "web_search", "arguments": {"query": queries}}}]}


def test_trl_s_messages_end_an_episode_answered_or_truncated(
        caplog: pytest.LogCaptureFixture) -> None:
    """TRL's parser takes ``<think>`` and tool calls out of the text; a completion TRL
    stopped at a call (budget of calls or tokens spent, a result dropped) is truncated."""
    cut_call = '<tool_call>\n{"name": "web_search", "arguments": {"query": ["Pog'
    completions = {
        "answered": [{"role": "assistant", "reasoning_content": "found",
                      "content": "<answer>Kraemukreisk Jepudou</answer>"}],
        "calls left": [call("Pogre Works"), {"role": "tool", "content": "r"}, call("x")],
        "result last": [call("Pogre Works"), {"role": "tool", "content": "r"}],
        "cut mid-call": [{"role": "assistant", "content": cut_call}],
        "result dropped": [call("Pogre Works")],
    }
    envs = {name: WebResearchToolEnv(config=CONFIG) for name in completions}
    for name, env in envs.items():
        env.reset(task=TASKS[0])
        if name in ("calls left", "result last", "result dropped"):
            asyncio.run(env.web_search(["Pogre Works"]))
    with caplog.at_level(logging.WARNING, logger="webresearch.integrations.trl"):
        rewards = asyncio.run(webresearch_reward(list(completions.values()),
                                                 environments=list(envs.values())))
    assert rewards == [1.0, -1.0, -1.0, -1.0, -1.0]
    assert {name: str(env.outcome.status) for name, env in envs.items()} == {
        "answered": "answered", "calls left": "truncated", "result last": "truncated",
        "cut mid-call": "truncated", "result dropped": "truncated"}
    dropped = [r.getMessage() for r in caplog.records if "TRL dropped" in r.getMessage()]
    assert len(dropped) == 1 and "1 of 1 tool results" in dropped[0]
    assert "max_completion_length=512" in dropped[0]


def test_trl_versions_outside_the_tested_range_are_refused() -> None:
    check_trl_version(None)  # not installed: the routes that need it say so
    check_trl_version("1.16.0")
    check_trl_version("1.16.3.dev0")
    for version in ("1.15.2", "1.17.0", "2.0.0"):
        with pytest.raises(ConfigError, match=re.escape(
                f"Expects trl >=1.16,<1.17 (the range 'webresearch[trl]' supports), "
                f"actual: {version}")):
            check_trl_version(version)


def test_tool_results_fit_the_budget_tool_env_factory_derives() -> None:
    """Four 3-query searches under a 300-token budget: each cut to its share, with a note."""
    from types import SimpleNamespace

    config = EnvConfig(tasks=TASKS, max_turns=4, date="2026-01-01")
    args = SimpleNamespace(max_completion_length=500, max_tool_calling_iterations=None)
    env = tool_env_factory(args, config=config, turn_tokens=40)()
    assert env.budget == CompletionBudget(max_completion_length=500, tool_calls=4,
                                          turn_tokens=40, overhead_tokens=16)
    env.reset(task=TASKS[0])
    results = [asyncio.run(env.web_search(["Pogre Works", "Kraemukreisk", "founder"]))
               for _ in range(4)]
    assert all(r.startswith('Results for "Pogre Works"') for r in results[:4])
    assert all(re.search(r"\[cut: \d+ of \d+ tokens shown\]$", r) for r in results)
    assert env.result_tokens == sum(env.counter.count(r) for r in results)
    assert env.result_tokens <= env.budget.result_tokens == 500 - 5 * 40 - 4 * 16
    env.reset(task=TASKS[1])
    assert env.results == env.result_tokens == 0  # a new episode, a new budget


def test_reset_takes_question_columns_or_lets_the_env_draw() -> None:
    env = WebResearchToolEnv(config=CONFIG)
    assert env.reset(question="Who founded Pogre Works?", answers=["x"], prompt=[]) is None
    assert env.env.state.task.answers == ("x",)
    assert env.reset() in {t["question"] for t in TASKS}


def test_factory_and_instance_pickle() -> None:
    from types import SimpleNamespace

    args = SimpleNamespace(max_completion_length=400, max_tool_calling_iterations=1)
    for factory in (functools.partial(WebResearchToolEnv, config=CONFIG),
                    tool_env_factory(args, config=CONFIG)):
        env = pickle.loads(pickle.dumps(factory))()
        env.reset(task=TASKS[0])
        again = pickle.loads(pickle.dumps(env))
        assert again.config == env.config and again.config.tools_in_prompt is False
        assert again.budget == env.budget and again.env.outcome is None
    assert env.budget.tool_calls == 1 and env.budget.max_completion_length == 400


def test_a_default_tool_env_too_long_for_trl_s_default_is_refused() -> None:
    """Ten tool calls (the env's default max_turns) cannot share 512 tokens: said at once."""
    with pytest.raises(ConfigError, match="Expects max_completion_length >= 1008 for 10 tool"):
        WebResearchToolEnv()


def test_config_tasks_are_the_tasks_of_every_route(tmp_path: Path) -> None:
    """Issue 32: ``config.tasks`` was replaced by the 500 default tasks."""
    pytest.importorskip("datasets")
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    config = EnvConfig(tasks=str(path), max_turns=2)
    rows = task_dataset(config=config)
    assert [row["prompt"][1]["content"] for row in rows] == [t["question"] for t in TASKS]
    assert len(task_dataset(str(path))) == 2  # or named on their own
    for route in (task_dataset, lambda tasks, config: make_rollout_func(tasks=tasks,
                                                                         config=config)):
        with pytest.raises(ConfigError, match="Expects the tasks in one place"):
            route(TASKS, config=config)


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


def test_the_tiny_model_s_template_is_qwen2_5_s_and_trl_takes_it(tiny: Path) -> None:
    from transformers import AutoTokenizer
    from trl.chat_template_utils import (
        is_chat_template_prefix_preserving,
        qwen2_5_chat_template,
        qwen3_template,
        supports_tool_calling,
    )

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    assert supports_tool_calling(tokenizer) and is_chat_template_prefix_preserving(tokenizer)
    assert tokenizer.response_template == qwen3_template  # TRL's parser for Qwen2.5
    conversation = [{"role": "system", "content": "S"}, {"role": "user", "content": "q"},
                    call("Pogre Works"), {"role": "tool", "name": "web_search", "content": "R"},
                    {"role": "assistant", "content": "<answer>a</answer>"}]
    tools = [WebResearchToolEnv.web_search, WebResearchToolEnv.browse_webpage]
    for kwargs in ({}, {"tools": tools}):
        assert tokenizer.apply_chat_template(conversation, tokenize=False, **kwargs) == \
            tokenizer.apply_chat_template(conversation, tokenize=False, **kwargs,
                                          chat_template=qwen2_5_chat_template)
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert '<tool_call>\n{"name": "web_search", "arguments": {"query": ["Pogre Works"]}}' \
        in rendered
    assert "<|im_start|>user\n<tool_response>\nR\n</tool_response>" in rendered


def trainer_for(model_dir: Path, out: Path, *, dataset: Any = None,
                **route: Any) -> Any:
    """A GRPOTrainer on the tiny model as it is saved (no chat template swapped in)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    settings = {"max_steps": 1, "max_completion_length": 16, **route.pop("settings", {})}
    args = GRPOConfig(output_dir=str(out), per_device_train_batch_size=2, num_generations=2,
                      logging_steps=1, report_to="none", use_cpu=True, save_strategy="no",
                      disable_tqdm=True, **settings)
    if callable(factory := route.get("environment_factory")) and factory is tool_env_factory:
        route["environment_factory"] = factory(args, tokenizer, config=route.pop("config"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GRPOTrainer(model=model, processing_class=tokenizer, args=args,
                           reward_funcs=webresearch_reward,
                           train_dataset=dataset or task_dataset(TASKS, config=CONFIG), **route)


def train(trainer: Any) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    return next(log for log in trainer.state.log_history if "reward" in log)


def script(trainer: Any, *turns: str) -> None:
    """The model's turns, scripted: turn ``i`` once ``i`` tool results are in its context.

    Only the sampling is replaced; TRL's tool loop, budget checks, parsing and training
    step run as they are.
    """
    tokenizer = trainer.processing_class

    def generate(prompt_ids: list[list[int]], *_: Any, **__: Any) -> tuple[list[list[int]], None]:
        seen = [tokenizer.decode(ids).count("<|im_start|>user\n<tool_response>")
                for ids in prompt_ids]
        texts = [turns[min(n, len(turns) - 1)] for n in seen]
        return [[*tokenizer.encode(t, add_special_tokens=False), tokenizer.eos_token_id]
                for t in texts], None

    trainer._generate_single_turn = generate


def trained_on(trainer: Any) -> list[dict[str, Any]]:
    """What TRL trains on, step by step (its own batches, as it builds them)."""
    batches: list[dict[str, Any]] = []
    build = trainer._generate_and_score_completions

    def keep(inputs: Any) -> Any:
        batches.append(batch := build(inputs))
        return batch

    trainer._generate_and_score_completions = keep
    return batches


SEARCH = ('<tool_call>\n{"name": "web_search", "arguments": {"query": '
          '["Pogre Works", "Kraemukreisk Jepudou", "Pogre Works founder"]}}\n</tool_call>')


def test_tool_results_reach_the_model_at_trl_s_default_length(tiny: Path, tmp_path: Path) -> None:
    """Issue 32: at TRL's default 512 tokens and max_turns=4, a 3-query search (3.2k tokens
    in full) was dropped from every episode. Sized to the budget, its result is in what
    TRL trains on, and each episode ends answered."""
    from trl import GRPOConfig

    default = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert default.max_completion_length == 512
    config = EnvConfig(tasks=TASKS, max_turns=4, date="2026-01-01")
    trainer = trainer_for(tiny, tmp_path, environment_factory=tool_env_factory, config=config,
                          settings={"max_steps": 2, "max_completion_length": 512},
                          dataset=task_dataset(config=config))
    script(trainer, SEARCH, "<think>found</think><answer>Kraemukreisk Jepudou</answer>")
    batches = trained_on(trainer)
    log = train(trainer)
    assert len(batches) == 2 and trainer.args.max_completion_length == 512
    tokenizer = trainer.processing_class
    for batch in batches:
        for ids, kept, model in zip(batch["completion_ids"], batch["completion_mask"],
                                    batch["tool_mask"], strict=True):
            tool_ids = [int(i) for i, k, m in zip(ids, kept, model, strict=True) if k and not m]
            result = tokenizer.decode(tool_ids)
            assert '<tool_response>\nResults for "Pogre Works":' in result  # the model saw it
            assert re.search(r"\[cut: \d+ of \d+ tokens shown\]", result)  # and it was told
            assert int(kept.sum()) <= 512
    outcomes = [env.outcome for env in trainer.environments]
    assert [(o.status, o.tool_calls) for o in outcomes] == [(EpisodeStatus.ANSWERED, 1)] * 2
    assert log["tools/call_frequency"] == 1.0 and log["tools/failure_frequency"] == 0.0


def test_a_result_trl_drops_ends_the_episode_truncated_and_is_logged(
        tiny: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An env sized for a budget TRL does not have: TRL drops the result, the episode is
    truncated (not a format error) and the drop is logged."""
    budget = CompletionBudget(max_completion_length=100_000, tool_calls=2)
    trainer = trainer_for(tiny, tmp_path, settings={"max_completion_length": 128},
                          environment_factory=functools.partial(
                              WebResearchToolEnv, config=CONFIG, budget=budget))
    script(trainer, SEARCH)
    with caplog.at_level(logging.WARNING, logger="webresearch.integrations.trl"):
        train(trainer)
    assert [str(env.outcome.status) for env in trainer.environments] == ["truncated"] * 2
    assert sum("TRL dropped 1 of 1 tool results" in r.getMessage() for r in caplog.records) == 2


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
    inner = make_rollout_func(config=CONFIG, sampling=SamplingParams(max_tokens=8))

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        calls.append(out := inner(prompts, trainer))
        return out

    log = train(trainer_for(tiny, tmp_path, rollout_func=rollout_func))
    out = calls[0]
    assert len(out["prompt_ids"]) == 2
    for completion, mask, logprobs in zip(out["completion_ids"], out["env_mask"],
                                          out["logprobs"], strict=True):
        assert len(completion) == len(mask) == len(logprobs) and mask[0] == 1
        assert len(completion) <= 16  # GRPOConfig(max_completion_length=16)
    assert math.isclose(log["reward"], sum(out["env_reward"]) / 2)
