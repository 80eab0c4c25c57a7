"""webresearch: train LLM research agents with reinforcement learning on the web.

Importing the package registers ``WebResearch-v0`` with Gymnasium and imports
nothing heavy (no torch, ray, vllm or transformers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webresearch import errors
from webresearch._lazy import lazy_getattr
from webresearch.envs import (
    EnvConfig,
    EpisodeOutcome,
    StepOutcome,
    Task,
    UnicodeText,
    WebResearchEnv,
    load_tasks,
    make_env_from_record,
    register_envs,
    rewards,
)
from webresearch.envs.backends import make_web
from webresearch.envs.rewards import (
    Submission,
    deepresearcher_reward,
    exact_match,
    f1_score,
    score_response,
)
from webresearch.errors import WebResearchError
from webresearch.policies import Completion, Policy, SamplingParams
from webresearch.status import ActionKind, EpisodeStatus
from webresearch.web import MockWeb, Page, SearchHit, SearchResults, WebBackend

if TYPE_CHECKING:
    from webresearch.corpus import CorpusWeb
    from webresearch.distributed import RayConfig, ray_rollout
    from webresearch.replay import EpisodeRecord, ReplayStore, RunRecord
    from webresearch.rollout import LocalRunner, RolloutConfig, Runner, rollout
    from webresearch.sim import SimWeb
    from webresearch.train import GRPOConfig, GRPOLearner, TrainConfig, train
    from webresearch.web.reader import KeywordReader, LLMReader, Reader

__version__ = "0.1.0"

__all__ = [
    "ActionKind",
    "Completion",
    "CorpusWeb",
    "EnvConfig",
    "EpisodeOutcome",
    "EpisodeRecord",
    "EpisodeStatus",
    "GRPOConfig",
    "GRPOLearner",
    "KeywordReader",
    "LLMReader",
    "LocalRunner",
    "MockWeb",
    "Page",
    "Policy",
    "RayConfig",
    "Reader",
    "ReplayStore",
    "RolloutConfig",
    "RunRecord",
    "Runner",
    "SamplingParams",
    "SearchHit",
    "SearchResults",
    "SimWeb",
    "StepOutcome",
    "Submission",
    "Task",
    "TrainConfig",
    "UnicodeText",
    "WebBackend",
    "WebResearchEnv",
    "WebResearchError",
    "__version__",
    "deepresearcher_reward",
    "errors",
    "exact_match",
    "f1_score",
    "load_tasks",
    "make_env_from_record",
    "make_web",
    "ray_rollout",
    "rewards",
    "rollout",
    "score_response",
    "train",
]

_LAZY = {
    "CorpusWeb": "webresearch.corpus",
    "KeywordReader": "webresearch.web.reader",
    "LLMReader": "webresearch.web.reader",
    "RayConfig": "webresearch.distributed",
    "Reader": "webresearch.web.reader",
    "ray_rollout": "webresearch.distributed",
    "SimWeb": "webresearch.sim",
    "EpisodeRecord": "webresearch.replay",
    "ReplayStore": "webresearch.replay",
    "RunRecord": "webresearch.replay",
    "rollout": "webresearch.rollout",
    "LocalRunner": "webresearch.rollout",
    "RolloutConfig": "webresearch.rollout",
    "Runner": "webresearch.rollout",
    "GRPOConfig": "webresearch.train",
    "GRPOLearner": "webresearch.train",
    "TrainConfig": "webresearch.train",
    "train": "webresearch.train",
}


# Parts that pull in more (BeautifulSoup, the simulated web, torch) load on first use.
__getattr__ = lazy_getattr(__name__, _LAZY)


register_envs()
