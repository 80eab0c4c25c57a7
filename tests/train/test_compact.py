"""The compact format: Search-R1's grammar, short prompts, URL and snippet per hit, and
DeepResearcher's reward scoring its episodes."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.scripted import NoToolPolicy, OraclePolicy
from webresearch.policies.tiny import build_tiny_model
from webresearch.rollout.episode import run_episode
from webresearch.train.compact import CompactFormat
from webresearch.web.backend import SearchHit, SearchResults


def test_results_show_the_url_and_snippet_of_each_hit_and_failures() -> None:
    fmt = CompactFormat()
    hits = (SearchHit("A", "https://s.test/A", "A is."), SearchHit("B", "https://s.test/B", "B."))
    text = fmt.render_search([SearchResults("q", hits), SearchResults("r", (), error="429")])
    assert text == "https://s.test/A\n A is.\nhttps://s.test/B\n B.\nSearch failed: 429"
    assert fmt.render_search([SearchResults("q", ())]) == "No results."


def test_the_prompts_are_short() -> None:
    env = WebResearchEnv(action_format=CompactFormat(), max_turns=3)
    observation, info = env.reset(seed=0)
    assert observation == info["question"] and len(info["system_prompt"]) < 120
    assert "at most 3 times" in info["system_prompt"]
    env.close()


def test_the_oracle_scores_full_reward_and_the_floor_none() -> None:
    env = WebResearchEnv(action_format=CompactFormat(), top_k=1, max_turns=4)
    task = next(t for t in env.tasks if t.hops == 1 and t.answers[0].isdigit())
    oracle = asyncio.run(run_episode(env, OraclePolicy([task], CompactFormat()), task))
    floor = asyncio.run(run_episode(env, NoToolPolicy(CompactFormat()), task))
    assert (oracle.status, oracle.reward, oracle.tool_calls) == ("answered", 1.0, 1)
    assert (floor.reward, floor.tool_calls) == (0.0, 0)
    broken = asyncio.run(env.areset(options={"task": task}))
    _, reward, done, _, _ = asyncio.run(env.astep("<think>hm</think> no tags"))
    assert broken and done and reward == -1.0  # DeepResearcher's format penalty
    env.close()


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory: pytest.TempPathFactory) -> object:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_worlds=(101,),
                            qwen2_pieces=True)
    return transformers.AutoTokenizer.from_pretrained(path)


def _contains(ids: list[int], part: list[int]) -> bool:
    return any(ids[i:i + len(part)] == part for i in range(len(ids) - len(part) + 1))


@settings(max_examples=50, deadline=None)
@given(name=st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,11})?", fullmatch=True))
def test_a_name_is_the_same_tokens_in_a_question_a_query_a_snippet_and_an_answer(
        qwen2: object, name: str) -> None:
    """A model copies tokens, not letters: the format writes a name as a question does."""
    fmt, encode = CompactFormat(), qwen2.encode  # type: ignore[attr-defined]
    asked = encode(f" {name}")
    assert _contains(encode(fmt.user_prompt(f"Who founded {name}?")), asked)
    assert _contains(encode(fmt.write_call("search", [f"{name} founded"])), asked)
    assert _contains(encode(fmt.write_answer(name)), asked)
    hit = SearchHit(name, "https://s.test/x", f"{name} is a city.")
    assert _contains(encode(fmt.render_search([SearchResults("q", (hit,))])), asked)
