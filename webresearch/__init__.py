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
    Task,
    UnicodeText,
    WebResearchEnv,
    load_tasks,
    register_envs,
    rewards,
)
from webresearch.envs.backends import make_web
from webresearch.envs.rewards import deepresearcher_reward, exact_match, f1_score
from webresearch.errors import WebResearchError
from webresearch.policies import Completion, Policy, SamplingParams
from webresearch.web import MockWeb, Page, SearchHit, SearchResults, WebBackend

if TYPE_CHECKING:
    from webresearch.corpus import CorpusWeb
    from webresearch.distributed import RayConfig, ray_rollout
    from webresearch.policies.reader import LLMReader
    from webresearch.replay import EpisodeRecord, ReplayStore, RunRecord
    from webresearch.rollout import rollout
    from webresearch.sim import SimWeb
    from webresearch.web.reader import KeywordReader, Reader

__version__ = "0.1.0"

__all__ = [
    "Completion",
    "CorpusWeb",
    "EnvConfig",
    "EpisodeRecord",
    "KeywordReader",
    "LLMReader",
    "MockWeb",
    "Page",
    "Policy",
    "RayConfig",
    "Reader",
    "ReplayStore",
    "RunRecord",
    "SamplingParams",
    "SearchHit",
    "SearchResults",
    "SimWeb",
    "Task",
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
    "make_web",
    "ray_rollout",
    "rewards",
    "rollout",
]

_LAZY = {
    "CorpusWeb": "webresearch.corpus",
    "KeywordReader": "webresearch.web.reader",
    "LLMReader": "webresearch.policies.reader",
    "RayConfig": "webresearch.distributed",
    "Reader": "webresearch.web.reader",
    "ray_rollout": "webresearch.distributed",
    "SimWeb": "webresearch.sim",
    "EpisodeRecord": "webresearch.replay",
    "ReplayStore": "webresearch.replay",
    "RunRecord": "webresearch.replay",
    "rollout": "webresearch.rollout",
}


# Parts that pull in more (BeautifulSoup, the simulated web, torch) load on first use.
__getattr__ = lazy_getattr(__name__, _LAZY)


register_envs()
