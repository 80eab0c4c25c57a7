"""Grammar-generated actions (JSON of every shape, numbers, nesting, URLs) never raise from step."""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webresearch.envs.fuzz import hostile_action
from webresearch.envs.web_research import WebResearchEnv
from webresearch.status import EpisodeStatus

EXAMPLES = int(os.environ.get("WEBRESEARCH_FUZZ_EXAMPLES", "400"))
"""Hypothesis examples per (format, error mode): it shrinks what fails to its core."""
BULK = int(os.environ.get("WEBRESEARCH_FUZZ_BULK", "25000"))
"""Grammar-made actions per (format, error mode) from the fast generator: 100,000 in all."""

_URLS = st.one_of(
    st.sampled_from(["http://[::1", "http://[::1]:99999/", "https://simpedia.test/wiki/%%",
                     "http://a:b@c:d@e/", "//x", "http:///", "javascript:alert(1)",
                     "http://\u3002\uff11\uff12\uff17/", "http://0x7f.1/", "file:///etc/passwd",
                     "http://" + "a" * 300 + ".test/", "http://x.test:-1/", "http://[v1.x]/",
                     "https://simpedia.test/wiki/Pogre_Works", "http://\udcff.test/"]),
    st.text(max_size=40).map(lambda s: "http://" + s),
    st.text(max_size=40))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20), _URLS,
                     st.sampled_from(["1" * 5000, "-" + "9" * 4400, "1e999", "NaN"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
_NAMES = st.one_of(st.sampled_from(["web_search", "browse_webpage", "WEB_SEARCH", ""]), _JSON)
_FIELDS = st.sampled_from(["query", "url_list", "url", "queries", "q"])


@st.composite
def _tool_calls(draw: st.DrawFn) -> str:
    arguments = draw(st.one_of(
        st.dictionaries(_FIELDS, st.one_of(_JSON, st.lists(_URLS, max_size=4)), max_size=3),
        _JSON))
    if draw(st.booleans()):
        arguments = json.dumps(arguments, allow_nan=True)
    call = {"name": draw(_NAMES), "arguments": arguments}
    body = json.dumps(call, allow_nan=True) if draw(st.booleans()) else draw(
        st.sampled_from(["{", "[" * 200, '{"name": ' + "9" * 5000 + "}", "{}", "null",
                         '{"name": "web_search", "arguments": {"query": "' + "\\ud800" + '"}}']))
    return f"<think>t</think><tool_call>{body}</tool_call>"


_RAW_NUMBERS = st.sampled_from(["1" * 5000, "1e99999", "-0", "0x10", "1_000", "\u0661\u0662"])
_ACTIONS = st.one_of(
    _tool_calls(),
    st.builds(lambda q: f"<search>{q}</search>", st.one_of(st.text(max_size=50), _RAW_NUMBERS)),
    st.builds(lambda a: f"<think>x</think><answer>{a}</answer>", st.text(max_size=50)),
    st.lists(st.sampled_from(["<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>",
                              "</answer>", "<search>", "</search>", "{", "}", '"', "[", "]"]),
             max_size=20).map("".join),
    st.text(max_size=200))

_ENVS: dict[tuple[str, str], WebResearchEnv] = {}


def _env(action_format: str, on_format_error: str) -> WebResearchEnv:
    key = (action_format, on_format_error)
    if key not in _ENVS:
        _ENVS[key] = WebResearchEnv(action_format=action_format, on_format_error=on_format_error,
                                    max_turns=4)
    return _ENVS[key]


@pytest.fixture(scope="module", autouse=True)
def _close_envs() -> object:
    yield
    for env in _ENVS.values():
        env.close()
    _ENVS.clear()


@pytest.mark.parametrize("on_format_error", ["end", "feedback"])
@pytest.mark.parametrize("action_format", ["deepresearcher", "search-r1"])
def test_generated_actions_never_raise(action_format: str, on_format_error: str) -> None:
    env = _env(action_format, on_format_error)
    env.reset(seed=0)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(_ACTIONS)
    def step(action: str) -> None:
        if env.state is None or env.state.done:
            env.reset()
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs in env.observation_space
        assert -1.0 <= reward <= 1.0
        if terminated or truncated:
            assert info["outcome"].status in (EpisodeStatus.ANSWERED, EpisodeStatus.FORMAT_ERROR,
                                              EpisodeStatus.TRUNCATED)

    step()


@pytest.mark.parametrize("on_format_error", ["end", "feedback"])
@pytest.mark.parametrize("action_format", ["deepresearcher", "search-r1"])
def test_a_hundred_thousand_grammar_made_actions_never_raise(action_format: str,
                                                             on_format_error: str) -> None:
    env = _env(action_format, on_format_error)
    env.reset(seed=1)
    rng = random.Random(f"{action_format}/{on_format_error}")
    ended = 0
    for _ in range(BULK):
        obs, reward, terminated, truncated, info = env.step(hostile_action(rng))
        assert -1.0 <= reward <= 1.0 and len(obs) <= env.config.max_observation_chars
        if terminated or truncated:
            ended += 1
            assert info["outcome"].status.scored
            env.reset()
    assert ended > BULK // 20  # the generator reaches the ends of episodes, not only tools
