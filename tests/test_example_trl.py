"""The TRL example's smoke test, in a file of its own: the slowest example (a tool warm-up
and two GRPO steps) runs in one test process while the others run elsewhere."""

from __future__ import annotations

import json

import pytest

from tests.test_examples import run


@pytest.mark.slow
def test_train_trl() -> None:
    pytest.importorskip("trl")
    figures = json.loads(run("examples/train_trl.py", "--steps", "2").splitlines()[-1])
    assert figures["steps"] == 2
    assert figures["tool_calls_per_episode"] > 0  # TRL ran the env's tools
    assert max(figures["reward_std"]) > 0  # the env's reward reached TRL's advantages
