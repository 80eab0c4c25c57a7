"""Answer recall@k of a corpus backend on a question set, per dataset.

For every question, searches the question itself (k results) and counts it a hit when
a gold answer, normalised as DeepResearcher's F1 normalises answers, appears as whole
words in a result: in its title plus the full passage (``recall``), and in the title
plus the snippet the agent sees (``snippet_recall``). Usage:
``python benchmarks/corpus_recall.py [--web corpus:vital-articles]
[--tasks ../shared/datasets/deepresearcher_dev.jsonl]``; the last line is one JSON
object keyed by dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

from webresearch.envs.backends import make_web
from webresearch.envs.rewards import normalize_answer
from webresearch.tasks import load_tasks

DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deepresearcher_dev.jsonl"


def contains(haystack: str, golds: tuple[str, ...]) -> bool:
    padded = f" {normalize_answer(haystack)} "
    return any(f" {g} " in padded for g in (normalize_answer(a) for a in golds) if g)


async def measure(web_spec: str, tasks_path: str, k: int) -> dict[str, dict[str, float]]:
    web = make_web(web_spec)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for task in load_tasks(tasks_path):
        results = await web.search(task.question, k=k)
        full, snip = False, False
        for hit in results.hits:
            page = await web.fetch(hit.url)
            full = full or contains(f"{hit.title} {page.text}", task.answers)
            snip = snip or contains(f"{hit.title} {hit.snippet}", task.answers)
        hits[task.dataset or "all"].append((full, snip))
    report = {name: {"questions": len(rows),
                     "recall": sum(f for f, _ in rows) / len(rows),
                     "snippet_recall": sum(s for _, s in rows) / len(rows)}
              for name, rows in sorted(hits.items())}
    await web.aclose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web", default="corpus:vital-articles")
    parser.add_argument("--tasks", default=str(DEV))
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    start = time.perf_counter()
    report = asyncio.run(measure(args.web, args.tasks, args.k))
    print(f"{'dataset':<12}{'questions':>10}{'recall@' + str(args.k):>12}{'snippet':>10}")
    for name, row in report.items():
        print(f"{name:<12}{row['questions']:>10}{row['recall']:>12.3f}"
              f"{row['snippet_recall']:>10.3f}")
    print(f"{time.perf_counter() - start:.1f} s")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
