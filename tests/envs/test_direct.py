"""Tools called by name, and the JSON reading under them: a call or a typed failure, never text."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.formats import FORMATS, Invalid, ToolCall, get_format
from webresearch.envs.formats.action_format import loads_object, string_list
from webresearch.envs.tools import DirectTools

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
"""Printable text (what scalar text keeps as it is)."""
JSON = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(sorted(FORMATS)),
       name=st.sampled_from(["search", "browse", "web_search", "browse_webpage", "web_serch",
                             "", "Search"]) | st.integers(),
       arguments=st.dictionaries(st.sampled_from(["query", "url_list", "q"]), JSON) | JSON)
def test_a_direct_call_resolves_to_a_call_or_an_invalid(fmt: str, name: Any,
                                                       arguments: Any) -> None:
    call = DirectTools(get_format(fmt)).resolve(name, arguments)
    assert isinstance(call, ToolCall | Invalid), call
    if isinstance(call, Invalid):
        assert call.message
    else:
        assert call.tool in ("search", "browse") and call.arguments
        assert all(isinstance(a, str) and a for a in call.arguments)


def test_direct_failures_say_what_was_wrong() -> None:
    tools = DirectTools(get_format("deepresearcher"))
    assert tools.resolve("web_serch", {}) == Invalid(
        "unknown tool 'web_serch'. Did you mean 'web_search'?")
    assert tools.resolve(3, {}) == Invalid("a tool name must be text, not int")  # type: ignore[arg-type]
    assert tools.resolve("search", [1]) == Invalid(  # type: ignore[arg-type]
        "the arguments must be a JSON object, not list")
    assert tools.resolve("web_search", {"query": []}) == Invalid("'query' is empty")


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_json_text_reads_as_an_object_or_an_invalid(value: object) -> None:
    parsed = loads_object(json.dumps(value))
    if isinstance(value, dict):
        assert parsed == value
    else:
        assert isinstance(parsed, Invalid) and "must be a JSON object" in parsed.message
    broken = loads_object(json.dumps(value)[:-1] or "{")
    assert isinstance(broken, dict | Invalid)


@settings(max_examples=200, deadline=None)
@given(value=JSON)
def test_a_string_list_is_strings_or_an_invalid(value: object) -> None:
    read = string_list(value, field="query")
    assert isinstance(read, tuple | Invalid)
    if isinstance(read, tuple):
        assert read and all(isinstance(s, str) and s == s.strip() and s for s in read)
    else:
        assert read.message.startswith("'query' ")
