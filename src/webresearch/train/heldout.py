"""Held-out evaluation: F1 and EM per hop count on a world the model never saw, and a paired
bootstrap interval of an improvement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.policy import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout import RolloutConfig, rollout
from webresearch.status import EpisodeStatus
from webresearch.tasks import Task

__all__ = ["HeldoutResult", "Improvement", "evaluate", "paired_bootstrap"]


@dataclass(frozen=True, slots=True)
class HeldoutResult:
    """Per-task scores of one policy on a task set, in the task set's order."""

    task_ids: tuple[str, ...]
    hops: tuple[int, ...]
    f1: tuple[float, ...]
    em: tuple[float, ...]
    reward: tuple[float, ...]
    tool_calls: tuple[int, ...]

    @classmethod
    def of(cls, episodes: Sequence[EpisodeRecord]) -> HeldoutResult:
        """Collect ``episodes`` (one per task); a broken one (timeout, error) raises.

        Example:
            >>> from webresearch.replay.schema import EpisodeRecord
            >>> task = Task(id="t", question="Q?", answers=("A",), hops=1)
            >>> r = HeldoutResult.of([EpisodeRecord("", task, 0, "answered", 1.0, 1.0, 1.0)])
            >>> r.mean_f1, r.by_hops()
            (1.0, {1: (1, 1.0, 1.0)})
        """
        broken = [e for e in episodes if not EpisodeStatus.parse(e.status).scored]
        if broken:
            raise WebResearchError(f"Expects every held-out episode scored, actual: "
                                   f"{len(broken)} broken, first: {broken[0].error}")
        return cls(tuple(e.task.id for e in episodes), tuple(e.task.hops for e in episodes),
                   tuple(e.f1 or 0.0 for e in episodes), tuple(e.em or 0.0 for e in episodes),
                   tuple(e.reward or 0.0 for e in episodes),
                   tuple(e.tool_calls for e in episodes))

    @property
    def mean_f1(self) -> float:
        return sum(self.f1) / max(1, len(self.f1))

    @property
    def mean_em(self) -> float:
        return sum(self.em) / max(1, len(self.em))

    @property
    def mean_reward(self) -> float:
        return sum(self.reward) / max(1, len(self.reward))

    def by_hops(self) -> dict[int, tuple[int, float, float]]:
        """Hop count to ``(tasks, mean F1, mean EM)``."""
        out = {}
        for hops in sorted(set(self.hops)):
            rows = [i for i, h in enumerate(self.hops) if h == hops]
            out[hops] = (len(rows), sum(self.f1[i] for i in rows) / len(rows),
                         sum(self.em[i] for i in rows) / len(rows))
        return out


async def evaluate(policy: Policy, make_env: Callable[[], WebResearchEnv], tasks: Sequence[Task],
                   *, sampling: SamplingParams, concurrency: int = 64,
                   timeout_s: float = 900.0) -> HeldoutResult:
    """Play every task once with ``policy`` (nothing recorded) and score it."""
    config = RolloutConfig(concurrency=concurrency, sampling=sampling, progress=False,
                           episode_timeout_s=timeout_s, keep_results=True)
    report = await rollout(make_env, policy, tasks, config)
    return HeldoutResult.of(report.results)


@dataclass(frozen=True, slots=True)
class Improvement:
    """The mean per-task difference ``after - before`` and its bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int


def paired_bootstrap(before: Sequence[float], after: Sequence[float], *, resamples: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> Improvement:
    """The percentile bootstrap interval of the mean paired difference ``after - before``.

    Tasks are resampled with replacement, each keeping its pair of scores, so the
    interval reflects which tasks happen to be in the set, not sampling noise twice.

    Example:
        >>> ci = paired_bootstrap([0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0], resamples=2000)
        >>> ci.mean, ci.low, ci.high
        (0.5, 0.0, 1.0)
    """
    if len(before) != len(after) or not before:
        raise ConfigError(f"Expects two equally long, non-empty score lists, actual: "
                          f"{len(before)} and {len(after)}")
    if not 0 < level < 1:
        raise ConfigError(f"Expects 0 < level < 1, actual: {level}")
    diffs = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)  # (n,)
    rows = np.random.default_rng(seed).integers(0, len(diffs), (resamples, len(diffs)))
    means = diffs[rows].mean(axis=1)  # (resamples,)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Improvement(float(diffs.mean()), float(low), float(high), len(diffs))
