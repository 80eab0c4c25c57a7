"""TRL's ``rollout_func``: the env's own token-in/token-out rollout, sized by ``GRPOConfig``.

Each call runs one episode per prompt with the trainer's model (TRL's prompts come in
groups of ``num_generations``), inside the completion budget TRL trains on:
``max_completion_length`` bounds the whole episode (the model's turns and the
observations between them), the sampling is TRL's (``temperature``, ``top_p``), and
observations are sized so that the tool results fit. An episode broken from outside (a
timeout, a policy or env error) comes back as one masked token with no reward, which
TRL leaves out of the group's baseline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from webresearch.envs.config import EnvConfig, TaskSource
from webresearch.errors import ConfigError
from webresearch.integrations.episodes import make_env, split_episode, tool_calls
from webresearch.integrations.trl_budget import (
    TRL_DEFAULT_COMPLETION_LENGTH,
    TokenCounter,
    result_share,
)
from webresearch.policies.policy import Completion, Policy, Prompt
from webresearch.policies.types import PromptLike, SamplingParams, as_prompt
from webresearch.replay.schema import EpisodeRecord, StepRecord
from webresearch.status import EpisodeStatus
from webresearch.tasks import Task

__all__ = ["config_with_tasks", "make_rollout_func", "run_sync"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
RolloutFunc = Callable[[list[Any], Any], dict[str, list[Any]]]


def config_with_tasks(tasks: TaskSource | None, config: EnvConfig | None) -> EnvConfig:
    """``config`` (the env's defaults without one) with ``tasks``, when given, as its tasks.

    Tasks named in both places must agree: neither silently replaces the other.

    Example:
        >>> config_with_tasks(None, EnvConfig(tasks=[{"question": "q", "answers": ["a"]}])).tasks
        [{'question': 'q', 'answers': ['a']}]
    """
    config = config or EnvConfig()
    if tasks is None or tasks == config.tasks:
        return config
    if config.tasks != "default":
        raise ConfigError(f"Expects the tasks in one place (tasks= or config.tasks), actual: "
                          f"both, and they differ ({str(tasks)[:60]} and {str(config.tasks)[:60]})")
    return dataclasses.replace(config, tasks=tasks)


def run_sync(start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``start()`` to its end, from sync code, loop or no loop.

    Inside a running event loop (Jupyter, an async trainer) it runs on a worker
    thread's own loop; ``asyncio.run`` would refuse.

    Example:
        >>> async def two() -> int: return 2
        >>> run_sync(two), asyncio.run(asyncio.to_thread(run_sync, two))
        (2, 2)
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(start())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webresearch-trl") as pool:
        return pool.submit(lambda: asyncio.run(start())).result()


def make_rollout_func(*, config: EnvConfig | None = None, tasks: TaskSource | None = None,
                      sampling: SamplingParams | None = None,
                      policy: Callable[[Any], Policy] | None = None,
                      timeout_s: float = 300.0, turn_tokens: int = 48) -> RolloutFunc:
    """TRL's ``rollout_func``: each prompt's episode run by the env's own rollout.

    A prompt is matched to its task by its question (rows of ``task_dataset`` over the
    same tasks: ``config.tasks``, or ``tasks``). The policy is ``policy(trainer)``, by
    default an :class:`~webresearch.policies.hf.HFPolicy` on the trainer's model and
    tokenizer. The trainer's ``GRPOConfig`` gives the completion budget, the sampling
    and the group size; ``sampling`` may only add a per-turn ``max_tokens`` cap, stop
    strings and a seed. ``turn_tokens`` is what each model turn is assumed to take when
    observations are sized. The returned dict holds TRL's ``prompt_ids``,
    ``completion_ids``, ``logprobs`` and ``env_mask``, and the env's ``env_reward``
    (read by ``webresearch_reward``), ``env_status`` and ``tool_calls``.
    """
    config = config_with_tasks(tasks, config)
    env = make_env(config)
    by_question = {env.format.user_prompt(task.question): task for task in env.tasks}
    env.close()
    sized: dict[int, EnvConfig] = {}

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        chosen, group = _groups(prompts, trainer, by_question)
        made = policy(trainer) if policy is not None else _trainer_policy(trainer)
        length = trainer.args.max_completion_length or TRL_DEFAULT_COMPLETION_LENGTH
        env_config = sized.get(length) or sized.setdefault(
            length, _sized(config, length, made.tokenizer, turn_tokens))
        records = run_sync(lambda: _run(
            chosen, _Budgeted(made, length), config=env_config, timeout_s=timeout_s,
            sampling=_sampling(trainer.args, sampling, length), group=group))
        return _to_trl(records, prompts, length, made.tokenizer)

    return rollout_func


def _groups(prompts: list[Any], trainer: Any, by_question: Mapping[str, Task]
            ) -> tuple[list[Task], int]:
    """The tasks of TRL's prompts, one per group, and the group size."""
    args = trainer.args
    training = getattr(getattr(trainer, "model", None), "training", True)
    group = args.num_generations if training else (args.num_generations_eval
                                                   or args.num_generations)
    tasks = [_task_of(prompt, by_question) for prompt in prompts]
    firsts = tasks[::group]
    if len(tasks) % group or tasks != [t for t in firsts for _ in range(group)]:
        raise ConfigError(f"Expects TRL's prompts in groups of num_generations={group} "
                          f"copies, actual: {len(tasks)} prompts not so grouped")
    return firsts, group


def _task_of(prompt: Any, by_question: Mapping[str, Task]) -> Task:
    question = prompt if isinstance(prompt, str) else _user_text(prompt)
    if question not in by_question:
        raise ConfigError(f"Expects a prompt whose question is one of the rollout's tasks, "
                          f"actual: {question[:80]!r}")
    return by_question[question]


def _user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def _sampling(args: Any, sampling: SamplingParams | None, length: int) -> SamplingParams:
    """TRL's sampling, with ``sampling``'s per-turn cap, stop strings and seed."""
    sampling = sampling or SamplingParams(max_tokens=length)
    return dataclasses.replace(sampling, temperature=args.temperature, top_p=args.top_p,
                               max_tokens=min(sampling.max_tokens, length))


def _sized(config: EnvConfig, length: int, tokenizer: Any, turn_tokens: int) -> EnvConfig:
    """``config`` with observations cut to each tool call's share of the budget."""
    counter = TokenCounter(tokenizer)
    share = result_share(length, config.max_turns, turn_tokens=turn_tokens,
                         overhead_tokens=counter.template_overhead())
    env = make_env(config)
    try:
        env.reset(options={"task": env.tasks[0]})
        sample = env.call_tool("web_search", {"query": [env.tasks[0].question]})
    finally:
        env.close()
    chars_per_token = len(sample) / max(1, counter.count(sample))
    chars = int(share * chars_per_token * 0.9)  # a margin for text denser than the sample
    return dataclasses.replace(config, max_observation_chars=min(
        config.max_observation_chars, max(chars, _LEAST_OBSERVATION_CHARS)))


_LEAST_OBSERVATION_CHARS = 256
"""The env's own floor (``EnvConfig``); a budget too small for it ends episodes truncated."""


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

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        self.model.eval()
        try:
            return list(await self.inner.generate(prompts, sampling))
        finally:
            self.model.train()


class _Budgeted(Policy):
    """Each turn capped at what is left of the episode's completion budget."""

    def __init__(self, inner: Policy, length: int) -> None:
        self.inner, self.length = inner, length
        self.name, self.tokenizer = inner.name, inner.tokenizer
        self._starts: dict[tuple[tuple[str, str], ...], int] = {}

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        sampling = sampling or SamplingParams()
        out: list[Completion] = []
        for prompt in map(as_prompt, prompts):
            left = self.length - self._used(prompt)
            capped = dataclasses.replace(sampling, max_tokens=max(1, min(sampling.max_tokens,
                                                                         left)))
            out += await self.inner.generate([prompt], capped)
        return out

    def _used(self, prompt: Prompt) -> int:
        """Completion tokens the episode has used (its prompt is the part before the first turn)."""
        if prompt.token_ids is None:
            return 0
        messages = prompt.messages
        first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"),
                     len(messages))
        head = tuple((m["role"], m["content"]) for m in messages[:first])
        if first == len(messages):  # the episode's first turn
            self._starts[head] = len(prompt.token_ids)
        return len(prompt.token_ids) - self._starts.get(head, len(prompt.token_ids))


async def _run(tasks: list[Task], policy: Policy, *, config: EnvConfig,
               sampling: SamplingParams, timeout_s: float, group: int) -> list[EpisodeRecord]:
    from webresearch.rollout.local import RolloutConfig, rollout  # noqa: PLC0415

    report = await rollout(lambda: make_env(config), policy, tasks, RolloutConfig(
        group_size=group, concurrency=len(tasks) * group, sampling=sampling, progress=False,
        episode_timeout_s=timeout_s, keep_results=True))
    return report.results


def _to_trl(records: list[EpisodeRecord], prompts: list[Any], length: int,
            tokenizer: Any) -> dict[str, list[Any]]:
    """The episodes as TRL's columns, each completion within ``length`` tokens."""
    out: dict[str, list[Any]] = {key: [] for key in (
        "prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward", "env_status",
        "tool_calls")}
    for record, prompt in zip(records, prompts, strict=True):
        parts = split_episode(record)
        status, reward = _status(record, parts, length, tokenizer), record.reward
        if not parts["completion_ids"]:  # broken before the model's first token
            parts = _placeholder(parts["prompt_ids"] or _prompt_ids(tokenizer, prompt), tokenizer)
            reward = None
        for key in ("completion_ids", "env_mask", "logprobs"):
            parts[key] = parts[key][:length]
        for key, value in parts.items():
            out[key].append(value)
        out["env_reward"].append(reward)
        out["env_status"].append(str(status))
        out["tool_calls"].append(tool_calls(record))
    return out


def _status(record: EpisodeRecord, parts: Mapping[str, list[Any]], length: int,
            tokenizer: Any) -> EpisodeStatus:
    """The episode's status, ``truncated`` where the completion budget ran out mid-turn."""
    over = len(parts["completion_ids"]) > length
    if over:
        logger.warning("episode %s: %d completion tokens cut to max_completion_length=%d",
                       record.episode_id, len(parts["completion_ids"]), length)
    cut = bool(record.steps) and _ran_out(record.steps[-1], tokenizer.eos_token_id)
    if record.status is EpisodeStatus.FORMAT_ERROR and (over or cut):
        return EpisodeStatus.TRUNCATED
    return record.status


def _ran_out(step: StepRecord, eos: int) -> bool:
    """Whether a turn ended for want of tokens (neither an end token nor a stop string)."""
    ids = step.token_ids
    if ids is None or not ids or ids[-1] == eos:
        return False
    return not any(step.action.endswith(stop) for stop in SamplingParams().stop)


def _placeholder(prompt_ids: list[int], tokenizer: Any) -> dict[str, list[Any]]:
    """What TRL takes for an episode with no completion: one end token, masked out."""
    return {"prompt_ids": prompt_ids, "completion_ids": [tokenizer.eos_token_id],
            "env_mask": [0], "logprobs": [0.0]}


def _prompt_ids(tokenizer: Any, prompt: Any) -> list[int]:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    ids: list[int] = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False,
                                                   add_generation_prompt=True)
    return ids
