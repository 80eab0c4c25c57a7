"""What every adapter shares: an env from an :class:`EnvConfig`, an episode's tokens split
into prompt and response the way trainers take them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
from typing import Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig
from webresearch.envs.formats import Answer
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.replay.schema import EpisodeRecord
from webresearch.status import ActionKind

__all__ = ["finish_on_text", "make_env", "require_range", "split_episode", "tool_calls"]


def make_env(config: EnvConfig | None = None) -> WebResearchEnv:
    """A :class:`WebResearchEnv` with ``config``'s options (the env's defaults without one).

    Example:
        >>> make_env(EnvConfig(max_turns=3, tools_in_prompt=False)).config.max_turns
        3
    """
    return WebResearchEnv(config)


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


def require_range(module: str, extra: str, *, at_least: str, below: str,
                  distribution: str | None = None) -> Any:
    """Import a framework's ``module``, checking its installed version is in
    ``[at_least, below)`` (``distribution`` names its package where that is not the
    module's top-level name); raise :class:`DependencyNotInstalled` when it is missing and
    :class:`ConfigError` naming the supported range when it is another version.

    Example:
        >>> require_range("gymnasium", "core", at_least="1.0", below="2.0").__name__
        'gymnasium'
        >>> require_range("gymnasium", "core", at_least="0.1", below="0.2")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects gymnasium >=0.1,<0.2 (the range \
'webresearch[core]' supports), actual: 1...
    """
    distribution = distribution or module.split(".", maxsplit=1)[0]
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed is None and importlib.util.find_spec(distribution) is not None:
        raise ConfigError(f"Expects {distribution} >={at_least},<{below} (the range "
                          f"'webresearch[{extra}]' supports), actual: an install with no version")
    if installed is not None and not _version(at_least) <= _version(installed) < _version(below):
        raise ConfigError(f"Expects {distribution} >={at_least},<{below} (the range "
                          f"'webresearch[{extra}]' supports), actual: {installed}")
    return require(module, extra)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        parts.append(int(digits or 0))
    return tuple(parts)


def finish_on_text(env: WebResearchEnv, text: str | None) -> float:
    """End ``env``'s running episode on the model's final ``text``, as the env would: an
    answer in it (``<answer>...</answer>`` in the env's format) is stepped and scored;
    anything else, or no text, ends the episode without an answer. Returns the reward;
    ``env.outcome`` has the rest.

    Example:
        >>> env = make_env(EnvConfig(tasks=[{"question": "q?", "answers": ["Ada"]}]))
        >>> _ = env.reset(seed=0)
        >>> finish_on_text(env, "<think>sure</think><answer>Ada</answer>"), env.outcome.em
        (1.0, 1.0)
        >>> _ = env.reset(seed=0)
        >>> finish_on_text(env, "I give up"), str(env.outcome.status)
        (-1.0, 'truncated')
        >>> env.close()
    """
    if text is not None and isinstance(env.format.parse(text), Answer):
        _, reward, *_ = env.step(text)
        return float(reward)
    return env.submit(None)
