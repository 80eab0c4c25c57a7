"""Copy drills: the assistant's part repeats the user's list exactly, and only it is learned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.errors import ConfigError
from webresearch.sim.world import World, WorldConfig
from webresearch.train.copying import copy_examples

transformers = pytest.importorskip("transformers")

NAMES = [e.name for e in World.generate(WorldConfig(seed=7)).entities.values()]


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> object:
    return transformers.AutoTokenizer.from_pretrained(tiny_model)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), low=st.integers(1, 4), extra=st.integers(0, 3))
def test_the_learned_part_is_the_list_again_and_its_end(tokenizer: object, seed: int, low: int,
                                                        extra: int) -> None:
    (drill,) = copy_examples(tokenizer, NAMES, 1, sizes=(low, low + extra), seed=seed)
    decode = tokenizer.decode  # type: ignore[attr-defined]
    learned = [i for i, m in zip(drill.ids, drill.mask, strict=True) if m]
    prompt = decode([i for i, m in zip(drill.ids, drill.mask, strict=True) if not m])
    assert drill.mask == tuple(sorted(drill.mask))  # the prompt, then the copy
    copy = decode(learned[:-1])
    assert learned[-1] == tokenizer.eos_token_id  # type: ignore[attr-defined]
    assert f"user\n{copy}<|im_end|>" in prompt and copy.startswith(" ")
    assert low <= len(copy.split(", ")) <= low + extra
    assert all(name in NAMES for name in copy[1:].split(", "))


def test_the_drills_are_seeded(tokenizer: object) -> None:
    assert copy_examples(tokenizer, NAMES, 3, seed=1) == copy_examples(tokenizer, NAMES, 3, seed=1)
    assert copy_examples(tokenizer, NAMES, 3, seed=1) != copy_examples(tokenizer, NAMES, 3, seed=2)


def test_a_list_longer_than_the_names_is_refused(tokenizer: object) -> None:
    with pytest.raises(ConfigError, match=re.escape("len(names) (2), actual: (2, 3)")):
        copy_examples(tokenizer, ["A", "B"], 1, sizes=(2, 3))
    with pytest.raises(ConfigError, match=re.escape("actual: (0, 1)")):
        copy_examples(tokenizer, NAMES, 1, sizes=(0, 1))
