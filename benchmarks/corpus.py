"""Corpus backend at scale: index build time, peak memory, load time and query latency.

For each size, writes a synthetic corpus of passages (Zipf-distributed words, ~100
words each, FlashRAG layout), then in a fresh subprocess builds the BM25 index
(``CorpusIndex.open`` on a new corpus), and in another loads the saved index and
times queries (3-6 words drawn from the passages). Peak memory is each subprocess's
maximum resident set. Usage:
``python benchmarks/corpus.py [--sizes 10000,100000,1000000]``; the last line is one
JSON object keyed by size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VOCAB = 50_000
WORDS_PER_PASSAGE = 100


def words() -> list[str]:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(n))) for n in rng.integers(3, 10, VOCAB)]


def write_corpus(path: Path, n: int) -> None:
    vocab = np.array(words())
    rng = np.random.default_rng(1)
    with path.open("w") as f:
        for start in range(0, n, 10_000):
            count = min(10_000, n - start)
            ids = rng.zipf(1.2, size=(count, WORDS_PER_PASSAGE)) % VOCAB  # (count, words)
            for row, passage in enumerate(vocab[ids]):
                title = " ".join(passage[:2]).title()
                text = " ".join(passage[2:])
                f.write(json.dumps({"id": str(start + row), "contents": f'"{title}"\n{text}'})
                        + "\n")


def child(mode: str, corpus: str, queries: int) -> None:
    """Runs in a subprocess: ``build`` or ``query``; prints one JSON line."""
    from webresearch.corpus import CorpusIndex

    start = time.perf_counter()
    index = CorpusIndex.open(corpus)
    opened = time.perf_counter() - start
    out: dict[str, float] = {"seconds": opened}
    if mode == "query":
        rng = np.random.default_rng(2)
        docs = [index.docs.doc(int(r)) for r in rng.integers(0, len(index), queries)]
        texts = [" ".join(rng.choice(d.text.split(), size=int(rng.integers(3, 7))))
                 for d in docs]
        index.search(texts[0], k=10)  # compiles numba's scorer
        times = []
        for text in texts:
            t0 = time.perf_counter()
            index.search(text, k=10)
            times.append(time.perf_counter() - t0)
        out["query_ms_mean"] = 1000 * float(np.mean(times))
        out["query_ms_p95"] = 1000 * float(np.percentile(times, 95))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(n: int, folder: Path, queries: int) -> dict[str, float]:
    corpus = folder / f"synthetic-{n}.jsonl"
    t0 = time.perf_counter()
    write_corpus(corpus, n)
    print(f"{n:,} passages written in {time.perf_counter() - t0:.1f} s "
          f"({corpus.stat().st_size / 1e6:.0f} MB)", flush=True)
    results = {}
    for mode in ("build", "query"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, str(corpus),
                              "--queries", str(queries)],
                             capture_output=True, text=True, check=True, timeout=3600)
        results[mode] = json.loads(out.stdout.splitlines()[-1])
    figures = {"build_s": results["build"]["seconds"],
               "build_peak_rss_mb": results["build"]["peak_rss_mb"],
               "load_s": results["query"]["seconds"],
               "query_ms_mean": results["query"]["query_ms_mean"],
               "query_ms_p95": results["query"]["query_ms_p95"],
               "serve_peak_rss_mb": results["query"]["peak_rss_mb"]}
    print(f"{n:,}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "CORPUS"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.queries)
        return
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            report[str(size)] = measure(size, Path(tmp), args.queries)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
