"""The environment: ``WebResearch-v0``, its options, action formats, rewards and tasks."""

from __future__ import annotations

from webresearch.envs import rewards
from webresearch.envs.backends import WEB_BACKENDS, make_web, register_web
from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState, StepTiming
from webresearch.envs.formats import FORMATS, ActionFormat, get_format
from webresearch.envs.outcomes import EpisodeOutcome, StepOutcome
from webresearch.envs.records import make_env_from_record
from webresearch.envs.registration import ENV_IDS, register_envs
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
