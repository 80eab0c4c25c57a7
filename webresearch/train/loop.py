"""On-policy GRPO: roll out groups, learn from them, and sample from the new weights, repeat."""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.base import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, RolloutReport, rollout
from webresearch.tasks import Task
from webresearch.train.learner import GRPOLearner, StepMetrics

__all__ = ["RolloutFn", "TrainLog", "train"]

RolloutFn = Callable[[Sequence[Task], RolloutConfig, RunRecord, int], Awaitable[RolloutReport]]
"""Rolls out ``(tasks, config, run, policy_version)`` and records the episodes."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainLog:
    """One training step: the learner's metrics and what the rollout looked like."""

    metrics: StepMetrics
    mean_f1: float
    mean_tool_calls: float
    mean_response_tokens: float


async def train(
    *,
    policy: Policy,
    learner: GRPOLearner,
    make_env: Callable[[], WebResearchEnv],
    tasks: Sequence[Task],
    store: ReplayStore,
    steps: int,
    groups_per_step: int,
    group_size: int,
    sampling: SamplingParams,
    run: RunRecord | None = None,
    sync_weights: Callable[[GRPOLearner], Awaitable[None] | None] | None = None,
    on_step: Callable[[TrainLog], None] | None = None,
    rollout_fn: RolloutFn | None = None,
) -> list[TrainLog]:
    """Train ``learner.model`` with GRPO on ``tasks``; every episode is recorded in ``store``.

    Each step rolls out ``groups_per_step`` tasks ``group_size`` times with the current
    weights (the episodes carry ``learner.policy_version``), then takes one learner step
    on those groups. When the policy holds the learner's model (``HFPolicy`` built on
    ``learner.model``) it samples from the new weights at once; otherwise
    ``sync_weights(learner)`` (plain or async) must push them (a vLLM weight reload, a
    Ray runner's ``load_weights``). ``rollout_fn(tasks, config, run, policy_version)``
    replaces the in-process rollout (say, a :class:`~webresearch.distributed.RayRunner`'s
    ``run``); it must record into ``store``.
    """
    run = run or RunRecord(policy=policy.name, notes="GRPO training")

    async def local(batch: Sequence[Task], config: RolloutConfig, run: RunRecord,
                    version: int) -> RolloutReport:
        return await rollout(make_env, policy, batch, config, store=store, run=run,
                             policy_version=version)

    roll = rollout_fn or local
    cycle = itertools.cycle(tasks)
    logs: list[TrainLog] = []
    for _ in range(steps):
        batch = [next(cycle) for _ in range(groups_per_step)]
        config = RolloutConfig(group_size=group_size, concurrency=groups_per_step * group_size,
                               sampling=sampling, progress=False)
        report = await roll(batch, config, run, learner.policy_version)
        groups = [report.results[i:i + group_size]
                  for i in range(0, len(report.results), group_size)]
        metrics = learner.step(groups)
        if sync_weights is not None:
            pushed = sync_weights(learner)
            if inspect.isawaitable(pushed):
                await pushed
        log = _log(metrics, report.results)
        logs.append(log)
        logger.info("step %d: reward %.3f, loss %.4f", metrics.step, metrics.reward, metrics.loss)
        if on_step is not None:
            on_step(log)
    return logs


def _log(metrics: StepMetrics, episodes: Sequence[EpisodeRecord]) -> TrainLog:
    n = max(1, len(episodes))
    lengths = [sum(e.loss_mask or ()) for e in episodes]
    return TrainLog(metrics=metrics, mean_f1=sum(e.f1 for e in episodes) / n,
                    mean_tool_calls=sum(e.tool_calls for e in episodes) / n,
                    mean_response_tokens=sum(lengths) / n)
