"""Scripted policies: the oracle's honesty and the no-tool floor."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from webresearch import policies
from webresearch.cli import build_parser, main
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, PolicyError
from webresearch.policies import (
    SCRIPTED_POLICIES,
    LongPolicy,
    NoToolPolicy,
    OraclePolicy,
    make_scripted_policy,
)
from webresearch.rollout import run_episode
from webresearch.tasks import SupportingPage, Task
from webresearch.web import MockWeb, SearchHit


def test_oracle_refuses_to_answer_what_it_could_not_verify() -> None:
    task = Task(id="t", question="Q?", answers=("gold",),
                supporting=(SupportingPage("https://a.test/p", "P", ("the fact",)),))
    hits = [SearchHit("P", "https://a.test/p", "s")]
    for text, expected in [("page without it", "unknown"), ("here is the fact", "gold")]:
        web = MockWeb(search=lambda q, k: hits, fetch=lambda url, text=text: text)
        env = WebResearchEnv(tasks=[task], web=web)
        result = asyncio.run(run_episode(env, OraclePolicy([task]), task))
        assert result.answer == expected and result.tool_calls == 2
    lost = MockWeb(search=lambda q, k: [], fetch=lambda url: "the fact")
    env = WebResearchEnv(tasks=[task], web=lost)
    assert asyncio.run(run_episode(env, OraclePolicy([task]), task)).answer == "unknown"


def test_oracle_in_search_r1_format_uses_only_search() -> None:
    env = WebResearchEnv(action_format="search-r1")
    task = env.tasks[0]
    result = asyncio.run(run_episode(env, OraclePolicy(env.tasks, "search-r1"), task))
    assert result.status == "answered"
    assert all("<search>" in m["content"] for m in result.messages() if m["role"] == "assistant"
               and "<answer>" not in m["content"])


def test_oracle_needs_a_known_task() -> None:
    with pytest.raises(PolicyError, match="a task the oracle was given"):
        OraclePolicy([]).act([{"role": "user", "content": "?"}])


def test_no_tool_and_factory() -> None:
    assert "<answer>" in NoToolPolicy("search-r1").act([])
    assert isinstance(make_scripted_policy("oracle", tasks=[]), OraclePolicy)
    with pytest.raises(ConfigError, match="Did you mean 'no-tool'"):
        make_scripted_policy("notool", tasks=[])


def test_heuristic_searcher_beats_the_floor_through_the_tools() -> None:
    from webresearch.policies.heuristic import HeuristicPolicy, best_span
    from webresearch.rollout import RolloutConfig, rollout, summarize

    tasks = WebResearchEnv().tasks[:200]
    report = asyncio.run(rollout(WebResearchEnv, HeuristicPolicy(), tasks,
                                 RolloutConfig(keep_results=True, progress=False)))
    summary = summarize(report.results, report.seconds)
    assert summary.mean_f1 is not None and summary.mean_f1 > 0.05
    assert summary.mean_tool_calls == 2.0
    assert best_span("What is the population of Karu?", "Karu has 1,234 people.") == "1,234"
    assert best_span("Who?", "") == ""
    search_only = asyncio.run(run_episode(WebResearchEnv(action_format="search-r1"),
                                          HeuristicPolicy("search-r1"), tasks[0]))
    assert search_only.tool_calls == 1 and search_only.status == "answered"



def test_the_long_policy_is_a_cli_choice_that_uses_the_whole_turn_budget(
        tmp_path: Path) -> None:
    """``--policy long`` (in the facade too) makes ``--max-turns`` tool calls, then
    answers: the episode ends answered, not truncated; ``eval`` takes it as well."""
    assert make_scripted_policy("long", tasks=[], max_turns=5).turns == 5
    assert "long" in SCRIPTED_POLICIES and policies.LongPolicy is LongPolicy
    assert build_parser().parse_args(["eval", "--policy", "long"]).policy == "long"
    out = tmp_path / "eps.jsonl"
    assert main(["rollout", "--policy", "long", "--max-turns", "5", "--episodes", "2",
                 "--no-progress", "--output", str(out), "--store", str(tmp_path / "store")]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    assert [(r["status"], len(r["steps"])) for r in records] == [("answered", 6)] * 2
