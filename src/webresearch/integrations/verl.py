"""verl: ``WebResearch-v0`` as a verl agent loop (verl >=0.9.1,<0.10), with its dataset and YAML.

verl's agent loop worker builds an agent loop per sample (``hydra.utils.instantiate``
on the class its registry names) and awaits ``run(sampling_params, **row)``.
:class:`WebResearchAgentLoop` subclasses verl's ``AgentLoopBase``, is registered under
:data:`AGENT_NAME` with verl's ``register``, and plays one episode per sample through
verl's ``server_manager`` (token ids in, token ids and log-probs out), within verl's
budgets: the prompt is cut to ``rollout.prompt_length`` from the left, as verl's own
loops cut it; every turn may generate only what is left of ``rollout.response_length``
(the model's tokens and the observations together), so the cut falls where the
budget ends and the episode ends there, its reward on the last kept token. Every turn
of a trajectory carries one ``request_id``, for verl's sticky routing and prefix cache.

Importing this module imports verl when it is installed, and checks its version. A run::

    write_verl_dataset("data/train.parquet")
    write_agent_loop_yaml("webresearch_agent.yaml")
    # python -m verl.trainer.main_ppo ... data.train_files=data/train.parquet \\
    #   actor_rollout_ref.rollout.agent.agent_loop_config_path=webresearch_agent.yaml \\
    #   actor_rollout_ref.rollout.agent.default_agent_loop=webresearch
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import itertools
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig, TaskSource
from webresearch.envs.formats.action_format import Answer
from webresearch.envs.outcomes import EpisodeOutcome
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, DependencyNotInstalled
from webresearch.integrations.episodes import make_env
from webresearch.policies.policy import ChatMessage
from webresearch.policies.tokens import TokenAssembler
from webresearch.policies.types import SamplingParams
from webresearch.tasks import Task, task_from_record

__all__ = [
    "AGENT_NAME",
    "SUPPORTED_VERL",
    "BudgetedEpisode",
    "TokenBudget",
    "WebResearchAgentLoop",
    "agent_loop_yaml",
    "check_verl_version",
    "play_episode",
    "verl_rows",
    "write_agent_loop_yaml",
    "write_verl_dataset",
]

AGENT_NAME = "webresearch"
"""The agent loop's name in verl's registry (the dataset's ``agent_name`` column)."""
SUPPORTED_VERL = ">=0.9.1,<0.10"
"""The verl versions this agent loop is written against (``verl.experimental`` moves)."""
_LOW, _HIGH = (0, 9, 1), (0, 10, 0)


def check_verl_version(version: str) -> None:
    """Raise unless ``version`` is in :data:`SUPPORTED_VERL`.

    Example:
        >>> check_verl_version("0.9.1")
        >>> check_verl_version("0.10.0")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects verl>=0.9.1,<0.10 ...actual: verl 0.10.0...
    """
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if not _LOW <= parts < _HIGH:
        raise ConfigError(f"Expects verl{SUPPORTED_VERL} (its agent loop API is experimental "
                          f"and moves between minor versions), actual: verl {version}. Install "
                          f"a supported one from the checkout with `pip install -e '.[verl]'`.")


def _verl_agent_loop() -> Any:
    """verl's ``agent_loop`` module (its version checked), or ``None`` without verl."""
    if importlib.util.find_spec("verl") is None:
        return None
    check_verl_version(importlib.metadata.version("verl"))
    from verl.experimental.agent_loop import agent_loop  # noqa: PLC0415

    return agent_loop


_AGENT_LOOP = _verl_agent_loop()

if TYPE_CHECKING or _AGENT_LOOP is None:
    _AgentLoopBase: Any = object
else:
    _AgentLoopBase = _AGENT_LOOP.AgentLoopBase


# ---------------------------------------------------------------- budgets
@dataclass(frozen=True, slots=True, kw_only=True)
class TokenBudget:
    """A trajectory's token budgets, as verl's rollout config sets them.

    Example:
        >>> budget = TokenBudget(prompt_length=256, response_length=100, max_turn_tokens=40)
        >>> budget.turn_tokens(used=0), budget.turn_tokens(used=90), budget.turn_tokens(used=100)
        (40, 10, 0)
    """

    prompt_length: int
    """``rollout.prompt_length``: a longer prompt loses its start, as in verl's own loops."""
    response_length: int
    """``rollout.response_length``: the model's tokens and the observations, all turns together."""
    max_turn_tokens: int | None = None
    """At most this many tokens per turn (``None``: what is left of the response budget)."""

    def __post_init__(self) -> None:
        for name in ("prompt_length", "response_length", "max_turn_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"Expects {name} to be a positive int, actual: {value!r}")

    def turn_tokens(self, *, used: int) -> int:
        """Tokens the next turn may generate when the response holds ``used`` tokens."""
        left = max(0, self.response_length - used)
        return left if self.max_turn_tokens is None else min(left, self.max_turn_tokens)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetedEpisode:
    """One episode within a :class:`TokenBudget`, in verl's ``AgentLoopOutput`` terms."""

    prompt_ids: list[int]
    """The prompt as the model saw it (cut to ``prompt_length`` from the left)."""
    response_ids: list[int]
    """The model's tokens and the observations between them; ends on a model token."""
    response_mask: list[int]
    """1 on the model's tokens, 0 on observations."""
    response_logprobs: list[float] | None
    """The model's log-probs (0 on observations); ``None`` when the server sent none."""
    outcome: EpisodeOutcome
    """The env's verdict (status, reward, F1, EM, answer)."""
    prompt_cut: int
    """Prompt tokens cut from the left to fit ``prompt_length``."""
    budget_ended: bool
    """Whether the response budget ended the episode (status ``truncated`` unless the
    last kept turn was an answer)."""
    turns: int
    """The model's turns."""
    generate_s: float
    """Seconds spent waiting for the server."""

    def num_turns(self) -> int:
        """Chat turns as verl counts them: the prompt, the model's turns, the observations kept."""
        pairs = itertools.pairwise(self.response_mask)
        return 1 + self.turns + sum(a == 1 and b == 0 for a, b in pairs)

    def extra_fields(self) -> dict[str, Any]:
        """What verl keeps of the env's verdict beside the tensors."""
        outcome = self.outcome
        return {"status": str(outcome.status), "f1": outcome.f1, "em": outcome.em,
                "answer": outcome.answer, "tool_calls": outcome.tool_calls,
                "prompt_cut": self.prompt_cut, "budget_ended": self.budget_ended}


class _Server:
    """verl's ``server_manager`` for one trajectory: one ``request_id`` for every turn."""

    def __init__(self, server_manager: Any, sampling_params: Mapping[str, Any],
                 request_id: str) -> None:
        self.server_manager = server_manager
        self.params = {"stop": list(SamplingParams().stop), **dict(sampling_params)}
        self.request_id = request_id
        self.seconds = 0.0

    async def __call__(self, prompt_ids: list[int], max_tokens: int
                       ) -> tuple[list[int], list[float] | None]:
        start = time.perf_counter()
        output = await self.server_manager.generate(
            request_id=self.request_id, prompt_ids=prompt_ids,
            sampling_params={**self.params, "max_tokens": max_tokens})
        self.seconds += time.perf_counter() - start
        ids = list(output.token_ids)[:max_tokens]  # a server that overshoots is cut too
        logprobs = list(output.log_probs)[:max_tokens] if output.log_probs else None
        return ids, logprobs


async def play_episode(env: WebResearchEnv, task: Task, *, server_manager: Any, tokenizer: Any,
                       sampling_params: Mapping[str, Any], budget: TokenBudget,
                       request_id: str) -> BudgetedEpisode:
    """Play ``task`` in ``env`` through verl's ``server_manager``, within ``budget``.

    Each turn asks for at most what is left of the response budget; when a turn or an
    observation uses it up, the episode ends there: a kept answer is scored, anything
    else ends as ``truncated`` (the env's reward for no answer). Observation tokens after
    the last model token are dropped, so the reward sits on a model token.
    """
    observation, _ = await env.areset(options={"task": task})
    messages: list[ChatMessage] = (
        [{"role": "system", "content": env.system_prompt}] if env.system_prompt else [])
    tokens = TokenAssembler(tokenizer)
    full_prompt = len(tokens.start([*messages, {"role": "user", "content": observation}]))
    cut = max(0, full_prompt - budget.prompt_length)
    server = _Server(server_manager, sampling_params, request_id)
    turns, budget_ended = 0, False
    while env.outcome is None:
        used = len(tokens.ids) - full_prompt
        if budget.turn_tokens(used=used) == 0:
            budget_ended = True
            await env.asubmit(None)
            break
        ids, logprobs = await server(tokens.ids[cut:], budget.turn_tokens(used=used))
        tokens.add_completion(ids, logprobs)
        turns += 1
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if len(tokens.ids) - full_prompt >= budget.response_length and not _answers(env, text):
            budget_ended = True
            await env.asubmit(None)
            break
        observation, *_ = await env.astep(text)
        if env.outcome is None:
            tokens.add_observation(observation)
    return _episode(tokens, full_prompt, cut, env.outcome, budget_ended=budget_ended,
                    turns=turns, generate_s=server.seconds)


def _answers(env: WebResearchEnv, text: str) -> bool:
    """Whether the model's text is a final answer (which the env then scores)."""
    return isinstance(env.format.parse(text), Answer)


def _episode(tokens: TokenAssembler, full_prompt: int, cut: int, outcome: EpisodeOutcome | None,
             *, budget_ended: bool, turns: int, generate_s: float) -> BudgetedEpisode:
    if outcome is None:
        raise ConfigError("Expects the env to report how the episode ended, actual: none")
    mask = tokens.mask[full_prompt:]
    end = max((i + 1 for i, m in enumerate(mask) if m == 1), default=0)  # the last model token
    logprobs = tokens.sampled_logprobs()
    return BudgetedEpisode(
        prompt_ids=tokens.ids[cut:full_prompt], response_ids=tokens.ids[full_prompt:][:end],
        response_mask=mask[:end],
        response_logprobs=list(logprobs[full_prompt:][:end]) if logprobs is not None else None,
        outcome=outcome, prompt_cut=cut, budget_ended=budget_ended, turns=turns,
        generate_s=generate_s)


# ------------------------------------------------------------ agent loop
class WebResearchAgentLoop(_AgentLoopBase):  # type: ignore[misc]
    """verl agent loop: one ``WebResearch-v0`` episode per ``run``, within verl's budgets.

    verl instantiates it with its own keyword arguments (``trainer_config``,
    ``server_manager``, ``tokenizer``, ...) plus the keys of its YAML entry: ``env``
    holds the env's options (:class:`EnvConfig` fields) and ``max_turn_tokens`` caps a
    turn. A row names its task in ``extra_info["task"]`` (:func:`write_verl_dataset`).
    The budgets are the rollout config's ``prompt_length`` and ``response_length``.
    """

    def __init__(self, *args: Any, env: Mapping[str, Any] | None = None,
                 max_turn_tokens: int | None = None, **kwargs: Any) -> None:
        if _AGENT_LOOP is None:
            raise DependencyNotInstalled("verl", "verl")
        super().__init__(*args, **kwargs)
        self.env_config = EnvConfig(**_plain(env))
        self.budget = TokenBudget(prompt_length=int(self.rollout_config.prompt_length),
                                  response_length=int(self.rollout_config.response_length),
                                  max_turn_tokens=max_turn_tokens)

    async def run(self, sampling_params: dict[str, Any], **row: Any) -> Any:
        """Play the row's task; return verl's ``AgentLoopOutput``."""
        task = task_from_record(_task_record(row), where="the verl row")
        env = make_env(self.env_config)
        start = time.perf_counter()
        try:
            episode = await play_episode(
                env, task, server_manager=self.server_manager, tokenizer=self.tokenizer,
                sampling_params=sampling_params, budget=self.budget,
                request_id=self._request_id(int(row.get("priority", 0))))
        finally:
            await env.aclose()
            env.close()
        seconds = time.perf_counter() - start
        metrics = _AGENT_LOOP.AgentLoopMetrics(generate_sequences=episode.generate_s,
                                               tool_calls=max(0.0, seconds - episode.generate_s))
        return _AGENT_LOOP.AgentLoopOutput(
            prompt_ids=episode.prompt_ids, response_ids=episode.response_ids,
            response_mask=episode.response_mask, response_logprobs=episode.response_logprobs,
            reward_score=episode.outcome.reward, num_turns=episode.num_turns(),
            metrics=metrics, extra_fields=episode.extra_fields())

    def _request_id(self, priority: int) -> str:
        """One id per trajectory, as verl's tool agent loop makes it."""
        if getattr(self.rollout_config, "full_determinism", False):
            return f"det-{priority}"
        return uuid.uuid4().hex


if _AGENT_LOOP is not None:
    _AGENT_LOOP.register(AGENT_NAME)(WebResearchAgentLoop)


def _plain(options: Any) -> dict[str, Any]:
    """The YAML entry's ``env`` as plain Python (hydra passes an OmegaConf node)."""
    if options is None:
        return {}
    if importlib.util.find_spec("omegaconf") is not None:
        from omegaconf import OmegaConf  # noqa: PLC0415

        if OmegaConf.is_config(options):
            options = OmegaConf.to_container(options, resolve=True)
    if not isinstance(options, Mapping):
        raise ConfigError(f"Expects env options as a mapping, actual: {type(options).__name__}")
    return dict(options)


def _task_record(row: Mapping[str, Any]) -> dict[str, Any]:
    extra = row.get("extra_info") or {}
    task = extra.get("task") if isinstance(extra, Mapping) else None
    if task is None:
        raise ConfigError(f"Expects a row with extra_info['task'] (write_verl_dataset writes "
                          f"it), actual: columns {sorted(row)}")
    record: dict[str, Any] = json.loads(task) if isinstance(task, str) else dict(task)
    return record


# ------------------------------------------------------------ dataset, YAML
def verl_rows(tasks: TaskSource | None = None, *,
              config: EnvConfig | None = None) -> list[dict[str, Any]]:
    """The rows of a verl dataset, one per task, in verl's ``RLHFDataset`` layout.

    ``tasks`` defaults to ``config.tasks`` (the web's default task set without a config).

    Example:
        >>> row = verl_rows([{"question": "Who?", "answers": ["Ada"]}])[0]
        >>> row["agent_name"], row["prompt"][-1], row["reward_model"]["ground_truth"]
        ('webresearch', {'role': 'user', 'content': 'Who?'}, ['Ada'])
    """
    config = config or EnvConfig()
    tasks = config.tasks if tasks is None else tasks
    env = make_env(dataclasses.replace(config, tasks=tasks))
    rows = [{"data_source": "webresearch", "agent_name": AGENT_NAME,
             "prompt": [{"role": "system", "content": env.system_prompt},
                        {"role": "user", "content": env.format.user_prompt(t.question)}],
             "ability": "research",
             "reward_model": {"style": "rule", "ground_truth": list(t.answers)},
             "extra_info": {"index": i, "task_id": t.id, "task": json.dumps(t.to_json())}}
            for i, t in enumerate(env.tasks)]
    env.close()
    return rows


def write_verl_dataset(path: str | Path, tasks: TaskSource | None = None, *,
                       config: EnvConfig | None = None) -> Path:
    """Write :func:`verl_rows` as the Parquet file verl's ``data.train_files`` reads."""
    parquet = require("pyarrow.parquet", "verl")
    pyarrow = require("pyarrow", "verl")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet.write_table(pyarrow.Table.from_pylist(verl_rows(tasks, config=config)), path)
    return path


def agent_loop_yaml(env: Mapping[str, Any] | None = None, *,
                    max_turn_tokens: int | None = None) -> str:
    """verl's ``agent_loop_config_path`` file: this loop under :data:`AGENT_NAME`.

    Example:
        >>> print(agent_loop_yaml({"max_turns": 4}, max_turn_tokens=512))
        - name: webresearch
          _target_: webresearch.integrations.verl.WebResearchAgentLoop
          env: {"max_turns": 4}
          max_turn_tokens: 512
    """
    text = (f"- name: {AGENT_NAME}\n  _target_: {__name__}.{WebResearchAgentLoop.__name__}\n"
            f"  env: {json.dumps(dict(env or {}))}")
    return text if max_turn_tokens is None else f"{text}\n  max_turn_tokens: {max_turn_tokens}"


def write_agent_loop_yaml(path: str | Path, env: Mapping[str, Any] | None = None, *,
                          max_turn_tokens: int | None = None) -> Path:
    """Write :func:`agent_loop_yaml` to ``path``."""
    path = Path(path)
    path.write_text(agent_loop_yaml(env, max_turn_tokens=max_turn_tokens) + "\n",
                    encoding="utf-8")
    return path

