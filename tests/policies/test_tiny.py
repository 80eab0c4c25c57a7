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
def qwen2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_worlds=(101,),
                            qwen2_pieces=True, kv_heads=2)
    assert json.loads((path / "config.json").read_text())["num_key_value_heads"] == 2
    return path


@pytest.fixture(scope="module")
def qwen2(qwen2_model: Path) -> object:
    return transformers.AutoTokenizer.from_pretrained(qwen2_model)


@settings(max_examples=50, deadline=None)
@given(text=st.lists(st.sampled_from([" born", " 1868", " in", "Dicos", " Theistem", "(", ")",
                                       "<search>", "</search>", "\n", ", ", "'s", " 42", "."]),
                     max_size=12).map("".join))
def test_the_loaded_tokenizer_cuts_text_as_the_trained_one(qwen2_model: Path, qwen2: object,
                                                           text: str) -> None:
    """Transformers loads the tokenizer as Qwen2's, with Qwen2's pieces: BPE learned on those."""
    from tokenizers import Tokenizer

    trained = Tokenizer.from_file(str(qwen2_model / "tokenizer.json"))
    assert qwen2.tokenize(text) == trained.encode(text).tokens  # type: ignore[attr-defined]


def test_a_tool_call_is_a_few_tokens(tiny_model: Path) -> None:
    """The default tokenizer learns tool-call JSON (without it a call took 62 tokens)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    call = '<tool_call>\n{"name": "web_search", "arguments": {"query": ["x"]}}\n</tool_call>'
    assert len(tokenizer.tokenize(call)) < len(call) / 2
