"""The completion budget: tool results cut to their share, counted in the model's tokens."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from webresearch.envs.config import EnvConfig
from webresearch.errors import ConfigError
from webresearch.integrations.trl import task_dataset, tool_env_factory
from webresearch.integrations.trl_budget import CompletionBudget, TokenCounter


@pytest.mark.parametrize(("length", "calls", "least"), [(128, 4, 432), (300, 10, 1008)],
                         ids=["4-calls", "10-calls"])
def test_a_budget_too_small_for_one_result_per_call_is_refused(length: int, calls: int,
                                                               least: int) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            f"Expects max_completion_length >= {least} for {calls} tool calls")) as error:
        CompletionBudget(max_completion_length=length, tool_calls=calls)
    assert f"actual: {length}" in str(error.value)
    CompletionBudget(max_completion_length=least, tool_calls=calls)  # the least that fits


def test_each_result_gets_an_equal_share_of_what_is_left() -> None:
    budget = CompletionBudget(max_completion_length=1000, tool_calls=3, turn_tokens=50,
                              overhead_tokens=10)
    assert budget.result_tokens == 1000 - 4 * 50 - 3 * 10 == 770
    assert budget.allowance(used=0, calls_made=0) == 256
    assert budget.allowance(used=56, calls_made=1) == 357  # a short result leaves more
    assert budget.allowance(used=770, calls_made=2) == 0
    assert budget.allowance(used=0, calls_made=5) == 770  # past the calls: what is left


@pytest.mark.parametrize("tokens", [32, 40, 200])
def test_a_cut_result_fits_and_says_so(tiny_model: Path, tokens: int) -> None:
    from transformers import AutoTokenizer

    counter = TokenCounter(AutoTokenizer.from_pretrained(tiny_model))
    text = "Results for \"Pogre Works\":\n1. Pogre Works - Simpedia\n" * 40
    cut, count = counter.fit(text, tokens)
    assert count == counter.count(cut) <= tokens
    assert re.search(r"\n\[cut: \d+ of \d+ tokens shown\]$", cut)
    assert text.startswith(cut.split("\n[cut: ")[0])  # a prefix of the result
    assert counter.fit("short", tokens) == ("short", counter.count("short"))


def test_the_template_overhead_is_what_trl_adds_around_a_result(tiny_model: Path) -> None:
    """TRL's own measure (``_get_tool_suffix_ids``) of the tokens around a tool result."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    head = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "web_search", "arguments": {}}}]}]
    before = tokenizer.apply_chat_template(head, tokenize=True, return_dict=False)
    after = tokenizer.apply_chat_template(
        [*head, {"role": "tool", "name": "web_search", "content": ""}], tokenize=True,
        return_dict=False, add_generation_prompt=True)
    assert len(after) - len(before) <= TokenCounter(tokenizer).template_overhead()


def test_a_three_query_search_fits_trl_s_default_budget(tiny_model: Path) -> None:
    """Issue 32: with max_turns=4 and TRL's 512 tokens, a 3-query search took 3.2k tokens."""
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    args = GRPOConfig(output_dir="unused", report_to="none", use_cpu=True)
    assert args.max_completion_length == 512  # TRL's default, which the budget assumes
    config = EnvConfig(max_turns=4)
    env = tool_env_factory(args, tokenizer, config=config)()
    row = task_dataset(config=config)[0]
    env.reset(task=row["task"])
    results = [asyncio.run(env.web_search(["Pogre Works", "Tremy Toutristy", "history"]))
               for _ in range(4)]
    counts = [len(tokenizer.encode(r, add_special_tokens=False)) for r in results]
    assert all(results) and "Results for" in results[0] and "tokens shown]" in results[0]
    assert sum(counts) <= env.budget.result_tokens
    budget = env.budget
    model_turns = (budget.tool_calls + 1) * budget.turn_tokens
    assert sum(counts) + 4 * budget.overhead_tokens + model_turns <= 512
