"""What frameworks need of WebResearchEnv: tools called by name, an answer submitted, a
tool-free system prompt, the sync API inside a running loop, a silent exit without close()."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import StateError
from webresearch.status import EpisodeStatus

TASK = {"question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]}


@pytest.fixture
def env() -> WebResearchEnv:
    env = WebResearchEnv(tasks=[TASK], date="2026-01-01", max_turns=2)
    yield env
    env.close()


def test_tool_free_prompt_drops_only_the_tools_block() -> None:
    with_tools = WebResearchEnv(tasks=[TASK], date="2026-01-01")
    without = WebResearchEnv(tasks=[TASK], date="2026-01-01", tools_in_prompt=False)
    assert "<tools>" in with_tools.system_prompt and "<tools>" not in without.system_prompt
    assert with_tools.system_prompt.startswith(without.system_prompt)
    assert "<answer>" in without.system_prompt
    assert without.config_json()["tools_in_prompt"] is False


def test_call_tool_then_submit_scores_the_answer(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    assert "Pogre Works" in env.call_tool("web_search", {"query": ["Pogre Works"]})
    assert env.call_tool("search", {"query": "Pogre Works"}).startswith("Results for")
    assert "used up" in env.call_tool("web_search", {"query": ["more"]})
    assert env.outcome is None
    assert env.submit("Kraemukreisk Jepudou") == 1.0
    outcome = env.outcome
    assert outcome is not None and outcome.status is EpisodeStatus.ANSWERED
    assert outcome.tool_calls == 2 and outcome.f1 == 1.0
    with pytest.raises(StateError, match=re.escape("the episode ended")):
        env.call_tool("web_search", {"query": ["x"]})


def test_submit_without_an_answer_is_the_env_s_no_answer_verdict(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    assert env.submit(None) == -1.0  # DeepResearcher's reward without an answer
    assert env.outcome is not None and env.outcome.status is EpisodeStatus.TRUNCATED


@given(name=st.text(max_size=20), arguments=st.dictionaries(
    st.sampled_from(["query", "url_list", "x"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers()))))
@settings(max_examples=80, deadline=None)
def test_a_bad_tool_call_is_text_never_an_exception(name: str, arguments: dict) -> None:
    env = WebResearchEnv(tasks=[TASK], date="2026-01-01")
    try:
        env.reset(seed=0)
        result = env.call_tool(name, arguments)
        assert isinstance(result, str) and result
        assert env.outcome is None
    finally:
        env.close()


def test_sync_api_inside_a_running_loop(env: WebResearchEnv) -> None:
    async def inside() -> float:
        env.reset(seed=0)
        env.step('<think>.</think><tool_call>{"name": "web_search", "arguments": '
                 '{"query": ["Pogre Works"]}}</tool_call>')
        return env.submit("Kraemukreisk Jepudou")

    assert asyncio.run(inside()) == 1.0


def test_no_output_at_exit_without_close() -> None:
    code = ("from webresearch.envs.web_research import WebResearchEnv\n"
            f"env = WebResearchEnv(tasks=[{json.dumps(TASK)}])\n"
            "env.reset(seed=0)\n"
            "env.call_tool('web_search', {'query': ['Pogre Works']})\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr
