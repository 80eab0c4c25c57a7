"""Per-dataset scores and the paper's tables: in-domain and out-of-domain, as Markdown and JSON."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import fsum
from typing import Any

from webresearch.replay.schema import EpisodeRecord
from webresearch.status import EpisodeStatus

__all__ = ["DOMAINS", "LEAK_METRICS", "Scored", "domain_tables", "leaks_seen", "score",
           "to_markdown"]

DOMAINS: dict[str, tuple[str, ...]] = {
    "in-domain": ("nq", "tq", "hotpotqa", "2wiki"),
    "out-of-domain": ("musique", "bamboogle", "popqa"),
}
"""DeepResearcher's Table 1 (in-domain) and Table 2 (out-of-domain) datasets."""
_NAMES = {"nq": "NQ", "tq": "TQ", "triviaqa": "TQ", "hotpotqa": "HotpotQA", "2wiki": "2Wiki",
          "musique": "Musique", "bamboogle": "Bamboogle", "popqa": "PopQA"}
_ALIASES = {"triviaqa": "tq", "2wikimultihopqa": "2wiki", "natural_questions": "nq"}


@dataclass(frozen=True, slots=True)
class Scored:
    """One episode's evaluation: F1 and EM of the final answer, and the judge's verdict."""

    episode_id: str
    dataset: str
    f1: float
    em: float
    mbe: float | None
    """1.0 correct, 0.0 incorrect, ``None`` when no judge was asked."""
    answer_seen: bool | None = None
    """Whether an observation showed a gold answer (``None``: not measured)."""
    question_seen: bool | None = None
    """Whether an observation showed the question's own text (``None``: not measured)."""


LEAK_METRICS = ("answer seen", "question seen")
"""The leak rows of a table (percent of its episodes), when the episodes measured them."""


def leaks_seen(episode: EpisodeRecord) -> tuple[bool | None, bool | None]:
    """Whether the episode's observations showed a gold answer, and the question's text
    (``None`` for both when its record did not measure leaks)."""
    if episode.leaks is None:
        return None, None
    kinds = {str(leak.kind) for leak in episode.leaks}
    return "answer" in kinds, "question" in kinds


def score(episode: EpisodeRecord) -> tuple[float, float]:
    """F1 and EM of the final answer, as DeepResearcher's evaluation scores them.

    Only the final answer is scored, and an episode without one (format failure, tool
    budget used up, timeout) scores 0, not the training reward's -1. The F1 and EM are
    the ones the env computed when the episode ended; nothing is scored again here.
    """
    if episode.status is not EpisodeStatus.ANSWERED or episode.answer is None:
        return 0.0, 0.0
    return episode.f1 or 0.0, episode.em or 0.0


def _dataset(name: str) -> str:
    key = name.lower()
    return _ALIASES.get(key, key)


def domain_tables(scored: Iterable[Scored]) -> dict[str, dict[str, Any]]:
    """Tables by domain: per dataset ``{"F1", "EM", "MBE", "n"}``, and the average row.

    Datasets outside both domains go to an ``other`` table. A table's average is the
    mean over its datasets (as the paper reports it), not over episodes.
    """
    by_dataset: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by_dataset[_dataset(s.dataset) or "-"].append(s)
    known = {d for names in DOMAINS.values() for d in names}
    domains = {**DOMAINS, "other": tuple(sorted(set(by_dataset) - known))}
    tables: dict[str, dict[str, Any]] = {}
    for domain, names in domains.items():
        rows = {_NAMES.get(d, d): _row(by_dataset[d]) for d in names if by_dataset.get(d)}
        if rows:
            tables[domain] = {**rows, "Avg": _average(list(rows.values()))}
    return tables


def _row(items: Sequence[Scored]) -> dict[str, Any]:
    """Sums are exact (``fsum``), so a table does not depend on the episodes' order: scored
    again from the store, in commit order, it is the same to the last bit."""
    judged = [s.mbe for s in items if s.mbe is not None]
    row = {"F1": 100 * fsum(s.f1 for s in items) / len(items),
           "EM": 100 * fsum(s.em for s in items) / len(items),
           "MBE": 100 * fsum(judged) / len(judged) if judged else None, "n": len(items)}
    measured = [s for s in items if s.answer_seen is not None]
    if measured:
        row["answer seen"] = 100 * sum(bool(s.answer_seen) for s in measured) / len(measured)
        row["question seen"] = 100 * sum(bool(s.question_seen) for s in measured) / len(measured)
    return row


def _average(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    mbe = [r["MBE"] for r in rows if r["MBE"] is not None]
    average = {"F1": fsum(r["F1"] for r in rows) / len(rows), "EM": fsum(r["EM"] for r in rows)
               / len(rows), "MBE": fsum(mbe) / len(mbe) if len(mbe) == len(rows) else None,
               "n": sum(r["n"] for r in rows)}
    if all(LEAK_METRICS[0] in r for r in rows):
        average.update({m: fsum(r[m] for r in rows) / len(rows) for m in LEAK_METRICS})
    return average


def to_markdown(tables: dict[str, dict[str, Any]]) -> str:
    """One Markdown table per domain: datasets as columns, F1 / EM / MBE as rows (and, when
    measured, the percent of episodes shown a gold answer and the question's text).

    Example:
        >>> rows = [Scored("e", "nq", 0.5, 0.0, 1.0), Scored("f", "popqa", 1.0, 1.0, None)]
        >>> print(to_markdown(domain_tables(rows)).splitlines()[4])
        | F1 | 50.0 | 50.0 |
    """
    blocks = []
    for domain, rows in tables.items():
        names = list(rows)
        lines = [f"### {domain}", "", "| metric | " + " | ".join(names) + " |",
                 "|---|" + "---|" * len(names)]
        for metric in ("F1", "EM", "MBE"):
            cells = ["-" if rows[n][metric] is None else f"{rows[n][metric]:.1f}" for n in names]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines.append("| n | " + " | ".join(str(rows[n]["n"]) for n in names) + " |")
        for metric in LEAK_METRICS:
            if any(metric in rows[n] for n in names):
                cells = [f"{rows[n][metric]:.1f}" if metric in rows[n] else "-" for n in names]
                lines.append(f"| {metric} % | " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
