"""A run's record re-creates the env it was recorded with."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from webresearch.envs import make_env_from_record
from webresearch.envs.rewards import Submission
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies import OraclePolicy
from webresearch.replay import ReplayStore, RunRecord
from webresearch.rollout import RolloutConfig, rollout
from webresearch.web import MockWeb


def test_a_rollouts_record_builds_the_same_env_again(tmp_path: Path) -> None:
    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web="sim:seed=2", action_format="search-r1", max_turns=6,
                              on_format_error="feedback", top_k=5, date="2026-11-30")

    env = make_env()
    tasks = env.tasks[:3]
    with ReplayStore(tmp_path / "store") as store:
        report = asyncio.run(rollout(make_env, OraclePolicy(tasks, "search-r1"), tasks,
                                     RolloutConfig(progress=False, group_size=2), store=store))
        (run,) = [r for r in store.runs() if r.run_id == report.run_id]
    again = make_env_from_record(run)
    assert again.config == env.config and again.system_prompt == env.system_prompt
    assert run.config["rollout"]["group_size"] == 2
    assert [t.id for t in again.tasks] == [t.id for t in env.tasks]
    replayed = make_env_from_record(run, web=f"replay:{tmp_path / 'store'}#{run.run_id}")
    assert replayed.web.spec() == f"replay:{tmp_path / 'store'}#{run.run_id}"
    for e in (env, again, replayed):
        e.close()


def test_what_no_string_names_must_be_given_again() -> None:
    def reward(submission: Submission, golds: object) -> float:
        return 0.5

    env = WebResearchEnv(tasks=[{"question": "Q?", "answers": ["a"]}], web=MockWeb(),
                         reward=reward)
    run = RunRecord(config={"env": env.config_json()})
    assert run.config["env"]["unrecorded"] == ["web", "reward"]
    with pytest.raises(ConfigError, match=re.escape("Expects ['web', 'reward'] given again")):
        make_env_from_record(run)
    again = make_env_from_record(run, web=MockWeb(), reward=reward)
    assert again.config.tasks == env.config.tasks
    with pytest.raises(ConfigError, match="config\\['env'\\]"):
        make_env_from_record(RunRecord())
    env.close()
    again.close()
