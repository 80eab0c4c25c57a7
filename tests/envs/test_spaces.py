"""UnicodeText in Gymnasium's shared memory: async vector envs step with it."""

from __future__ import annotations

import copy

import gymnasium as gym
import pytest
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import webresearch  # noqa: F401 - registers WebResearch-v0
from webresearch.envs.spaces import UnicodeText


@given(st.lists(st.text(max_size=12), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_any_strings_survive_shared_memory(values: list[str]) -> None:
    space = UnicodeText(12)
    memory = create_shared_memory(space, n=len(values))
    view = read_from_shared_memory(space, memory, n=len(values))
    for index, value in enumerate(values):
        write_to_shared_memory(space, index, value, memory)
    assert copy.deepcopy(view) == tuple(values)  # a live view; a deep copy is a tuple
    write_to_shared_memory(space, 0, "", memory)
    assert view[0] == ""


def test_a_string_too_long_is_refused() -> None:
    space = UnicodeText(3)
    memory = create_shared_memory(space, n=1)
    with pytest.raises(ValueError, match="at most 3 characters"):
        write_to_shared_memory(space, 0, "abcd", memory)


@pytest.mark.slow
def test_async_vector_env_steps_with_shared_memory() -> None:
    envs = gym.make_vec("WebResearch-v0", num_envs=4, vectorization_mode="async")
    try:
        observations, _ = envs.reset(seed=0)
        assert all(isinstance(o, str) and o.endswith("?") for o in observations)
        observations, rewards, terminated, _, _ = envs.step(
            ["<think>x</think><answer>nobody</answer>"] * 4)
        assert list(terminated) == [True] * 4 and len(rewards) == 4
    finally:
        envs.close()
