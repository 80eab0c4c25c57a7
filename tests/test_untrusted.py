"""The door for outside text: scalar text out, JSON depth bounded, nothing recursed into."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.errors import InputTooDeep
from webresearch.untrusted import REPLACEMENT, embedded_object, loads_json, scalar_text

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates and NUL included
JSON_TEXT = st.text(st.sampled_from('ab"\\[]{}\x00\ud800\udc00é/'))
KEY_TEXT = st.text(st.sampled_from('ab"\\[]{}é/'))
"""Keys without NUL or surrogates: two keys that become one U+FFFD would merge (as JSON's
duplicate keys do), which test_escapes_and_raw_bytes_become_scalar_text covers."""
JSON = st.recursive(st.none() | st.booleans() | st.integers() | JSON_TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(KEY_TEXT, inner, max_size=3), max_leaves=30)


def depth(value: Any) -> int:
    """How deeply ``value``'s containers nest (an independent walk of the parsed value)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, list | dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in
                         (node.values() if isinstance(node, dict) else node))
    return deepest


def carries(text: str) -> bool:
    return "\x00" not in text and text.encode("utf-8") is not None


@given(ANY_TEXT)
def test_scalar_text_encodes_keeps_length_and_keeps_clean_text(text: str) -> None:
    clean = scalar_text(text)
    assert carries(clean) and len(clean) == len(text)
    for before, after in zip(text, clean, strict=True):
        assert after == before or (after == REPLACEMENT and (
            before == "\x00" or 0xD800 <= ord(before) <= 0xDFFF))
    assert scalar_text(clean) is clean


@settings(max_examples=500)
@given(JSON, st.integers(min_value=1, max_value=6), st.booleans())
def test_depth_bound_matches_the_parsed_depth(value: Any, bound: int, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    if not ascii_only:  # a raw lone surrogate cannot be sent as UTF-8; the door replaces it
        text = scalar_text(text)
    expected = json.loads(scalar_text(text))
    if depth(expected) > bound:
        with pytest.raises(InputTooDeep):
            loads_json(text, max_depth=bound)
        return
    parsed = loads_json(text, max_depth=bound)
    assert depth(parsed) == depth(expected)
    assert carries(json.dumps(parsed, ensure_ascii=False))  # every string is scalar text
    if "\\ud" not in text.lower() and "\\u0000" not in text:
        assert parsed == expected


@pytest.mark.parametrize("text", [
    "[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
    '{"organic": ' + "[" * 70 + "]" * 70 + "}",
], ids=["open", "closed", "objects", "just-past-the-bound"])
def test_deep_json_is_refused_not_recursed(text: str) -> None:
    with pytest.raises(InputTooDeep, match="nested at most 64 deep"):
        loads_json(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"q": "[" * 1000 + '\\"' + "{" * 1000, "r": ["]" * 5]})
    assert loads_json(text)["q"].startswith("[[")


def test_escapes_and_raw_bytes_become_scalar_text() -> None:
    assert loads_json('{"a\\ud800": ["x\\u0000", "\\udfff\\ud83d\\ude00"]}') == {
        "a\ufffd": ["x\ufffd", "\ufffd\U0001f600"]}
    assert loads_json(b'["\xff", "\xef\xbb\xbf"]') == ["\ufffd", "\ufeff"]
    assert loads_json(b"\xef\xbb\xbf[1]") == [1]  # a UTF-8 BOM, as json.loads reads bytes
    with pytest.raises(ValueError, match="Expecting value"):
        loads_json("not json")


@given(st.text(st.sampled_from("{}ab")))
def test_embedded_object_is_the_greedy_regex_span(text: str) -> None:
    import re

    match = re.search(r"\{.*\}", text, re.DOTALL)
    assert embedded_object(text) == (match.group(0) if match else None)
