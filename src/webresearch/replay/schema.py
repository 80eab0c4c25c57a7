"""The recorded-run schema: runs, episodes, steps and web calls, as versioned dataclasses.

Every record round-trips through ``to_json()`` / ``from_json()``; a record written by
an unknown schema version is refused with a clear error rather than misread. Schema 2
(typed statuses; ``None`` for the reward of a broken episode) reads schema 1's records.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from webresearch.errors import WebResearchError
from webresearch.status import ActionKind, EpisodeStatus
from webresearch.tasks import Task
from webresearch.web.calls import WebCall
from webresearch.web.costs import Cost
from webresearch.web.leaks import Leak

__all__ = ["SCHEMA_VERSION", "EpisodeRecord", "RunRecord", "StepRecord", "WebCall", "new_id"]

SCHEMA_VERSION = 2
_READABLE = (1, 2)


def new_id() -> str:
    """A short random identifier.

    Example:
        >>> len(new_id())
        16
    """
    return uuid.uuid4().hex[:16]


def _check_version(data: dict[str, Any], kind: str) -> None:
    version = data.get("v", SCHEMA_VERSION)
    if version not in _READABLE:
        raise WebResearchError(f"Expects {kind} schema version in {list(_READABLE)}, "
                               f"actual: {version}")


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One env step.

    Attributes:
        action: The policy's text.
        tool: What the action was (search, browse, answer, invalid).
        arguments: The tool's queries or URLs (the answer, for ``answer``).
        observation: What the env answered.
        reward: The step's reward.
        web: The web calls behind the observation.
        latency_s: Seconds the env took (parsing and tools).
        policy_s: Seconds the policy took to produce the action.
        error: An invalid action's message, or the world failures met.
        token_ids: The sampled token ids of the action, when the policy gives them.
        logprobs: Their log-probabilities.
    """

    action: str
    tool: ActionKind
    arguments: tuple[str, ...]
    observation: str
    reward: float = 0.0
    web: tuple[WebCall, ...] = ()
    latency_s: float = 0.0
    policy_s: float = 0.0
    error: str | None = None
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tool, ActionKind):  # a plain string is read as the enum
            object.__setattr__(self, "tool", ActionKind(self.tool))

    @property
    def cache_hits(self) -> int:
        return sum(call.from_cache for call in self.web)

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in ("action", "tool", "observation", "reward",
                                              "latency_s", "policy_s", "error", "token_ids",
                                              "logprobs")}
        return {**data, "arguments": list(self.arguments),
                "web": [call.to_json() for call in self.web]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        tokens, logprobs = data.get("token_ids"), data.get("logprobs")
        return cls(
            action=data["action"], tool=ActionKind(data["tool"]),
            arguments=tuple(data["arguments"]),
            observation=data["observation"], reward=data["reward"],
            web=tuple(WebCall.from_json(c) for c in data["web"]),
            latency_s=data["latency_s"], policy_s=data["policy_s"], error=data["error"],
            token_ids=tuple(tokens) if tokens is not None else None,
            logprobs=tuple(logprobs) if logprobs is not None else None)


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One recorded episode.

    Attributes:
        run_id: The run it belongs to.
        task: The task researched.
        group: Index among the rollouts of the same task (the GRPO group).
        status: How it ended; only a ``scored`` status carries a reward.
        reward, f1, em: The outcome as the env scored it; ``None`` for an episode that was
            broken from outside (a timeout, a policy or env error), which has no score.
        answer: The final answer, if any.
        prompt: The messages before the first action (system prompt, question).
        steps: The steps, in order.
        seed: The reset seed, if any.
        policy_version: Which weights produced the actions (for staleness).
        started_at, seconds: When it began (Unix time) and how long it took.
        error: What ended it abnormally, if anything (secrets redacted).
        traceback: Where it broke, for a policy or env error.
        token_ids, loss_mask, logprobs: The whole sequence as the policy saw it, with
            mask 1 on sampled tokens, when the policy assembles one.
        episode_id: Unique id.
        leaks: Gold answers and the question's text seen in its observations (the first
            sighting per URL), or ``None`` when not measured (records from before).
        cost: Its web calls and their price in US dollars (``None``: not priced).
    """

    run_id: str
    task: Task
    group: int
    status: EpisodeStatus
    reward: float | None
    f1: float | None
    em: float | None
    answer: str | None = None
    prompt: tuple[dict[str, str], ...] = ()
    steps: tuple[StepRecord, ...] = ()
    seed: int | None = None
    policy_version: int = 0
    started_at: float = field(default_factory=time.time)
    seconds: float = 0.0
    error: str | None = None
    token_ids: tuple[int, ...] | None = None
    loss_mask: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    episode_id: str = field(default_factory=new_id)
    traceback: str | None = None
    leaks: tuple[Leak, ...] | None = None
    cost: Cost | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, EpisodeStatus):  # a plain string is read as the enum
            object.__setattr__(self, "status", EpisodeStatus.parse(self.status))

    @property
    def scored(self) -> bool:
        """Whether the agent's behaviour decided the episode (its reward is a signal)."""
        return self.status.scored

    @property
    def tool_calls(self) -> int:
        return sum(step.tool.is_tool for step in self.steps)

    @property
    def cache_hits(self) -> int:
        return sum(step.cache_hits for step in self.steps)

    @property
    def cache_misses(self) -> int:
        return sum(len(step.web) for step in self.steps) - self.cache_hits

    def messages(self) -> list[dict[str, str]]:
        """The conversation: the prompt, then each action and the observation it brought."""
        out = [dict(m) for m in self.prompt]
        for step in self.steps:
            out.append({"role": "assistant", "content": step.action})
            if step.observation:
                out.append({"role": "user", "content": step.observation})
        return out

    def to_json(self) -> dict[str, Any]:
        scalars = ("run_id", "group", "status", "reward", "f1", "em", "answer", "seed",
                   "policy_version", "started_at", "seconds", "error", "token_ids", "loss_mask",
                   "logprobs", "episode_id", "traceback")
        return {"v": SCHEMA_VERSION, **{k: getattr(self, k) for k in scalars},
                "task": self.task.to_json(), "prompt": [dict(m) for m in self.prompt],
                "steps": [s.to_json() for s in self.steps], **self._measured_json()}

    def _measured_json(self) -> dict[str, Any]:
        """The optional measurements, only when present (old readers never see them)."""
        data: dict[str, Any] = {}
        if self.leaks is not None:
            data["leaks"] = [leak.to_json() for leak in self.leaks]
        if self.cost is not None:
            data["cost"] = self.cost.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeRecord:
        _check_version(data, "episode")
        token_ids, loss_mask, logprobs = (tuple(data[k]) if data.get(k) is not None else None
                                          for k in ("token_ids", "loss_mask", "logprobs"))
        status = EpisodeStatus.parse(data["status"])
        score = {k: data[k] if status.scored else None for k in ("reward", "f1", "em")}
        return cls(
            run_id=data["run_id"], task=Task.from_json(data["task"]), group=data["group"],
            status=status, **score, traceback=data.get("traceback"),
            answer=data["answer"], prompt=tuple(data["prompt"]),
            steps=tuple(StepRecord.from_json(s) for s in data["steps"]), seed=data["seed"],
            policy_version=data["policy_version"], started_at=data["started_at"],
            seconds=data["seconds"], error=data["error"], episode_id=data["episode_id"],
            token_ids=token_ids, loss_mask=loss_mask, logprobs=logprobs,
            leaks=tuple(Leak.from_json(x) for x in data["leaks"]) if "leaks" in data else None,
            cost=Cost.from_json(data["cost"]) if "cost" in data else None)

    def summary(self) -> dict[str, Any]:
        """The fields that queries filter on (stored beside the episode)."""
        return {"episode_id": self.episode_id, "run_id": self.run_id, "task_id": self.task.id,
                "dataset": self.task.dataset, "group": self.group, "status": self.status,
                "reward": self.reward, "f1": self.f1, "em": self.em, "steps": len(self.steps),
                "tool_calls": self.tool_calls, "policy_version": self.policy_version,
                "started_at": self.started_at}


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run: the configuration and policy behind a set of episodes.

    Attributes:
        run_id: Unique id.
        created_at: Unix time.
        config: The env and rollout options, JSON-ready.
        policy: The policy's name.
        model: The model (checkpoint path or name), if any.
        policy_version: The weights' version at the start.
        notes: Free text.
    """

    run_id: str = field(default_factory=new_id)
    created_at: float = field(default_factory=time.time)
    config: dict[str, Any] = field(default_factory=dict)
    policy: str = ""
    model: str = ""
    policy_version: int = 0
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        _check_version(data, "run")
        return cls(**{k: v for k, v in data.items() if k != "v"})
