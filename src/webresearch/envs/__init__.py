"""The environment: ``WebResearch-v0``, its options, action formats, rewards and tasks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from webresearch.envs import rewards
from webresearch.envs.backends import WEB_BACKENDS, make_web, register_web
from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState, StepTiming
from webresearch.envs.formats import FORMATS, ActionFormat, get_format
from webresearch.envs.outcomes import EpisodeOutcome, StepOutcome
from webresearch.envs.spaces import UnicodeText
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.replay.schema import RunRecord
from webresearch.tasks import SupportingPage, Task, load_tasks

__all__ = [
    "ENV_IDS",
    "FORMATS",
    "WEB_BACKENDS",
    "ActionFormat",
    "EnvConfig",
    "EpisodeOutcome",
    "EpisodeState",
    "StepOutcome",
    "StepTiming",
    "SupportingPage",
    "Task",
    "UnicodeText",
    "WebResearchEnv",
    "get_format",
    "load_tasks",
    "make_env_from_record",
    "make_web",
    "register_envs",
    "register_web",
    "rewards",
]

ENV_IDS = ("WebResearch-v0",)


def register_envs() -> None:
    """Register ``WebResearch-v0`` with Gymnasium, by entry-point string (idempotent).

    Example:
        >>> register_envs()
        >>> "WebResearch-v0" in gym.registry
        True
    """
    if "WebResearch-v0" not in gym.registry:
        gym.register(id="WebResearch-v0",
                     entry_point="webresearch.envs.web_research:WebResearchEnv",
                     max_episode_steps=None, disable_env_checker=False)


def make_env_from_record(run: RunRecord, **overrides: Any) -> WebResearchEnv:
    """The env ``run`` was recorded with, built again from ``run.config["env"]``.

    Options no string could name when the run was recorded (a web backend without a
    spec, a custom reward function, a reading agent) must be given in ``overrides``,
    which also replace any recorded option (``web="replay:runs/store#<run id>"`` to
    replay the run offline).

    Example:
        >>> env = WebResearchEnv(web="sim:seed=3", max_turns=4, date="2026-01-01")
        >>> run = RunRecord(config={"env": env.config_json()})
        >>> again = make_env_from_record(run)
        >>> again.config == env.config, again.system_prompt == env.system_prompt
        (True, True)
    """
    recorded = run.config.get("env")
    if not isinstance(recorded, dict):
        raise ConfigError(f"Expects a run record with its env's options under config['env'], "
                          f"actual: run {run.run_id} has {sorted(run.config)}")
    options = {k: v for k, v in recorded.items() if k != "unrecorded"}
    missing = [name for name in recorded.get("unrecorded", []) if name not in overrides]
    if missing:
        raise ConfigError(f"Expects {missing} given again to re-create run {run.run_id}'s env "
                          f"(the record could not name them), actual: not given")
    if options.get("reader") == "keyword" and "reader" not in overrides:
        from webresearch.web.reader import KeywordReader  # noqa: PLC0415

        options["reader"] = KeywordReader()
    return WebResearchEnv(**{**options, **overrides})
