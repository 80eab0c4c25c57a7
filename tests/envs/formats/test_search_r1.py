"""Search-R1's action format."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.formats import Answer, Invalid, SearchR1Format, ToolCall
from webresearch.envs.formats.search_r1 import first_action

fmt = SearchR1Format()


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>x</think><search> who </search>", ToolCall("search", ("who",))),
    ("<search>a</search><answer>b</answer>", ToolCall("search", ("a",))),
    ("<answer>b</answer><search>a</search>", Answer("b")),
    ("<think>x</think>\n<answer>\nBeijing\n</answer>", Answer("Beijing")),
], ids=["search", "search-first", "answer-first", "multiline-answer"])
def test_first_tag_counts(text: str, expected: object) -> None:
    assert fmt.parse(text) == expected


@pytest.mark.parametrize("text", ["", "<search></search>", "<search>unclosed", "<answer>x"])
def test_invalid(text: str) -> None:
    assert isinstance(fmt.parse(text), Invalid)


def test_prompt_results_and_writing() -> None:
    assert fmt.user_prompt("Who?").endswith("Question: Who?\n")
    assert fmt.wrap("body") == "<information>body</information>"
    assert fmt.parse(fmt.write_call("search", ["q"])) == ToolCall("search", ("q",))
    with pytest.raises(ValueError, match="only a search tool"):
        fmt.write_call("browse", ["u"])


# Search-R1's own parser is this regex; ours finds the same action in linear time.
SEARCH_R1_REGEX = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
TAG_SOUP = st.lists(st.sampled_from(["<search>", "</search>", "<answer>", "</answer>", "a",
                                     " ", "<", ">", "/", "search", "<searc", "\n"]),
                    max_size=40).map("".join)


@settings(max_examples=2000, deadline=None)
@given(TAG_SOUP)
def test_first_action_is_the_regex_match(text: str) -> None:
    match = SEARCH_R1_REGEX.search(text)
    assert first_action(text) == ((match.group(1), match.group(2)) if match else None)


def test_open_tags_without_end_do_not_stall() -> None:
    # "<search>" * 12500 (100 KB, within the default action limit) took the regex 12-16 s
    text = "<search>" * 12_500 + "<answer>" * 12_500 + "</answer"
    assert isinstance(SearchR1Format().parse(text), Invalid)
