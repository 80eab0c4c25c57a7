"""verl: ``WebResearch-v0`` as a verl agent loop, with the dataset and YAML a verl run needs.

verl's agent loop worker builds an agent loop per sample (``hydra.utils.instantiate``
on the class named in its YAML) and awaits ``run(sampling_params, **row)``. Here
generation goes through verl's ``server_manager.generate`` (token ids in, token ids
and log-probs out) behind a :class:`~webresearch.policies.base.Policy`, and the env's
own episode runner plays the episode: the env's token sequence becomes verl's
``prompt_ids``, ``response_ids``, ``response_mask`` and ``response_logprobs``, and the
env's reward its ``reward_score``. verl is imported only to build its
``AgentLoopOutput``; without verl (it does not install beside this project's
transformers) the same fields come back as :class:`AgentLoopResult`.

A run::

    write_verl_dataset("data/train.parquet")
    write_agent_loop_yaml("webresearch_agent.yaml")
    # python -m verl.trainer.main_ppo ... data.train_files=data/train.parquet \\
    #   actor_rollout_ref.rollout.agent.agent_loop_config_path=webresearch_agent.yaml \\
    #   actor_rollout_ref.rollout.agent.default_agent_loop=webresearch
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig, TaskSource
from webresearch.errors import ConfigError
from webresearch.integrations.episodes import make_env, split_episode, tool_calls
from webresearch.policies.base import Policy
from webresearch.policies.types import Completion, PromptLike, SamplingParams, as_prompt
from webresearch.tasks import task_from_record

__all__ = [
    "AGENT_NAME",
    "AgentLoopResult",
    "ServerManagerPolicy",
    "WebResearchAgentLoop",
    "agent_loop_yaml",
    "verl_rows",
    "write_agent_loop_yaml",
    "write_verl_dataset",
]

AGENT_NAME = "webresearch"
"""The agent loop's name in verl's registry (the dataset's ``agent_name`` column)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoopResult:
    """verl's ``AgentLoopOutput`` fields, for when verl is not installed."""

    prompt_ids: list[int]
    """Prompt token ids."""
    response_ids: list[int]
    """The model's tokens and the observations between them."""
    response_mask: list[int]
    """1 on the model's tokens, 0 on observations."""
    response_logprobs: list[float] | None
    """The model's log-probs (0 on observations)."""
    reward_score: float | None
    """The env's reward; ``None`` for an episode broken from outside."""
    num_turns: int
    """Chat turns: system, user, each assistant turn and each observation."""
    metrics: dict[str, float] = field(default_factory=dict)
    """``generate_sequences`` and ``tool_calls`` seconds, as verl's ``AgentLoopMetrics``."""
    extra_fields: dict[str, Any] = field(default_factory=dict)
    """The env's verdict: status, F1, EM, answer, tool calls."""


class ServerManagerPolicy(Policy):
    """A policy that generates through verl's ``server_manager`` (token ids in and out).

    Args:
        server_manager: verl's LLM server client: ``await generate(request_id=...,
            prompt_ids=..., sampling_params=...)`` returning ``token_ids`` and ``log_probs``.
        tokenizer: The model's tokenizer (decodes the completion, assembles the episode).
        sampling_params: verl's sampling parameters, sent with every request (the env's
            stop strings are added).
    """

    name = "verl"

    def __init__(self, server_manager: Any, tokenizer: Any,
                 sampling_params: Mapping[str, Any] | None = None) -> None:
        self.server_manager = server_manager
        self.tokenizer = tokenizer
        self.sampling_params = dict(sampling_params or {})
        self.seconds = 0.0
        """Seconds spent waiting for the server."""

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        return [await self._one(as_prompt(p), sampling or SamplingParams()) for p in prompts]

    async def _one(self, prompt: Any, sampling: SamplingParams) -> Completion:
        import time  # noqa: PLC0415

        ids = list(prompt.token_ids) if prompt.token_ids is not None else self.tokenizer.encode(
            self.tokenizer.apply_chat_template([dict(m) for m in prompt.messages], tokenize=False,
                                               add_generation_prompt=True),
            add_special_tokens=False)
        params = {"stop": list(sampling.stop), **self.sampling_params}
        start = time.perf_counter()
        output = await self.server_manager.generate(request_id=uuid.uuid4().hex, prompt_ids=ids,
                                                    sampling_params=params)
        self.seconds += time.perf_counter() - start
        token_ids = list(output.token_ids)
        logprobs = list(output.log_probs) if output.log_probs else None
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        return Completion(text=text, token_ids=tuple(token_ids),
                          logprobs=tuple(logprobs) if logprobs is not None else None)


class WebResearchAgentLoop:
    """verl agent loop: one ``WebResearch-v0`` episode per ``run``.

    verl instantiates it with its own keyword arguments (``trainer_config``,
    ``server_manager``, ``tokenizer``, ``processor``, ...) plus the keys of its YAML
    entry: ``env`` holds the env's options (:class:`EnvConfig` fields). A row names its
    task in ``extra_info["task"]`` (:func:`write_verl_dataset` writes it).

    Args:
        server_manager: verl's LLM server client.
        tokenizer: The model's tokenizer.
        trainer_config: verl's config wrapper; its rollout ``response_length`` caps the
            response, as verl's own loops do.
        env: The env's options.
        **verl_kwargs: The rest of what verl passes (processor, dataset class, tools...);
            not used.
    """

    def __init__(self, *, server_manager: Any, tokenizer: Any, trainer_config: Any = None,
                 env: Mapping[str, Any] | None = None, **verl_kwargs: Any) -> None:
        self.server_manager = server_manager
        self.tokenizer = tokenizer
        self.env_config = EnvConfig(**dict(env or {}))
        self.response_length = _response_length(trainer_config)

    async def run(self, sampling_params: dict[str, Any], **row: Any) -> Any:
        """Play the row's task; return verl's ``AgentLoopOutput`` (or :class:`AgentLoopResult`)."""
        from webresearch.rollout.episode import run_episode  # noqa: PLC0415

        task = task_from_record(_task_record(row), where="the verl row")
        policy = ServerManagerPolicy(self.server_manager, self.tokenizer, sampling_params)
        env = make_env(self.env_config)
        try:
            record = await run_episode(env, policy, task)
        finally:
            await env.aclose()
            env.close()
        tokens = split_episode(record)
        cut = self.response_length
        fields: dict[str, Any] = {
            "prompt_ids": tokens["prompt_ids"],
            "response_ids": tokens["completion_ids"][:cut],
            "response_mask": tokens["env_mask"][:cut],
            "response_logprobs": tokens["logprobs"][:cut] if record.logprobs else None,
            "reward_score": record.reward, "num_turns": 2 + 2 * len(record.steps) - 1,
            "metrics": {"generate_sequences": policy.seconds,
                        "tool_calls": float(sum(s.latency_s for s in record.steps))},
            "extra_fields": {"status": str(record.status), "f1": record.f1, "em": record.em,
                             "answer": record.answer, "tool_calls": tool_calls(record)}}
        return _output(fields)


def _output(fields: dict[str, Any]) -> Any:
    if importlib.util.find_spec("verl") is None:
        return AgentLoopResult(**fields)
    from verl.experimental.agent_loop.agent_loop import (  # noqa: PLC0415
        AgentLoopMetrics,
        AgentLoopOutput,
    )

    return AgentLoopOutput(**{**fields, "metrics": AgentLoopMetrics(**fields["metrics"])})


def _response_length(trainer_config: Any) -> int | None:
    try:
        return int(trainer_config.config.actor_rollout_ref.rollout.response_length)
    except (AttributeError, TypeError, ValueError):
        return None


def _task_record(row: Mapping[str, Any]) -> dict[str, Any]:
    extra = row.get("extra_info") or {}
    task = extra.get("task") if isinstance(extra, Mapping) else None
    if task is None:
        raise ConfigError(f"Expects a row with extra_info['task'] (write_verl_dataset writes "
                          f"it), actual: columns {sorted(row)}")
    record: dict[str, Any] = json.loads(task) if isinstance(task, str) else dict(task)
    return record


def verl_rows(tasks: TaskSource = "default", *,
              config: EnvConfig | None = None) -> list[dict[str, Any]]:
    """The rows of a verl dataset, one per task, in verl's ``RLHFDataset`` layout.

    Example:
        >>> row = verl_rows([{"question": "Who?", "answers": ["Ada"]}])[0]
        >>> row["agent_name"], row["prompt"][-1], row["reward_model"]["ground_truth"]
        ('webresearch', {'role': 'user', 'content': 'Who?'}, ['Ada'])
    """
    env = make_env(EnvConfig(**{**_options(config), "tasks": tasks}))
    rows = [{"data_source": "webresearch", "agent_name": AGENT_NAME,
             "prompt": [{"role": "system", "content": env.system_prompt},
                        {"role": "user", "content": env.format.user_prompt(t.question)}],
             "ability": "research",
             "reward_model": {"style": "rule", "ground_truth": list(t.answers)},
             "extra_info": {"index": i, "task_id": t.id, "task": json.dumps(t.to_json())}}
            for i, t in enumerate(env.tasks)]
    env.close()
    return rows


def write_verl_dataset(path: str | Path, tasks: TaskSource = "default", *,
                       config: EnvConfig | None = None) -> Path:
    """Write :func:`verl_rows` as the Parquet file verl's ``data.train_files`` reads."""
    parquet = require("pyarrow.parquet", "verl")
    pyarrow = require("pyarrow", "verl")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet.write_table(pyarrow.Table.from_pylist(verl_rows(tasks, config=config)), path)
    return path


def agent_loop_yaml(env: Mapping[str, Any] | None = None) -> str:
    """verl's ``agent_loop_config_path`` file: this loop under :data:`AGENT_NAME`.

    Example:
        >>> print(agent_loop_yaml({"max_turns": 4}))
        - name: webresearch
          _target_: webresearch.integrations.verl.WebResearchAgentLoop
          env: {"max_turns": 4}
    """
    return (f"- name: {AGENT_NAME}\n  _target_: {__name__}.{WebResearchAgentLoop.__name__}\n"
            f"  env: {json.dumps(dict(env or {}))}")


def write_agent_loop_yaml(path: str | Path, env: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`agent_loop_yaml` to ``path``."""
    path = Path(path)
    path.write_text(agent_loop_yaml(env) + "\n", encoding="utf-8")
    return path


def _options(config: EnvConfig | None) -> dict[str, Any]:
    config = config or EnvConfig()
    return {name: getattr(config, name) for name in config.__dataclass_fields__}
