"""What a GRPO run is told (:class:`TrainConfig`, :class:`AsyncConfig`) and what each step
reports (:class:`TrainLog`, :class:`AsyncStepLog`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from webresearch.errors import ConfigError
from webresearch.policies.policy import SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout import RolloutConfig
from webresearch.train.checkpoints import SkippedGroup
from webresearch.train.learner import StepMetrics

__all__ = ["AsyncConfig", "AsyncStepLog", "TrainConfig", "TrainLog"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How long to train, what a step trains on, how stale it may be, where it checkpoints.

    :func:`~webresearch.train.train` takes one; its default ``max_staleness=0`` is the
    synchronous schedule. ``steps`` counts the whole run's steps: a resumed run takes
    those left.
    """

    steps: int
    """Learner steps."""
    groups_per_step: int
    """Groups (one task each) each learner step trains on."""
    group_size: int
    """Rollouts per task (the GRPO group)."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    """How the policy samples its actions."""
    episode_timeout_s: float = 300.0
    """Deadline of one episode; past it the episode is broken (``timeout``) and left out."""
    max_staleness: int = 0
    """Train on a group only while the learner is at most this many versions past the
    weights that sampled it; staler groups are skipped. 0 is the synchronous schedule:
    each step's groups are rolled out together (one runner call) with the weights of
    the step before, and none is rolling out while the learner steps."""
    max_pending_groups: int | None = None
    """Back-pressure: groups rolling out, waiting in the store or in the learner's step,
    at most; ``None``: ``(max_staleness + 1) * groups_per_step``, the most that keeps every
    group within the staleness bound when they finish in order."""
    group_deadline_s: float | None = None
    """A group with members missing (lost in a crash) is used as it is this long after
    its first member arrived (a resumed run's at once); ``None``: episode deadline + 30 s."""
    wait_timeout_s: float | None = None
    """Longest wait of the learner for enough ready groups; ``None``: twice the episode
    deadline plus 60 s. Past it the run fails (the producers are stuck)."""
    poll_s: float = 0.5
    """How often the learner reads the store when no group was committed here."""
    checkpoint_dir: Path | None = None
    """Save the learner and its cursor here after every step, and resume from the newest."""
    keep_checkpoints: int | None = 2
    """Checkpoints kept (``None``: every one)."""

    def __post_init__(self) -> None:
        for name in ("steps", "groups_per_step", "group_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Expects {name} >= 1, actual: {getattr(self, name)}")
        if self.max_staleness < 0:
            raise ConfigError(f"Expects max_staleness >= 0, actual: {self.max_staleness}")
        if self.max_pending_groups is not None and self.max_pending_groups < self.groups_per_step:
            raise ConfigError(f"Expects max_pending_groups >= groups_per_step "
                              f"({self.groups_per_step}), actual: {self.max_pending_groups}")

    @property
    def pending_limit(self) -> int:
        """Groups outstanding at most (the producers' gate)."""
        bound = (self.max_staleness + 1) * self.groups_per_step
        return min(bound, self.max_pending_groups or bound)

    @property
    def groups_per_call(self) -> int:
        """Groups a producer rolls out in one runner call: the step's when synchronous."""
        return self.groups_per_step if self.max_staleness == 0 else 1

    def rollout(self) -> RolloutConfig:
        """The rollout of one runner call (:attr:`groups_per_call` groups at once)."""
        return RolloutConfig(group_size=self.group_size,
                             concurrency=self.group_size * self.groups_per_call,
                             episode_timeout_s=self.episode_timeout_s, sampling=self.sampling,
                             progress=False, keep_results=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncConfig(TrainConfig):
    """A :class:`TrainConfig` whose producers run ahead of the learner
    (:func:`~webresearch.train.train_async`)."""

    max_staleness: int = 4
    """As in :class:`TrainConfig`; here the producers keep rolling out groups while the
    learner steps, up to this many versions behind it."""


@dataclass(frozen=True, slots=True)
class TrainLog:
    """One training step: the learner's metrics and what the rollout looked like.

    Means are over the step's scored episodes (``None`` when every one was broken).
    """

    metrics: StepMetrics
    mean_f1: float | None
    mean_tool_calls: float
    mean_response_tokens: float
    broken: int = 0
    """Episodes of the step broken from outside (timeouts, policy or env errors)."""

    @classmethod
    def of(cls, metrics: StepMetrics, episodes: Sequence[EpisodeRecord]) -> TrainLog:
        """The log of a step that trained on ``episodes``."""
        scored = [e for e in episodes if e.scored]
        n = max(1, len(episodes))
        lengths = [sum(e.loss_mask or ()) for e in episodes]
        return cls(metrics=metrics,
                   mean_f1=sum(e.f1 or 0.0 for e in scored) / len(scored) if scored else None,
                   mean_tool_calls=sum(e.tool_calls for e in episodes) / n,
                   mean_response_tokens=sum(lengths) / n, broken=len(episodes) - len(scored))


@dataclass(frozen=True, slots=True)
class AsyncStepLog:
    """One learner step, with where its groups came from."""

    log: TrainLog
    """The step's metrics and rollout means (what :func:`~webresearch.train.train` logs)."""
    groups: tuple[str, ...]
    """The groups trained on."""
    staleness: tuple[int, ...]
    """Each group's age: the learner's version minus the version that sampled it."""
    skipped: tuple[SkippedGroup, ...]
    """Groups skipped as too stale while this step waited."""
    partial: int
    """Groups used with members missing (past their deadline)."""
    waited_s: float
    """Seconds the learner waited for ready groups."""
    step_s: float
    """Seconds of the learner's step and the weights' push."""
