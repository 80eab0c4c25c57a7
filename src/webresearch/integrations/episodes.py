"""What every adapter shares: an env from an :class:`EnvConfig`, an episode's tokens split
into prompt and response the way trainers take them."""

from __future__ import annotations

import dataclasses
from typing import Any

from webresearch.envs.config import EnvConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.replay.schema import EpisodeRecord
from webresearch.status import ActionKind

__all__ = ["make_env", "split_episode", "tool_calls"]


def make_env(config: EnvConfig | None = None) -> WebResearchEnv:
    """A :class:`WebResearchEnv` with ``config``'s options (the env's defaults without one).

    Example:
        >>> make_env(EnvConfig(max_turns=3, tools_in_prompt=False)).config.max_turns
        3
    """
    config = config or EnvConfig()
    return WebResearchEnv(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})


def split_episode(record: EpisodeRecord) -> dict[str, Any]:
    """One episode's tokens the way TRL's ``rollout_func`` returns them.

    The prompt is everything before the first sampled token; the completion is the rest
    (the model's tokens and the observations between them), with ``env_mask`` 1 on the
    model's tokens and ``logprobs`` 0 elsewhere.

    Example:
        >>> from webresearch.status import EpisodeStatus
        >>> from webresearch.tasks import Task
        >>> record = EpisodeRecord(run_id="r", task=Task(id="t", question="q", answers=("a",)),
        ...     group=0, status=EpisodeStatus.ANSWERED, reward=1.0, f1=1.0, em=1.0,
        ...     token_ids=(1, 2, 3, 4, 5), loss_mask=(0, 0, 1, 0, 1),
        ...     logprobs=(0.0, 0.0, -0.5, 0.0, -0.25))
        >>> split_episode(record)
        {'prompt_ids': [1, 2], 'completion_ids': [3, 4, 5], 'env_mask': [1, 0, 1], \
'logprobs': [-0.5, 0.0, -0.25]}
    """
    ids, mask = record.token_ids, record.loss_mask
    if ids is None or mask is None:
        raise ConfigError(f"Expects an episode with token ids (a policy with a tokenizer), "
                          f"actual: none in episode {record.episode_id} ({record.status})")
    start = mask.index(1) if 1 in mask else len(ids)
    logprobs = record.logprobs or (0.0,) * len(ids)
    return {"prompt_ids": list(ids[:start]), "completion_ids": list(ids[start:]),
            "env_mask": list(mask[start:]), "logprobs": list(logprobs[start:])}


def tool_calls(record: EpisodeRecord) -> int:
    """The tool calls an episode made."""
    return sum(ActionKind(step.tool).is_tool for step in record.steps)
