"""On-policy GRPO: roll out groups, learn from them, and sample from the new weights, repeat."""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.base import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import LocalRunner, RolloutConfig, Runner, with_config
from webresearch.tasks import Task
from webresearch.train.learner import GRPOLearner, StepMetrics

__all__ = ["StepSchedule", "TrainConfig", "TrainLog", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSchedule:
    """What both training loops ask: how many steps, and the groups each one trains on.

    Pass a :class:`TrainConfig` to :func:`train`, an ``AsyncConfig`` to ``train_async``.
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

    def __post_init__(self) -> None:
        for name in ("steps", "groups_per_step", "group_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Expects {name} >= 1, actual: {getattr(self, name)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig(StepSchedule):
    """How many steps to train and what each step rolls out, on-policy (:func:`train`)."""


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


async def train(
    *,
    policy: Policy,
    learner: GRPOLearner,
    make_env: Callable[[], WebResearchEnv],
    tasks: Sequence[Task],
    store: ReplayStore,
    config: TrainConfig,
    run: RunRecord | None = None,
    runner: Runner | None = None,
    sync_weights: Callable[[GRPOLearner], Awaitable[None] | None] | None = None,
    on_step: Callable[[TrainLog], None] | None = None,
) -> list[TrainLog]:
    """Train ``learner.model`` with GRPO on ``tasks``; every episode is recorded in ``store``.

    Each step rolls out ``config.groups_per_step`` tasks ``config.group_size`` times with
    the current weights (the episodes carry ``learner.policy_version``), then takes one
    learner step on those groups; episodes broken from outside are recorded but left out
    (see ``GRPOConfig.broken_reward``). ``runner`` runs the episodes (a
    :class:`~webresearch.distributed.RayRunner`; by default a
    :class:`~webresearch.rollout.LocalRunner` of ``make_env`` and ``policy`` on
    ``store``); it must record into ``store``. When the policy holds the learner's model
    (``HFPolicy`` built on ``learner.model``) it samples from the new weights at once;
    otherwise ``sync_weights(learner)`` (plain or async) must push them (a vLLM weight
    reload, ``runner.load_weights``).
    """
    if not isinstance(config, TrainConfig):  # an AsyncConfig's staleness would be ignored
        raise ConfigError(f"Expects config to be a TrainConfig (train_async takes an "
                          f"AsyncConfig), actual: {type(config).__name__}")
    probe = make_env()
    try:
        run = with_config(run or RunRecord(policy=policy.name, notes="GRPO training"), probe,
                          _rollout_config(config))
    finally:
        await probe.aclose()
    runner = runner or LocalRunner(make_env, policy, store=store)
    cycle = itertools.cycle(tasks)
    logs: list[TrainLog] = []
    for _ in range(config.steps):
        batch = [next(cycle) for _ in range(config.groups_per_step)]
        report = await runner.run(batch, _rollout_config(config), run=run,
                                  policy_version=learner.policy_version)
        size = config.group_size
        groups = [report.results[i:i + size] for i in range(0, len(report.results), size)]
        metrics = learner.step(groups)
        if sync_weights is not None:
            pushed = sync_weights(learner)
            if inspect.isawaitable(pushed):
                await pushed
        log = _log(metrics, report.results)
        logs.append(log)
        logger.info("step %d: reward %.3f, loss %.4f, %d broken", metrics.step, metrics.reward,
                    metrics.loss, log.broken)
        if on_step is not None:
            on_step(log)
    return logs


def _rollout_config(config: TrainConfig) -> RolloutConfig:
    return RolloutConfig(group_size=config.group_size,
                         concurrency=config.groups_per_step * config.group_size,
                         episode_timeout_s=config.episode_timeout_s, sampling=config.sampling,
                         progress=False, keep_results=True)


def _log(metrics: StepMetrics, episodes: Sequence[EpisodeRecord]) -> TrainLog:
    scored = [e for e in episodes if e.scored]
    n = max(1, len(episodes))
    lengths = [sum(e.loss_mask or ()) for e in episodes]
    return TrainLog(metrics=metrics,
                    mean_f1=sum(e.f1 or 0.0 for e in scored) / len(scored) if scored else None,
                    mean_tool_calls=sum(e.tool_calls for e in episodes) / n,
                    mean_response_tokens=sum(lengths) / n, broken=len(episodes) - len(scored))
