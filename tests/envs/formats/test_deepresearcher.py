"""DeepResearcher's action format: parsing tool calls and answers, and every way to get it wrong."""

from __future__ import annotations

import json

import pytest

from webresearch.envs.formats import Answer, DeepResearcherFormat, Invalid, ToolCall, get_format

fmt = DeepResearcherFormat()


def call(payload: object) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f"<think>t</think>\n<tool_call>{body}</tool_call>"


@pytest.mark.parametrize(("text", "expected"), [
    (call({"name": "web_search", "arguments": {"query": ["a", " b "]}}),
     ToolCall("search", ("a", "b"))),
    (call({"name": "web_search", "arguments": {"query": "single"}}),
     ToolCall("search", ("single",))),
    (call({"name": "browse_webpage", "arguments": {"url_list": ["https://x.test/"]}}),
     ToolCall("browse", ("https://x.test/",))),
    (call({"name": "browse_webpage", "arguments": {"url": "https://x.test/"}}),
     ToolCall("browse", ("https://x.test/",))),
    (call({"name": "web_search", "arguments": json.dumps({"query": ["q"]})}),
     ToolCall("search", ("q",))),
    ("<think>x</think><answer> Paris </answer>", Answer("Paris")),
    ("<answer>A</answer> and then <answer>B</answer>", Answer("A")),
    ("<think><think>nested</think></think><answer>A</answer>", Answer("A")),
], ids=["search", "search-str", "browse", "browse-url-alias", "args-as-json-string", "answer",
        "first-answer", "nested-think"])
def test_valid_actions(text: str, expected: object) -> None:
    assert fmt.parse(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected <tool_call>{...}</tool_call> or <answer>...</answer>"),
    ("just prose", "expected <tool_call>"),
    ("<think>open", "unbalanced <think> tags (1 opened, 0 closed)"),
    ("<answer>open", "unbalanced <answer> tags"),
    ("</tool_call>", "unbalanced <tool_call> tags (0 opened, 1 closed)"),
    (call("{not json"), "the tool call is not valid JSON"),
    (call("[1, 2]"), "the tool call must be a JSON object, not list"),
    (call({"name": "web_serch", "arguments": {}}), "Did you mean 'web_search'?"),
    (call({"name": "calculator"}), "unknown tool 'calculator'; the tools are"),
    (call({"name": 3}), "unknown tool 3"),
    (call({"name": "web_search", "arguments": {"query": []}}), "'query' is empty"),
    (call({"name": "web_search", "arguments": {"query": ["  "]}}), "'query' is empty"),
    (call({"name": "web_search", "arguments": {"query": [1]}}), "must be a string or a list"),
    (call({"name": "web_search", "arguments": {}}), "'query' must be a string or a list"),
    (call({"name": "web_search", "arguments": [1]}), "'arguments' must be a JSON object"),
    (call({"name": "web_search", "arguments": "{bad"}), "the 'arguments' is not valid JSON"),
    (call({"name": "browse_webpage", "arguments": {"url_list": ""}}), "'url_list' is empty"),
    ("<answer>x</answer></think><think>", "a <think> opens with no </think> after it"),
    ("<THINK>x<answer>y</answer>", "unbalanced <think> tags (1 opened, 0 closed)"),
    (call("[" * 100_000 + "]" * 100_000), "the tool call is not valid JSON"),
], ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_invalid_actions_say_what_was_wrong(text: str, message: str) -> None:
    parsed = fmt.parse(text)
    assert isinstance(parsed, Invalid)
    assert message in parsed.message


def test_an_answer_beside_a_tool_call_is_the_final_answer() -> None:
    both = call({"name": "web_search", "arguments": {"query": "a"}}) + "<answer>x</answer>"
    assert fmt.parse(both) == Answer("x")  # DeepResearcher looks for an answer first


def test_of_several_tool_calls_the_first_runs_with_a_note() -> None:
    parsed = fmt.parse(call({"name": "web_search", "arguments": {"query": "a"}})
                       + call({"name": "web_search", "arguments": {"query": "b"}}))
    assert isinstance(parsed, ToolCall) and parsed.arguments == ("a",)
    assert "first of the 2 tool calls" in parsed.note


@pytest.mark.parametrize("text", ["<ANSWER>Paris</ANSWER>", "<Answer>Paris</answer>",
                                  "<think>t</THINK><answer>Paris</ANSWER>"])
def test_tags_are_found_whatever_their_case(text: str) -> None:
    assert fmt.parse(text) == Answer("Paris")


def test_arguments_keep_their_case_and_odd_characters() -> None:
    text = "<think>\u0130\u0130</think>" + call(
        '{"name": "web_search", "arguments": {"query": ["\u0130stanbul Ab"]}}')
    assert len(text.lower()) > len(text)  # lower-casing changes the length here
    assert fmt.parse(text) == ToolCall("search", ("\u0130stanbul Ab",))


def test_written_actions_parse_back() -> None:
    written = fmt.write_call("browse", ["https://a.test/", "https://b.test/"], thought="t")
    assert fmt.parse(written) == ToolCall("browse", ("https://a.test/", "https://b.test/"))
    assert fmt.parse(fmt.write_answer("x")) == Answer("x")


def test_tool_schemas_are_fresh_copies() -> None:
    schemas = fmt.tool_schemas()
    schemas[0]["function"]["name"] = "changed"
    assert fmt.tool_schemas()[0]["function"]["name"] == "web_search"
    assert [s["function"]["name"] for s in schemas] == ["changed", "browse_webpage"]


def test_get_format_passes_instances_through() -> None:
    assert get_format(fmt) is fmt
