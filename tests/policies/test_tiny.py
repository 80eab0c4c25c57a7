"""The tiny model builder: its shapes are checked, and its tokenizers keep what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.errors import ConfigError
from webresearch.policies.tiny import build_tiny_model

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_heads_must_be_a_multiple_of_kv_heads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multiple of kv_heads, actual: kv_heads=3"):
        build_tiny_model(tmp_path, heads=4, kv_heads=3)
    with pytest.raises(ConfigError, match="actual: kv_heads=0"):
        build_tiny_model(tmp_path, kv_heads=0)


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> object:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_worlds=(101,),
                            isolate_spaces=True, kv_heads=2)
    assert json.loads((path / "config.json").read_text())["num_key_value_heads"] == 2
    return transformers.AutoTokenizer.from_pretrained(path)


@settings(max_examples=50, deadline=None)
@given(name=st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,11})?", fullmatch=True),
       before=st.sampled_from([" ", "\n", "<search>", "(", ": "]))
def test_a_name_is_tokenised_alike_wherever_it_stands(isolated: object, name: str,
                                                      before: str) -> None:
    """With isolated spaces a name's tokens do not depend on what precedes it."""
    alone = isolated.tokenize(name)  # type: ignore[attr-defined]
    assert isolated.tokenize(f"x{before}{name}")[-len(alone):] == alone  # type: ignore[attr-defined]


def test_a_tool_call_is_a_few_tokens(tiny_model: Path) -> None:
    """The default tokenizer learns tool-call JSON (without it a call took 62 tokens)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    call = '<tool_call>\n{"name": "web_search", "arguments": {"query": ["x"]}}\n</tool_call>'
    assert len(tokenizer.tokenize(call)) < len(call) / 2
