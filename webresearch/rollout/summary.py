"""Summaries of a rollout: the headline means, and a table per dataset."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from webresearch.replay.schema import EpisodeRecord

__all__ = ["format_summary", "summarize"]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize(results: Sequence[EpisodeRecord], seconds: float) -> dict[str, Any]:
    """The means and counts of a rollout, as one JSON-ready dict.

    Example:
        >>> from webresearch.tasks import Task
        >>> task = Task(id="t", question="Q?", answers=("a",))
        >>> r = EpisodeRecord("run", task, 0, "answered", 1.0, 1.0, 1.0)
        >>> s = summarize([r], seconds=0.5)
        >>> s["episodes"], s["mean_f1"], s["steps"]
        (1, 1.0, 0)
    """
    steps = sum(len(r.steps) for r in results)
    hits, misses = sum(r.cache_hits for r in results), sum(r.cache_misses for r in results)
    return {
        "episodes": len(results),
        "mean_reward": _mean([r.reward for r in results]),
        "mean_f1": _mean([r.f1 for r in results]),
        "mean_em": _mean([r.em for r in results]),
        "mean_tool_calls": _mean([r.tool_calls for r in results]),
        "seconds": seconds,
        "steps": steps,
        "steps_per_s": steps / seconds if seconds > 0 else 0.0,
        "episodes_per_s": len(results) / seconds if seconds > 0 else 0.0,
        "cache_hits": hits,
        "cache_misses": misses,
        "cache_hit_rate": hits / (hits + misses) if hits + misses else 0.0,
        "errors": sum(r.status in ("error", "timeout") for r in results),
        "status": dict(Counter(r.status for r in results)),
    }


def format_summary(results: Sequence[EpisodeRecord], seconds: float) -> str:
    """A text table: one row per dataset and a total, then statuses and speed."""
    by_dataset: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in results:
        by_dataset[r.task.dataset or "-"].append(r)
    rows = [(name, summarize(rs, seconds)) for name, rs in sorted(by_dataset.items())]
    total = summarize(results, seconds)
    if len(rows) > 1:
        rows.append(("all", total))
    lines = [f"{'dataset':<12}{'episodes':>9}{'reward':>9}{'F1':>8}{'EM':>8}{'tools':>8}"]
    for name, s in rows:
        lines.append(f"{name:<12}{s['episodes']:>9}{s['mean_reward']:>9.3f}{s['mean_f1']:>8.3f}"
                     f"{s['mean_em']:>8.3f}{s['mean_tool_calls']:>8.2f}")
    status = ", ".join(f"{k} {v}" for k, v in sorted(total["status"].items()))
    lines.append(f"status: {status}")
    lines.append(f"{total['steps']} steps in {seconds:.2f} s: {total['steps_per_s']:.0f} steps/s, "
                 f"{total['episodes_per_s']:.1f} episodes/s; cache hit rate "
                 f"{total['cache_hit_rate']:.1%} ({total['cache_hits']} of "
                 f"{total['cache_hits'] + total['cache_misses']})")
    return "\n".join(lines)
