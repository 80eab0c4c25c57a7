"""Policies and readers by name (what the command lines take): scripted, hf, vllm, openai."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from webresearch.envs.formats import ActionFormat
from webresearch.errors import ConfigError, unknown_name_error
from webresearch.policies.policy import Policy
from webresearch.policies.scripted import LongPolicy, NoToolPolicy, OraclePolicy, ScriptedPolicy
from webresearch.tasks import Task
from webresearch.web.reader import KeywordReader, Reader

__all__ = ["MODEL_POLICIES", "POLICIES", "READERS", "SCRIPTED_POLICIES", "make_policy",
           "make_scripted_policy", "shared_reader"]

SCRIPTED_POLICIES = ("oracle", "no-tool", "heuristic", "long")


def make_scripted_policy(name: str, *, tasks: Sequence[Task],
                         fmt: str | ActionFormat = "deepresearcher",
                         max_turns: int = 127) -> ScriptedPolicy:
    """Build a scripted policy by name (``oracle`` needs the tasks it will meet; ``long``
    makes ``max_turns`` tool calls, the env's whole budget, then answers).

    Example:
        >>> make_scripted_policy("no-tool", tasks=[]).name
        'no-tool'
        >>> make_scripted_policy("long", tasks=[], max_turns=128).turns
        128
    """
    if name == "oracle":
        return OraclePolicy(tasks, fmt)
    if name == "no-tool":
        return NoToolPolicy(fmt)
    if name == "heuristic":
        from webresearch.policies.heuristic import HeuristicPolicy  # noqa: PLC0415 - loads sim

        return HeuristicPolicy(fmt)
    if name == "long":
        return LongPolicy(max_turns, fmt)
    raise unknown_name_error("scripted policy", name, SCRIPTED_POLICIES)


MODEL_POLICIES = ("hf", "vllm", "openai")
POLICIES = (*SCRIPTED_POLICIES, *MODEL_POLICIES)
READERS = ("none", "keyword", *MODEL_POLICIES)


def make_policy(name: str, *, tasks: Sequence[Task], fmt: str | ActionFormat = "deepresearcher",
                model: str | None = None, base_url: str | None = None,
                max_turns: int = 127) -> Policy:
    """The policy called ``name`` (model backends import their dependencies only here;
    ``max_turns``: the env's tool-call budget, which the ``long`` policy uses up).

    Example:
        >>> make_policy("heuristic", tasks=[]).name
        'heuristic'
    """
    if name in SCRIPTED_POLICIES:
        return make_scripted_policy(name, tasks=tasks, fmt=fmt, max_turns=max_turns)
    if name not in MODEL_POLICIES:
        raise unknown_name_error("policy", name, POLICIES)
    if not model:
        raise ConfigError(f"Expects --model with --policy {name}, actual: none")
    if name == "hf":
        from webresearch.policies.hf import HFPolicy  # noqa: PLC0415

        return HFPolicy(model)
    if name == "vllm":
        from webresearch.policies.vllm import VLLMPolicy  # noqa: PLC0415

        return VLLMPolicy(model)
    if not base_url:
        raise ConfigError("Expects --base-url with --policy openai, actual: none")
    from webresearch.policies.openai_compat import OpenAIPolicy  # noqa: PLC0415

    return OpenAIPolicy(base_url, model)


@functools.cache
def shared_reader(kind: str, model: str | None = None, base_url: str | None = None
                  ) -> Reader | None:
    """The reader ``kind`` names, built once per process so every env shares its cache.

    Example:
        >>> shared_reader("keyword") is shared_reader("keyword")
        True
        >>> shared_reader("none") is None
        True
    """
    if kind == "none":
        return None
    if kind == "keyword":
        return KeywordReader()
    if kind not in READERS:
        raise unknown_name_error("reader", kind, READERS)
    return make_policy(kind, tasks=[], model=model, base_url=base_url).as_reader()
