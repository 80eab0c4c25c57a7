"""A new process's first corpus query: numba compiling it (cold) versus loading it (warm).

Writes a synthetic corpus (``--passages``, 10,000 by default, the layout of
``benchmarks/corpus.py``) and builds its BM25 index once. Then, ``--runs`` times, two
fresh processes each open the index and time the first and second query:

- ``cold``: an empty numba cache folder, so the process compiles the scorer (what
  every process did before the disk cache; the baseline);
- ``warm``: the folder the cold process filled, so the process loads the scorer.

``CorpusIndex.open`` now warms the scorer, so the compile (or load) falls in
``open_s``; ``first_s`` is the first query after it. ``ready_s`` = ``open_s`` +
``first_s``, the wait before a rollout's first search returns. Usage:
``python benchmarks/corpus_first_query.py [--passages 10000] [--runs 3]``; the last
line is one JSON object (``cold``/``warm`` lists and their ranges).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_corpus  # the sibling benchmark's corpus writer


def child(corpus: str) -> None:
    """Runs in a subprocess: open, two queries; prints one JSON line."""
    from webresearch.corpus import CorpusIndex
    from webresearch.corpus.jit_cache import jit_cache_stats

    start = time.perf_counter()
    index = CorpusIndex.open(corpus)
    opened = time.perf_counter()
    index.search("river port cathedral", k=10)
    first = time.perf_counter()
    index.search("engineer born town", k=10)
    second = time.perf_counter()
    stats = jit_cache_stats()
    print(json.dumps({"open_s": opened - start, "first_s": first - opened,
                      "second_s": second - first, "ready_s": first - start,
                      "compiled": stats.misses, "loaded": stats.hits}))


def run_child(corpus: Path, numba_cache: Path) -> dict[str, Any]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache))
    out = subprocess.run([sys.executable, __file__, "--child", str(corpus)], env=env,
                         capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000, help="corpus size")
    parser.add_argument("--runs", type=int, default=3, help="cold/warm pairs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_corpus(corpus, args.passages)
        run_child(corpus, Path(tmp) / "numba-build")  # builds the index (not timed)
        results: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
        for run in range(args.runs):
            cache = Path(tmp) / f"numba-{run}"
            for kind in ("cold", "warm"):
                results[kind].append(run_child(corpus, cache))
                print(kind, results[kind][-1], flush=True)
    summary: dict[str, Any] = {"passages": args.passages, "runs": args.runs, **results}
    for kind in ("cold", "warm"):
        ready = [r["ready_s"] for r in results[kind]]
        summary[f"{kind}_ready_s"] = [round(min(ready), 3), round(max(ready), 3)]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
