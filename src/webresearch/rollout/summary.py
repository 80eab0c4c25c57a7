"""Summaries of a rollout, kept as running totals: headline means, statuses, failed tool calls."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from webresearch.replay.schema import EpisodeRecord

__all__ = ["RolloutStats", "RolloutSummary", "format_rate", "format_summary", "summarize"]

logger = logging.getLogger(__name__)

_MOSTLY_FAILED = 0.5
"""Past this share of failed web calls, the summary warns: the backend is likely misset."""


@dataclass(frozen=True, slots=True)
class RolloutSummary:
    """The headline figures of a rollout (or of one dataset in it).

    Means are over the ``scored`` episodes only: an episode broken from outside (a
    timeout, a policy or env error) has no reward and is counted in ``broken``.
    """

    episodes: int
    scored: int
    broken: int
    mean_reward: float | None
    mean_f1: float | None
    mean_em: float | None
    mean_tool_calls: float
    seconds: float
    steps: int
    web_calls: int
    cache_hits: int
    status: dict[str, int]
    failed_calls: dict[str, int]
    leaks_measured: int = 0
    """Episodes whose leaks were measured (records from before leak measurement are not)."""
    answer_leaks: int = 0
    """Of those, episodes shown a gold answer (in a search result or page text)."""
    question_leaks: int = 0
    """Of those, episodes shown the question's own text (a copy of the benchmark)."""
    cost_usd: float = 0.0
    """US dollars the priced episodes' web calls cost."""
    paid_calls: int = 0
    """Web calls of the priced episodes that were not cache hits."""
    priced: int = 0
    """Episodes with a price (a rollout prices every one)."""

    @property
    def answer_leak_rate(self) -> float | None:
        return self.answer_leaks / self.leaks_measured if self.leaks_measured else None

    @property
    def question_leak_rate(self) -> float | None:
        return self.question_leaks / self.leaks_measured if self.leaks_measured else None

    @property
    def usd_per_episode(self) -> float | None:
        return self.cost_usd / self.priced if self.priced else None

    @property
    def usd_per_step(self) -> float | None:
        return self.cost_usd / self.steps if self.priced and self.steps else None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.seconds if self.seconds > 0 else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.web_calls if self.web_calls else 0.0

    @property
    def failed_share(self) -> float:
        """The share of web calls that failed."""
        return sum(self.failed_calls.values()) / self.web_calls if self.web_calls else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "scored": self.scored, "errors": self.broken,
                "mean_reward": self.mean_reward, "mean_f1": self.mean_f1,
                "mean_em": self.mean_em, "mean_tool_calls": self.mean_tool_calls,
                "seconds": self.seconds, "steps": self.steps, "steps_per_s": self.steps_per_s,
                "episodes_per_s": self.episodes_per_s, "web_calls": self.web_calls,
                "cache_hits": self.cache_hits, "cache_misses": self.web_calls - self.cache_hits,
                "cache_hit_rate": self.cache_hit_rate, "status": dict(self.status),
                "failed_calls": dict(self.failed_calls), "failed_share": self.failed_share,
                "leaks_measured": self.leaks_measured, "answer_leaks": self.answer_leaks,
                "question_leaks": self.question_leaks,
                "answer_leak_rate": self.answer_leak_rate,
                "question_leak_rate": self.question_leak_rate, "cost_usd": self.cost_usd,
                "paid_calls": self.paid_calls, "priced": self.priced,
                "usd_per_episode": self.usd_per_episode, "usd_per_step": self.usd_per_step}


@dataclass(slots=True)
class _Totals:
    episodes: int = 0
    scored: int = 0
    reward: float = 0.0
    f1: float = 0.0
    em: float = 0.0
    tool_calls: int = 0
    steps: int = 0
    web_calls: int = 0
    cache_hits: int = 0
    status: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    leaks: Counter[str] = field(default_factory=Counter)
    costs: list[float] = field(default_factory=list)
    """Partial sums of the episodes' dollars (``math.fsum``'s, exact in any order)."""
    paid_calls: int = 0
    priced: int = 0

    def add(self, episode: EpisodeRecord) -> None:
        self.episodes += 1
        self.status[str(episode.status)] += 1
        self.steps += len(episode.steps)
        self.tool_calls += episode.tool_calls
        for step in episode.steps:
            for call in step.web:
                self.web_calls += 1
                self.cache_hits += call.from_cache
                failure = call.failure
                if failure is not None:
                    self.failed[str(failure)] += 1
        self._measure(episode)
        if episode.scored:
            self.scored += 1
            self.reward += episode.reward or 0.0
            self.f1 += episode.f1 or 0.0
            self.em += episode.em or 0.0

    def _measure(self, episode: EpisodeRecord) -> None:
        """Count the episode's leaks (by kind, once an episode) and its cost."""
        if episode.leaks is not None:
            self.leaks["measured"] += 1
            self.leaks.update({str(kind) for kind in {leak.kind for leak in episode.leaks}})
        if episode.cost is not None:
            self.priced += 1
            self.paid_calls += episode.cost.calls - episode.cost.cached
            _add_exact(self.costs, episode.cost.usd)

    def summary(self, seconds: float) -> RolloutSummary:
        def mean(total: float) -> float | None:
            return total / self.scored if self.scored else None

        return RolloutSummary(
            episodes=self.episodes, scored=self.scored, broken=self.episodes - self.scored,
            mean_reward=mean(self.reward), mean_f1=mean(self.f1), mean_em=mean(self.em),
            mean_tool_calls=self.tool_calls / self.episodes if self.episodes else 0.0,
            seconds=seconds, steps=self.steps, web_calls=self.web_calls,
            cache_hits=self.cache_hits, status=dict(self.status),
            failed_calls={str(k): v for k, v in sorted(self.failed.items())},
            leaks_measured=self.leaks["measured"], answer_leaks=self.leaks["answer"],
            question_leaks=self.leaks["question"], cost_usd=math.fsum(self.costs),
            paid_calls=self.paid_calls, priced=self.priced)


def _add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to a running sum kept as non-overlapping partials (Shewchuk's, as
    ``math.fsum``): exact, and a handful of floats however many are added."""
    i = 0
    for partial in partials:
        x, y = (partial, x) if abs(x) < abs(partial) else (x, partial)
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


class RolloutStats:
    """Running totals of finished episodes, overall and per dataset: memory that does not
    grow with the number of episodes.

    Example:
        >>> from webresearch.tasks import Task
        >>> stats = RolloutStats()
        >>> stats.add(EpisodeRecord("run", Task(id="t", question="Q?", answers=("a",)), 0,
        ...                         "answered", 1.0, 1.0, 1.0))
        >>> stats.summary(seconds=0.5).mean_f1
        1.0
    """

    def __init__(self, episodes: Iterable[EpisodeRecord] = ()) -> None:
        self.total = _Totals()
        self.by_dataset: dict[str, _Totals] = {}
        for episode in episodes:
            self.add(episode)

    def add(self, episode: EpisodeRecord) -> None:
        self.total.add(episode)
        self.by_dataset.setdefault(episode.task.dataset or "-", _Totals()).add(episode)

    def summary(self, seconds: float) -> RolloutSummary:
        return self.total.summary(seconds)

    def table(self, seconds: float) -> str:
        """A text table: one row per dataset and a total, then statuses, speed and failures."""
        rows = [(name, t.summary(seconds)) for name, t in sorted(self.by_dataset.items())]
        total = self.summary(seconds)
        if len(rows) > 1:
            rows.append(("all", total))
        lines = ["reward, F1 and EM on a 0-1 scale (a format penalty makes a reward -1), "
                 "means over the scored episodes",
                 f"{'dataset':<12}{'episodes':>9}{'reward':>9}{'F1':>8}{'EM':>8}{'tools':>8}"]
        for name, s in rows:
            lines.append(f"{name:<12}{s.episodes:>9}{_num(s.mean_reward, 9)}{_num(s.mean_f1, 8)}"
                         f"{_num(s.mean_em, 8)}{s.mean_tool_calls:>8.2f}")
        lines.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(total.status.items())))
        lines.append(f"{total.steps} steps in {seconds:.2f} s: {format_rate(total.steps_per_s)} "
                     f"steps/s, {format_rate(total.episodes_per_s)} episodes/s; cache hit rate "
                     f"{total.cache_hit_rate:.1%} ({total.cache_hits} of {total.web_calls})")
        lines.extend(_leak_and_cost_lines(total))
        if total.failed_calls:
            kinds = ", ".join(f"{k} {v}" for k, v in total.failed_calls.items())
            lines.append(f"failed web calls: {sum(total.failed_calls.values())} of "
                         f"{total.web_calls} ({kinds})")
        if total.failed_share > _MOSTLY_FAILED:
            warning = (f"warning: {total.failed_share:.0%} of web calls failed; check the web "
                       "backend (its URL policy refuses private and loopback hosts unless "
                       "allowed), its keys and its endpoint")
            logger.warning(warning)
            lines.append(warning)
        return "\n".join(lines)


def _leak_and_cost_lines(total: RolloutSummary) -> list[str]:
    """The leak rates and the bill, when measured."""
    lines = []
    if total.leaks_measured:
        lines.append(f"leaks: a gold answer shown in {total.answer_leaks} of "
                     f"{total.leaks_measured} episodes ({total.answer_leak_rate:.1%}), the "
                     f"question's text in {total.question_leaks} "
                     f"({total.question_leak_rate:.1%})")
    if total.priced:
        lines.append(f"cost: ${total.cost_usd:.4f} for {total.paid_calls} uncached web calls "
                     f"(${total.usd_per_episode:.5f} per episode, "
                     f"${total.usd_per_step or 0.0:.5f} per step)")
    return lines


def format_rate(value: float) -> str:
    """A rate with about three significant digits, never a real rate rounded to zero.

    Example:
        >>> [format_rate(v) for v in (4985.4, 73.26, 1.234, 0.0123, 0.0)]
        ['4985', '73.3', '1.23', '0.0123', '0']
    """
    if value == 0 or value >= 100:
        return f"{value:.0f}"
    digits = max(0, 2 - math.floor(math.log10(value)))  # 3 significant digits below 100
    return f"{value:.{digits}f}"


def _num(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def summarize(results: list[EpisodeRecord], seconds: float) -> RolloutSummary:
    """The summary of ``results``.

    Example:
        >>> from webresearch.tasks import Task
        >>> task = Task(id="t", question="Q?", answers=("a",))
        >>> s = summarize([EpisodeRecord("run", task, 0, "answered", 1.0, 1.0, 1.0)], 0.5)
        >>> s.episodes, s.mean_f1, s.steps
        (1, 1.0, 0)
    """
    return RolloutStats(results).summary(seconds)


def format_summary(results: list[EpisodeRecord], seconds: float) -> str:
    """A text table of ``results``: one row per dataset and a total, then statuses and speed."""
    return RolloutStats(results).table(seconds)
