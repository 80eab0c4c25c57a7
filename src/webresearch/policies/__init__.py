"""Policies: the interface, scripted baselines, and model backends (loaded on first use).

``HFPolicy``, ``OpenAIPolicy`` and ``VLLMPolicy`` import their heavy dependencies only
when used; ``import webresearch.policies`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webresearch._lazy import lazy_getattr
from webresearch.policies.factory import SCRIPTED_POLICIES, make_scripted_policy
from webresearch.policies.policy import (
    ChatMessage,
    Completion,
    Policy,
    Prompt,
    SamplingParams,
    as_prompt,
)
from webresearch.policies.scripted import (
    LongPolicy,
    NoToolPolicy,
    OraclePolicy,
    ScriptedPolicy,
)
from webresearch.policies.tokens import TokenAssembler

if TYPE_CHECKING:
    from webresearch.policies.heuristic import HeuristicPolicy
    from webresearch.policies.hf import HFPolicy
    from webresearch.policies.openai_compat import OpenAIPolicy
    from webresearch.policies.tiny import build_tiny_model
    from webresearch.policies.vllm import VLLMPolicy

__all__ = [
    "SCRIPTED_POLICIES",
    "ChatMessage",
    "Completion",
    "HFPolicy",
    "HeuristicPolicy",
    "LongPolicy",
    "NoToolPolicy",
    "OpenAIPolicy",
    "OraclePolicy",
    "Policy",
    "Prompt",
    "SamplingParams",
    "ScriptedPolicy",
    "TokenAssembler",
    "VLLMPolicy",
    "as_prompt",
    "build_tiny_model",
    "make_scripted_policy",
]

_LAZY = {
    "HFPolicy": "webresearch.policies.hf",
    "HeuristicPolicy": "webresearch.policies.heuristic",
    "OpenAIPolicy": "webresearch.policies.openai_compat",
    "VLLMPolicy": "webresearch.policies.vllm",
    "build_tiny_model": "webresearch.policies.tiny",
}


# Parts that pull in more (BeautifulSoup, the simulated web, torch) load on first use.
__getattr__ = lazy_getattr(__name__, _LAZY)
