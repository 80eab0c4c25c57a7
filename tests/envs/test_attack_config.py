"""EnvConfig against values a hostile review tried: numpy integers (a sweep's
``np.arange``) are counts and stay JSON; bytes are no task list; numpy's bool is named as
numpy's in the refusal."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.envs.config import EnvConfig
from webresearch.errors import ConfigTypeError

INT_TYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
             np.uint64)


@given(kind=st.sampled_from(INT_TYPES), value=st.integers(1, 100),
       name=st.sampled_from(["max_turns", "top_k", "seed", "max_urls"]))
def test_numpy_integers_are_counts_and_the_json_stays_json(
        kind: type[np.integer], value: int, name: str) -> None:
    config = EnvConfig(**{name: kind(value)})
    assert type(getattr(config, name)) is int and getattr(config, name) == value
    assert json.loads(json.dumps(config.to_json()))[name] == value


def test_gym_make_takes_a_numpy_count() -> None:
    env = gym.make("WebResearch-v0", max_turns=np.int64(4))
    try:
        assert env.unwrapped.config.max_turns == 4
    finally:
        env.close()


@pytest.mark.parametrize("value", [b'[{"question": "q", "answers": ["a"]}]', bytearray(b"ab"),
                                   memoryview(b"ab")])
def test_bytes_are_no_task_list(value: object) -> None:
    with pytest.raises(ConfigTypeError, match=r"Expects tasks of type str \| Path"):
        EnvConfig(tasks=value)  # type: ignore[arg-type]


def test_numpy_bool_is_named_as_numpys() -> None:
    with pytest.raises(ConfigTypeError, match=r"np.True_ \(numpy.bool\)"):
        EnvConfig(tools_in_prompt=np.True_)  # type: ignore[arg-type]


@pytest.mark.parametrize(("given_", "meant"), [("MAX_TURNS", "max_turns"), ("Top_K", "top_k"),
                                              ("maxturns", "max_turns")])
def test_a_keyword_in_other_case_gets_its_did_you_mean(given_: str, meant: str) -> None:
    with pytest.raises(ConfigTypeError, match=f"Did you mean '{meant}'"):
        EnvConfig(**{given_: 3})
