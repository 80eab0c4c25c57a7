"""The environment: ``WebResearch-v0``, its options, action formats, rewards and tasks."""

from __future__ import annotations

import gymnasium as gym

from webresearch.envs import rewards
from webresearch.envs.backends import WEB_BACKENDS, make_web, register_web
from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState, StepTiming
from webresearch.envs.formats import FORMATS, ActionFormat, get_format
from webresearch.envs.outcomes import EpisodeOutcome, StepOutcome
from webresearch.envs.records import make_env_from_record
from webresearch.envs.spaces import UnicodeText
from webresearch.envs.web_research import WebResearchEnv
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
