"""What only the local runner does (a budget, adaptive concurrency) is refused on Ray,
before any worker starts: never a setting silently ignored."""

from __future__ import annotations

import asyncio

import pytest

from webresearch.distributed.runner import RayRunner
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies import NoToolPolicy
from webresearch.rollout import RolloutConfig


@pytest.mark.parametrize(("option", "value"), [("budget_usd", 0.5), ("adaptive", True)])
def test_ray_refuses_what_only_the_local_runner_enforces(option: str, value: object) -> None:
    runner = RayRunner(WebResearchEnv, NoToolPolicy)
    tasks = WebResearchEnv().tasks[:2]
    config = RolloutConfig(episodes=2, progress=False, **{option: value})
    with pytest.raises(ConfigError, match=f"without {option} on Ray"):
        asyncio.run(runner.run(tasks, config))
