"""TRL: ``WebResearch-v0`` behind ``GRPOTrainer``'s ``environment_factory`` and ``rollout_func``.

Two routes. With ``environment_factory=WebResearchToolEnv``, TRL's chat template renders
the tools, TRL parses the model's tool calls and calls :meth:`WebResearchToolEnv.web_search`
and :meth:`WebResearchToolEnv.browse_webpage`, and :func:`webresearch_reward` ends each
episode with the model's last message and hands TRL the env's reward. With
``rollout_func=make_rollout_func(...)``, the env's own token-in/token-out rollout
generates: its ``token_ids``, ``loss_mask`` and ``logprobs`` become TRL's ``prompt_ids``,
``completion_ids``, ``env_mask`` and ``logprobs``. TRL is imported by neither; only
:func:`task_dataset` needs ``datasets`` and :func:`make_rollout_func` torch
(``pip install 'webresearch[trl]'``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig, TaskSource
from webresearch.envs.outcomes import EpisodeOutcome
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.integrations.episodes import make_env, split_episode, tool_calls
from webresearch.policies.base import Policy
from webresearch.policies.types import SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.tasks import Task, task_from_record

__all__ = [
    "WebResearchToolEnv",
    "finish",
    "make_rollout_func",
    "task_dataset",
    "webresearch_reward",
]


class WebResearchToolEnv:
    """One episode at a time of ``WebResearch-v0``, as TRL's ``environment_factory`` wants it.

    TRL makes one per rollout, calls :meth:`reset` with the dataset row, offers the
    public methods as tools (their type hints and docstrings are the schemas) and runs
    them on its event loop. The episode's state lives in the env, one per instance;
    the env is built on first use, so a ``functools.partial`` of the class (or an
    instance) pickles. The system prompt is the env's tool-free one: the chat template
    lists the tools.

    Args:
        config: The env's options; ``tools_in_prompt`` is forced off.

    Example:
        >>> env = WebResearchToolEnv(config=EnvConfig(max_turns=2))
        >>> env.reset(task={"question": "Who founded Pogre Works?",
        ...                 "answers": ["Kraemukreisk Jepudou"]})
        >>> "Pogre Works" in asyncio.run(env.web_search(["Pogre Works"]))
        True
        >>> asyncio.run(finish(env, "<think>.</think><answer>Kraemukreisk Jepudou</answer>"))
        1.0
        >>> env.outcome.status, env.outcome.tool_calls
        (<EpisodeStatus.ANSWERED: 'answered'>, 1)
    """

    def __init__(self, *, config: EnvConfig | None = None) -> None:
        self.config = dataclasses.replace(config or EnvConfig(), tools_in_prompt=False)
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
        return await self.env.acall_tool("web_search", {"query": query})

    async def browse_webpage(self, url_list: list[str]) -> str:
        """Read web pages; browsing a URL again returns its next segment.

        Args:
            url_list: URLs to read, for example from search results.

        Returns:
            The text of each page.
        """
        return await self.env.acall_tool("browse_webpage", {"url_list": url_list})

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config, self._env = state["config"], None


async def finish(tool_env: WebResearchToolEnv, text: str) -> float:
    """End ``tool_env``'s episode with the model's last message; return the env's reward.

    The env parses ``text`` with its action format: an answer is scored; anything else
    ends the episode as the env's rules say (DeepResearcher's: a broken format scores
    -1). A tool call left in the text (TRL stopped running tools) ends the episode
    without an answer. Once ended, it returns the same reward again. (A function, not a
    method: TRL would offer every public method to the model as a tool.)
    """
    env = tool_env.env
    if env.outcome is None:
        _, _, terminated, truncated, _ = await env.astep(text)
        if not (terminated or truncated):
            await env.asubmit(None)
    outcome = env.outcome
    assert outcome is not None  # the episode has ended
    return outcome.reward


async def webresearch_reward(completions: list[Any], environments: list[Any] | None = None,
                             env_reward: list[float | None] | None = None,
                             **_: Any) -> list[float | None]:
    """TRL reward function: the env's verdict on each rollout, never a re-scoring of text.

    With ``environment_factory``, each episode ends with the completion's last message
    (:func:`finish`). With :func:`make_rollout_func`, the env already
    scored each episode, and its rewards come as the ``env_reward`` column; an episode
    broken from outside (timeout, error) has none (``None``: TRL leaves it out).
    """
    if env_reward is not None:
        return list(env_reward)
    if environments is None:
        raise ConfigError("Expects TRL's environments (environment_factory=WebResearchToolEnv) "
                          "or an env_reward column (make_rollout_func), actual: neither")
    rewards: list[float | None] = []
    for completion, env in zip(completions, environments, strict=True):
        rewards.append(await finish(env, _last_text(completion)))
    return rewards


def _last_text(completion: Any) -> str:
    """The text of a completion's last assistant message (or the completion, if text)."""
    if isinstance(completion, str):
        return completion
    for message in reversed(completion):
        if message.get("role") == "assistant":
            content = message.get("content") or ""
            return content if isinstance(content, str) else "".join(
                part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


def task_dataset(tasks: TaskSource = "default", *, config: EnvConfig | None = None) -> Any:
    """A ``datasets.Dataset`` of prompt rows for ``GRPOTrainer``, one per task.

    Columns: ``prompt`` (the env's tool-free system prompt and the question, as chat
    messages), ``task`` (the task as a JSON record, which :meth:`WebResearchToolEnv.reset`
    reads) and ``task_id``. ``tasks`` is any task source the env takes.
    """
    datasets = require("datasets", "trl")
    env = make_env(dataclasses.replace(config or EnvConfig(), tasks=tasks, tools_in_prompt=False))
    rows = [{"prompt": [{"role": "system", "content": env.system_prompt},
                        {"role": "user", "content": env.format.user_prompt(task.question)}],
             "task": json.dumps(task.to_json()), "task_id": task.id} for task in env.tasks]
    env.close()
    return datasets.Dataset.from_list(rows)


def make_rollout_func(*, tasks: TaskSource = "default", config: EnvConfig | None = None,
                      sampling: SamplingParams | None = None,
                      policy: Callable[[Any], Policy] | None = None,
                      timeout_s: float = 300.0) -> Callable[[list[Any], Any], dict[str, Any]]:
    """TRL's ``rollout_func``: each prompt's episode run by the env's own rollout.

    A prompt is matched to its task by its question (rows of :func:`task_dataset` over
    the same ``tasks``). The policy is ``policy(trainer)``, by default an
    :class:`~webresearch.policies.hf.HFPolicy` on the trainer's model and tokenizer. The
    returned dict holds TRL's ``prompt_ids``, ``completion_ids``, ``logprobs`` and
    ``env_mask``, and the env's verdicts as ``env_reward`` (read by
    :func:`webresearch_reward`) and ``tool_calls``.
    """
    config = config or EnvConfig()
    env = make_env(dataclasses.replace(config, tasks=tasks))
    by_question = {env.format.user_prompt(task.question): task for task in env.tasks}
    env.close()

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        chosen = [_task_of(prompt, by_question) for prompt in prompts]
        made = policy(trainer) if policy is not None else _trainer_policy(trainer)
        records = asyncio.run(_run(chosen, made, config, sampling, timeout_s))
        out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": [],
                                     "env_mask": [], "env_reward": [], "tool_calls": []}
        for record in records:
            for key, value in split_episode(record).items():
                out[key].append(value)
            out["env_reward"].append(record.reward)
            out["tool_calls"].append(tool_calls(record))
        return out

    return rollout_func


def _task_of(prompt: Any, by_question: Mapping[str, Task]) -> Task:
    question = prompt if isinstance(prompt, str) else _user_text(prompt)
    if question not in by_question:
        raise ConfigError(f"Expects a prompt whose question is one of the rollout's tasks, "
                          f"actual: {question[:80]!r}")
    return by_question[question]


def _user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def _trainer_policy(trainer: Any) -> Policy:
    from webresearch.policies.hf import HFPolicy  # noqa: PLC0415 - torch, on demand

    model = trainer.accelerator.unwrap_model(trainer.model)
    return _KeepTraining(HFPolicy(model, tokenizer=trainer.processing_class,
                                  device=str(trainer.accelerator.device)), model)


class _KeepTraining(Policy):
    """An HF policy on the trainer's own model, left in training mode after each call."""

    name = "trl"

    def __init__(self, inner: Policy, model: Any) -> None:
        self.inner, self.model = inner, model
        self.tokenizer = getattr(inner, "tokenizer", None)

    async def generate(self, prompts: Sequence[Any],
                       sampling: SamplingParams | None = None) -> list[Any]:
        self.model.eval()
        try:
            return list(await self.inner.generate(prompts, sampling))
        finally:
            self.model.train()


async def _run(tasks: list[Task], policy: Policy, config: EnvConfig,
               sampling: SamplingParams | None, timeout_s: float) -> list[EpisodeRecord]:
    from webresearch.rollout.local import RolloutConfig, rollout  # noqa: PLC0415

    report = await rollout(lambda: make_env(config), policy, tasks, RolloutConfig(
        episodes=len(tasks), concurrency=len(tasks), sampling=sampling, progress=False,
        episode_timeout_s=timeout_s, keep_results=True))
    assert report.kept is not None  # keep_results=True
    return report.kept
