"""Rewards agree with DeepResearcher's scorer; the env's verdicts never contradict themselves."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webresearch.envs.rewards import (
    Submission,
    deepresearcher_reward,
    exact_match,
    f1_score,
    get_reward,
    normalize_answer,
    score_response,
    search_r1_reward,
    squad_exact_match,
)
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.status import EpisodeStatus
from webresearch.web import MockWeb

GOLDS = ("Paris", "City of Light")


def reference(response: str, golds: tuple[str, ...], val_type: str = "f1") -> float:
    """DeepResearcher's ``format_and_f1.compute_score``, re-derived from its description:
    lower-case everything; per tag (tool_call, think, answer) equal counts and, scanning
    from the left, a closing tag after each opening one past the last close; the first
    answer, punctuation to spaces, F1 over word sets (or EM) against each alias."""
    text = response.lower()
    for tag in ("tool_call", "think", "answer"):
        opening, closing = f"<{tag}>", f"</{tag}>"
        if text.count(opening) != text.count(closing):
            return -1.0
        last = -1
        while True:
            begin = text.find(opening, last + 1)
            if begin == -1:
                break
            end = text.find(closing, begin)
            if end == -1:
                return -1.0
            last = end
    found = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    if found is None:
        return -1.0

    def clean(s: str) -> str:
        for mark in string.punctuation:
            s = s.replace(mark, " ")
        return re.sub(r"\s+", " ", s).strip()

    answer = clean(found.group(1).strip())
    best = 0.0
    for alias in "<|answer_split|>".join(golds).lower().split("<|answer_split|>"):
        gold = clean(alias)
        if val_type == "em":
            if gold == answer:
                return 1.0
            continue
        predicted, expected = set(answer.split()), set(gold.split())
        if not predicted or not expected:
            continue
        common = len(predicted & expected)
        if common:
            p, r = common / len(predicted), common / len(expected)
            best = max(best, 2 * p * r / (p + r))
    return best


def env_reward(response: str) -> tuple[float, dict[str, object], bool]:
    env = WebResearchEnv(tasks=[{"question": "Capital of France?", "answers": list(GOLDS)}],
                         web=MockWeb())
    try:
        env.reset(seed=0)
        _, reward, terminated, truncated, info = env.step(response)
        return float(reward), info, terminated or truncated
    finally:
        env.close()


CALL = '<tool_call>{"name": "web_search", "arguments": {"query": ["q"]}}</tool_call>'
SHAPES = {
    "plain": "<think>t</think><answer>Paris</answer>",
    "no-think": "<answer>Paris</answer>",
    "partial": "<think>t</think><answer>Paris, France</answer>",
    "first-of-two": "<think>t</think><answer>Lyon</answer><answer>Paris</answer>",
    "no-answer": "<think>t</think>Paris",
    "unbalanced-think": "<think>t<answer>Paris</answer>",
    "unbalanced-tool-call": "<think>t</think><tool_call>{}<answer>Paris</answer>",
    "unbalanced-answer": "<think>t</think><answer>Paris</answer></answer>",
    "nested": "<think>t</think><answer><answer>Paris</answer></answer>",
    "empty": "<think>t</think><answer></answer>",
    "case-punct": "<think>t</think><answer>PARIS.</answer>",
    "upper-tags": "<THINK>t</THINK><ANSWER>Paris</ANSWER>",
    "mixed-case-tags": "<Think>t</think><Answer>paris</ANSWER>",
    "upper-unbalanced": "<THINK>t<answer>Paris</answer>",
    "close-before-open": "<think>t</think><answer>Paris</answer></think><think>",
    "close-before-open-answer": "</answer><answer>Paris</answer><answer>",
    "answer-and-tool-call": f"<think>t</think>{CALL}<answer>Paris</answer>",
    "answer-before-tool-call": f"<answer>Paris</answer><think>t</think>{CALL}",
    "tags-in-answer": "<think>t</think><answer>Paris <b>city</b></answer>",
    "newlines": "<think>t</think><answer>\n  city\nof light \n</answer>",
    "alias": "<think>t</think><answer>the city of light</answer>",
    "attribute-tag": '<think>t</think><answer id="1">Paris</answer>',
    "kelvin-sign": "<thin\u212a>t</thin\u212a><answer>Paris</answer>",
    "dotted-capital-i": "<th\u0130nk>t</think><answer>Paris \u0130stanbul</answer>",
    "only-tool-call": f"<think>t</think>{CALL}",
    "unicode-space": "<think>t</think><answer>Paris\u00a0France</answer>",
}


@pytest.mark.parametrize("response", SHAPES.values(), ids=SHAPES.keys())
def test_every_shape_scores_as_deepresearcher_does(response: str) -> None:
    expected = reference(response, GOLDS)
    assert score_response(response, GOLDS) == pytest.approx(expected)
    reward, info, ended = env_reward(response)
    if ended:
        assert reward == pytest.approx(expected)
    else:  # the env ran a tool call: DeepResearcher finds no answer in it either
        assert expected == -1.0 and info["action"] == "search"


_PIECES = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>", "</answer>",
           "<THINK>", "</Think>", "<ANSWER>", "</Answer>", "<TOOL_CALL>", "Paris", "city",
           "of", "light", "Lyon", " ", "\n", ".", ",", "<", ">", "/", "answer", "\u212a",
           "\u0130", '{"name": "web_search", "arguments": {"query": ["q"]}}']


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_generated_responses_score_as_deepresearcher_does(response: str) -> None:
    assert score_response(response, GOLDS) == pytest.approx(reference(response, GOLDS))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=20).map("".join))
def test_the_env_agrees_with_its_own_verdict(response: str) -> None:
    reward, info, ended = env_reward(response)
    if not ended:
        return
    outcome = info["outcome"]
    assert outcome.reward == reward
    if outcome.status is EpisodeStatus.ANSWERED:
        assert outcome.answer is not None
        assert outcome.f1 == f1_score(outcome.answer, GOLDS) == reward
        assert outcome.em == exact_match(outcome.answer, GOLDS)
    else:
        assert outcome.answer is None and outcome.f1 == outcome.em == 0.0 and reward == -1.0
    assert outcome.em <= outcome.f1 or outcome.f1 == 0.0
    assert reward == pytest.approx(reference(response, GOLDS))


@pytest.mark.parametrize(("text", "normal"), [
    ("Hello, World!", "hello world"),
    ("U.S.A.", "u s a"),
    ("  a\t\nb  ", "a b"),
    ("rock'n'roll", "rock n roll"),
    ("Café", "café"),  # non-ASCII kept: only ASCII punctuation becomes space
    ("«quoted»", "«quoted»"),
])
def test_normalize_answer(text: str, normal: str) -> None:
    assert normalize_answer(text) == normal


def test_f1_uses_token_sets_and_the_best_alias() -> None:
    assert f1_score("Barack Obama", ["Obama", "Barack Hussein Obama"]) == pytest.approx(0.8)
    assert f1_score("Obama Obama Obama", ["Obama"]) == 1.0
    assert f1_score("", ["x"]) == 0.0
    assert f1_score("x", []) == 0.0
    assert f1_score("New-York", ["new york"]) == 1.0


def test_exact_match_over_aliases() -> None:
    assert exact_match("the Beatles", ["Beatles", "The Beatles"]) == 1.0
    assert exact_match("Beatles!", ["the beatles"]) == 0.0  # no article removal in DeepResearcher
    assert squad_exact_match("Beatles!", ["the beatles"]) == 1.0


def test_rewards_score_the_parsed_answer_never_the_text() -> None:
    text = ("<answer>Lyon</answer>",)  # a rejected earlier turn must not be what is scored
    assert deepresearcher_reward(Submission("Paris", text), GOLDS) == 1.0
    assert deepresearcher_reward(Submission(None, text), GOLDS) == -1.0
    assert search_r1_reward(Submission("the Paris"), GOLDS) == 1.0
    assert search_r1_reward(Submission(None), GOLDS) == 0.0


def test_feedback_mode_scores_the_final_answer_not_a_rejected_one() -> None:
    env = WebResearchEnv(tasks=[{"question": "Q?", "answers": ["Paris"]}],
                         on_format_error="feedback")
    env.reset(seed=0)
    _, _, terminated, _, info = env.step("<answer>Lyon</answer></think>")  # invalid: retried
    assert not terminated and info["action"] == "invalid"
    _, reward, terminated, _, info = env.step("<think>t</think><answer>Paris</answer>")
    assert terminated and reward == 1.0 and info["outcome"].answer == "Paris"
    env.close()


def test_get_reward_names_and_did_you_mean() -> None:
    assert get_reward("em")(Submission("Paris."), ["paris"]) == 1.0
    with pytest.raises(ConfigError, match="Did you mean 'deepresearcher'"):
        get_reward("deepresarcher")
