"""TRL: ``WebResearch-v0`` behind ``GRPOTrainer``'s ``environment_factory`` and ``rollout_func``.

Two routes. With ``environment_factory=tool_env_factory(args, tokenizer, config=...)``,
TRL's chat template renders the tools, TRL parses the model's tool calls and calls
:meth:`WebResearchToolEnv.web_search` and :meth:`WebResearchToolEnv.browse_webpage`, and
:func:`webresearch_reward` ends each episode with the model's last message and hands TRL
the env's reward. Each tool result is cut to its share of ``max_completion_length`` (and
says so), since TRL drops a result that does not fit without a word. With
``rollout_func=make_rollout_func(...)``, the env's own token-in/token-out rollout
generates (see :mod:`webresearch.integrations.trl_rollout`). Supported: TRL
``>=1.16,<1.17``, checked at import; TRL itself is imported by neither route.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig, TaskSource
from webresearch.envs.outcomes import EpisodeOutcome
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.integrations.episodes import make_env
from webresearch.integrations.trl_budget import (
    TRL_DEFAULT_COMPLETION_LENGTH,
    CompletionBudget,
    TokenCounter,
)
from webresearch.integrations.trl_rollout import config_with_tasks, make_rollout_func
from webresearch.tasks import task_from_record

__all__ = [
    "SUPPORTED_TRL",
    "CompletionBudget",
    "WebResearchToolEnv",
    "check_trl_version",
    "finish",
    "make_rollout_func",
    "task_dataset",
    "tool_env_factory",
    "webresearch_reward",
]

logger = logging.getLogger(__name__)

Completion = str | Sequence[Mapping[str, Any]]
"""A completion as TRL hands it to a reward function: the text, or the chat messages."""

SUPPORTED_TRL = ((1, 16), (1, 17))
"""TRL versions this adapter is tested with: from the first (included) to the second."""


def check_trl_version(version: str | None) -> None:
    """Raise unless ``version`` (TRL's, ``None`` if not installed) is supported.

    Example:
        >>> check_trl_version("1.16.0")
        >>> check_trl_version("2.0.1")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects trl >=1.16,<1.17 (the range ... actual: 2.0.1
    """
    if version is None:
        return
    found = re.match(r"(\d+)\.(\d+)", version)
    release = (int(found[1]), int(found[2])) if found else (0, 0)
    low, high = SUPPORTED_TRL
    if not low <= release < high:
        raise ConfigError(f"Expects trl >={low[0]}.{low[1]},<{high[0]}.{high[1]} (the range "
                          f"'webresearch[trl]' supports), actual: {version}")


def _installed_trl() -> str | None:
    try:
        return importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return None


check_trl_version(_installed_trl())


class WebResearchToolEnv:
    """One episode at a time of ``WebResearch-v0``, as TRL's ``environment_factory`` wants it.

    TRL makes one per rollout, calls :meth:`reset` with the dataset row, offers the
    public methods as tools (their type hints and docstrings are the schemas) and runs
    them on its event loop. Each tool result is cut to its share of ``budget`` (counted
    with ``tokenizer``, else estimated), with a note saying so: TRL would drop a longer
    one. The env is built on first use, so a ``functools.partial`` of the class (or an
    instance) pickles. The system prompt is the env's tool-free one: the chat template
    lists the tools. Build one with :func:`tool_env_factory` to size it to a trainer.

    Args:
        config: The env's options; ``tools_in_prompt`` is forced off.
        budget: TRL's completion budget; by default TRL's default length shared among
            ``config.max_turns`` tool calls.
        tokenizer: The trainer's tokenizer, to count tokens exactly.

    Example:
        >>> import asyncio
        >>> env = WebResearchToolEnv(config=EnvConfig(max_turns=2))
        >>> env.reset(task={"question": "Who founded Pogre Works?",
        ...                 "answers": ["Kraemukreisk Jepudou"]})
        >>> result = asyncio.run(env.web_search(["Pogre Works"]))
        >>> "Pogre Works" in result, "tokens shown]" in result
        (True, True)
        >>> asyncio.run(finish(env, "<think>.</think><answer>Kraemukreisk Jepudou</answer>"))
        1.0
        >>> env.outcome.status, env.outcome.tool_calls
        (<EpisodeStatus.ANSWERED: 'answered'>, 1)
    """

    def __init__(self, *, config: EnvConfig | None = None, budget: CompletionBudget | None = None,
                 tokenizer: Any = None) -> None:
        self.config = dataclasses.replace(config or EnvConfig(), tools_in_prompt=False)
        self.budget = budget or CompletionBudget(tool_calls=self.config.max_turns)
        self.tokenizer = tokenizer
        self.counter = TokenCounter(tokenizer)
        self.results = 0
        """Tool results returned this episode."""
        self.result_tokens = 0
        """Their tokens, all together."""
        self._env: WebResearchEnv | None = None

    @property
    def env(self) -> WebResearchEnv:
        """The underlying env (built on first use)."""
        if self._env is None:
            self._env = make_env(self.config)
        return self._env

    @property
    def outcome(self) -> EpisodeOutcome | None:
        """How the current episode ended (``None`` while it runs)."""
        return self.env.outcome

    def reset(self, *, task: str | Mapping[str, Any] | None = None, question: str | None = None,
              answers: Sequence[str] | None = None, **columns: Any) -> str | None:
        """Start an episode on the row's task; TRL passes every dataset column.

        ``task`` is a task record (a JSON string, as :func:`task_dataset` writes it, or a
        mapping); else ``question`` and ``answers`` columns name one. Without either,
        the env draws a task and its question is returned, for TRL to append to the
        prompt. Other columns (``prompt`` among them) are not read.
        """
        self.results = self.result_tokens = 0
        if task is None and question is not None:
            task = {"question": question, "answers": list(answers or [])}
        if task is None:
            observation, _ = self.env.reset()
            return observation
        record = json.loads(task) if isinstance(task, str) else dict(task)
        self.env.reset(options={"task": task_from_record(record, where="the dataset row")})
        return None

    async def web_search(self, query: list[str]) -> str:
        """Search the web; returns the title, URL and a snippet of each result.

        Args:
            query: One to three search queries, run together.

        Returns:
            The results of each query.
        """
        return self._fit(await self.env.acall_tool("web_search", {"query": query}))

    async def browse_webpage(self, url_list: list[str]) -> str:
        """Read web pages; browsing a URL again returns its next segment.

        Args:
            url_list: URLs to read, for example from search results.

        Returns:
            The text of each page.
        """
        return self._fit(await self.env.acall_tool("browse_webpage", {"url_list": url_list}))

    def _fit(self, text: str) -> str:
        allowance = self.budget.allowance(used=self.result_tokens, calls_made=self.results)
        text, tokens = self.counter.fit(text, allowance)
        self.results += 1
        self.result_tokens += tokens
        return text

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "budget": self.budget, "tokenizer": self.tokenizer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(WebResearchToolEnv(**state).__dict__)


def tool_env_factory(args: Any, tokenizer: Any = None, *, config: EnvConfig | None = None,
                     turn_tokens: int = 48) -> Callable[[], WebResearchToolEnv]:
    """TRL's ``environment_factory``: tool envs whose results fit ``args``' completions.

    ``args`` is the trainer's ``GRPOConfig``: its ``max_completion_length`` is shared
    among the model's turns (``turn_tokens`` each) and the tool results of at most
    ``min(config.max_turns, max_tool_calling_iterations)`` calls; ``tokenizer`` (the
    trainer's) counts them. A budget too small for one result per call raises
    :class:`~webresearch.errors.ConfigError`.

    Example:
        >>> from types import SimpleNamespace
        >>> args = SimpleNamespace(max_completion_length=512, max_tool_calling_iterations=2)
        >>> env = tool_env_factory(args, config=EnvConfig(max_turns=4))()
        >>> env.budget.tool_calls, env.budget.allowance(used=0, calls_made=0)
        (2, 168)
    """
    config = config or EnvConfig()
    iterations = getattr(args, "max_tool_calling_iterations", None)
    calls = config.max_turns if iterations is None else min(config.max_turns, iterations)
    budget = CompletionBudget(
        max_completion_length=args.max_completion_length or TRL_DEFAULT_COMPLETION_LENGTH,
        tool_calls=max(1, calls), turn_tokens=turn_tokens,
        overhead_tokens=TokenCounter(tokenizer).template_overhead())
    share = budget.allowance(used=0, calls_made=0)
    if share < _USEFUL_RESULT_TOKENS:
        logger.warning("each tool result gets %d tokens of max_completion_length=%d (%d calls): "
                       "results will be cut short; raise it or lower max_turns", share,
                       budget.max_completion_length, budget.tool_calls)
    return functools.partial(WebResearchToolEnv, config=config, budget=budget,
                             tokenizer=tokenizer)


_USEFUL_RESULT_TOKENS = 128
"""Below this share, a search result shows little more than a title: say so."""


async def finish(tool_env: WebResearchToolEnv, completion: Completion) -> float:
    """End ``tool_env``'s episode with the model's completion; return the env's reward.

    ``completion`` is TRL's: the text, or the messages (assistant turns and tool
    results). Its last message is parsed with the env's action format: an answer is
    scored; anything else ends the episode as the env's rules say (DeepResearcher's: a
    broken format scores -1). A completion TRL stopped at a tool call (its result did not
    fit, the budget of calls or tokens ran out) ends ``truncated``, and a result TRL
    dropped is logged as a warning. Once ended, it returns the same reward again. (A
    function, not a method: TRL would offer every public method to the model as a tool.)
    """
    env = tool_env.env
    if env.outcome is None:
        if _stopped_at_call(completion):
            _warn_if_dropped(tool_env, completion)
            await env.asubmit(None)
        else:
            _, _, terminated, truncated, _ = await env.astep(_last_text(completion))
            if not (terminated or truncated):
                await env.asubmit(None)
    outcome = env.outcome
    assert outcome is not None  # the episode has ended
    return outcome.reward


async def webresearch_reward(completions: list[Any], environments: list[Any] | None = None,
                             env_reward: list[float | None] | None = None,
                             **_: Any) -> list[float | None]:
    """TRL reward function: the env's verdict on each rollout, never a re-scoring of text.

    With ``environment_factory``, each episode ends with its completion (:func:`finish`).
    With :func:`make_rollout_func`, the env already scored each episode, and its rewards
    come as the ``env_reward`` column; an episode broken from outside (timeout, error)
    has none (``None``: TRL leaves it out).
    """
    if env_reward is not None:
        return list(env_reward)
    if environments is None:
        raise ConfigError("Expects TRL's environments (environment_factory=WebResearchToolEnv) "
                          "or an env_reward column (make_rollout_func), actual: neither")
    rewards: list[float | None] = []
    for completion, env in zip(completions, environments, strict=True):
        rewards.append(await finish(env, completion))
    return rewards


def _open_call(text: str) -> bool:
    """Whether a ``<tool_call>`` opens after the last ``</tool_call>`` (any case), in linear
    time (the lookahead regex that said so was quadratic on ``"<tool_call>" * n``)."""
    lowered = text.lower()
    return lowered.rfind("<tool_call>") > lowered.rfind("</tool_call>")


def _stopped_at_call(completion: Completion) -> bool:
    """Whether the completion ends in a tool call, or its result, rather than a turn's end."""
    if isinstance(completion, str):
        return _open_call(completion)
    if not completion:
        return False
    last = completion[-1]
    if last.get("role") == "tool" or last.get("tool_calls"):
        return True
    return _open_call(_last_text(completion))


def _warn_if_dropped(tool_env: WebResearchToolEnv, completion: Completion) -> None:
    seen = 0 if isinstance(completion, str) else sum(
        m.get("role") == "tool" for m in completion)
    if tool_env.results > seen:
        logger.warning(
            "TRL dropped %d of %d tool results (the completion had no room for them within "
            "max_completion_length=%d): the episode ends truncated. Build the env with "
            "tool_env_factory(args, tokenizer), or raise turn_tokens for a model that writes "
            "long turns.", tool_env.results - seen, tool_env.results,
            tool_env.budget.max_completion_length)


def _last_text(completion: Completion) -> str:
    """The text of a completion's last assistant message (or the completion, if text)."""
    if isinstance(completion, str):
        return completion
    for message in reversed(completion):
        if message.get("role") == "assistant":
            content = message.get("content") or ""
            text = content if isinstance(content, str) else "".join(
                part.get("text", "") for part in content if isinstance(part, Mapping))
            thought = message.get("reasoning_content")  # TRL's parser takes <think> out
            return f"<think>{thought}</think>{text}" if thought else text
    return ""


def task_dataset(tasks: TaskSource | None = None, *, config: EnvConfig | None = None) -> Any:
    """A ``datasets.Dataset`` of prompt rows for ``GRPOTrainer``, one per task.

    Columns: ``prompt`` (the env's tool-free system prompt and the question, as chat
    messages), ``task`` (the task as a JSON record, which :meth:`WebResearchToolEnv.reset`
    reads) and ``task_id``. The tasks are ``config.tasks``, or ``tasks`` (any task source
    the env takes); naming different ones in both places raises.
    """
    datasets = require("datasets", "trl")
    config = dataclasses.replace(config_with_tasks(tasks, config), tools_in_prompt=False)
    env = make_env(config)
    rows = [{"prompt": [{"role": "system", "content": env.system_prompt},
                        {"role": "user", "content": env.format.user_prompt(task.question)}],
             "task": json.dumps(task.to_json()), "task_id": task.id} for task in env.tasks]
    env.close()
    return datasets.Dataset.from_list(rows)
