"""BM25 at wiki-18 scale: the streaming index against bm25s on a synthetic wiki-18 corpus.

Writes (or reuses) a synthetic corpus of N passages with wiki-18's shape
(:mod:`webresearch.corpus.synthetic`), then in fresh subprocesses: builds the
``bm25-stream`` index (``CorpusIndex.open``: document table plus retriever; peak RSS is
the build process's ``ru_maxrss``), loads it and times single queries (``index.search``
with k=10, documents read back), measures the serving process's anonymous RSS (its
memory-mapped index pages are page cache and reported apart), and ``qps_16``: 16 client
threads each sending one query per request to ``webresearch serve-corpus --workers 2``
(Search-R1's ``POST /retrieve``). On a shared machine wall times carry the other
processes' load: ``build_cpu_s`` and ``p50_cpu_ms``/``p95_cpu_ms`` (the query thread's
CPU time) are the engine's own cost. The reference is bm25s configured as pyserini
(k1=0.9, b=0.4, Porter stems, Lucene's stop words) and measured the same way, except
that its ``qps_16`` uses 16 threads in process (the server does not know the
benchmark's reference class); when N is over ``--ref-max``, both engines are also built
on the first ``--ref-max`` passages and parity is measured there. Queries are written as a
searcher would: 2-6 words, in order, from one passage's title and text, stop words kept.

``--engine-only`` indexes Zipf-ranked term ids directly (the generator's token law, stop
words dropped, no text, no document table, no reference) to measure the engine's build
memory, disk and query time at sizes whose text pipeline would take hours here.

Usage: ``python benchmarks/wiki_scale.py --passages 100000 [--folder /tmp/wiki] [--reuse]``
(``--reuse`` queries the indexes a previous run left, to time queries apart from a build); the
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ENGINE, REFERENCE = "bm25-stream", "bm25-pyserini"


def _register_reference() -> None:
    from webresearch.corpus.retrievers import RETRIEVERS, BM25Retriever

    class PyseriniBM25(BM25Retriever):
        name, k1, b, stemmer = REFERENCE, 0.9, 0.4, "porter"

    RETRIEVERS[REFERENCE] = PyseriniBM25


def _queries(index: object, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for row in rng.integers(0, len(index), count).tolist():  # type: ignore[arg-type]
        doc = index.docs.doc(row)  # type: ignore[attr-defined]
        title, words = doc.title.split(), doc.text.split()
        n = int(rng.integers(2, 7))
        from_title = min(len(title), int(rng.integers(0, 3)))
        start = int(rng.integers(0, max(len(words) - (n - from_title), 0) + 1))
        out.append(" ".join(title[:from_title] + words[start:start + n - from_title]).lower())
    return out


def _rss_mb() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def child_build(corpus: str, engine: str, index_dir: str) -> None:
    from webresearch.corpus import CorpusIndex

    _register_reference()
    start = time.perf_counter()
    CorpusIndex.open(corpus, retriever=engine, index_dir=index_dir).close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"build_s": time.perf_counter() - start,
                      "build_cpu_s": usage.ru_utime + usage.ru_stime,
                      "build_peak_rss_mb": usage.ru_maxrss / 1024}))


def child_query(corpus: str, engine: str, index_dir: str, count: int, out: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from webresearch.corpus import CorpusIndex

    _register_reference()
    t0 = time.perf_counter()
    index = CorpusIndex.open(corpus, retriever=engine, index_dir=index_dir)
    load_s = time.perf_counter() - t0
    queries = _queries(index, count, seed=7)
    times, cpu, tops = [], [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        hits = index.search(q, k=10)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        tops.append([h.doc.id for h in hits])
    rss = _rss_mb()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda q: index.search(q, k=10), queries))
    qps = len(queries) / (time.perf_counter() - t0)
    Path(out).write_text(json.dumps({"queries": queries, "tops": tops}))
    print(json.dumps({"load_s": load_s, "p50_ms": 1000 * float(np.percentile(times, 50)),
                      "p95_ms": 1000 * float(np.percentile(times, 95)),
                      "p50_cpu_ms": 1000 * float(np.percentile(cpu, 50)),
                      "p95_cpu_ms": 1000 * float(np.percentile(cpu, 95)),
                      "max_ms": 1000 * max(times),
                      "serve_rss_mb": rss["RssAnon"], "serve_rss_file_mb": rss["RssFile"],
                      "qps_16_threads": qps}))


def _run(*args: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise SystemExit(f"child {args[:2]} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def measure(corpus: Path, engine: str, index_dir: Path, queries: int, *, reuse: bool = False
            ) -> dict[str, object]:
    """Build (unless ``reuse`` and it exists) and query one index."""
    figures: dict[str, object] = {}
    if not (reuse and index_dir.exists()):
        shutil.rmtree(index_dir, ignore_errors=True)
        figures.update(_run("build", str(corpus), engine, str(index_dir)))
    figures["index_disk_mb"] = _disk_mb(index_dir)
    tops = index_dir.with_name(index_dir.name + ".tops.json")
    figures.update(_run("query", str(corpus), engine, str(index_dir), str(queries), str(tops)))
    return figures


def server_qps(corpus: Path, index_dir: Path, queries: list[str], workers: int) -> float:
    """Requests per second of 16 clients, one query each, through ``serve-corpus``."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    exe = str(Path(sys.executable).with_name("webresearch"))
    proc = subprocess.Popen([exe, "serve-corpus", str(corpus), "--retriever", ENGINE,
                             "--index-dir", str(index_dir), "--port", "0",
                             "--workers", str(workers)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it serves (or exits)
        if "serving at" not in line:
            raise SystemExit(f"serve-corpus did not start: {line!r}")
        url = urlsplit(line.split()[2])

        def client(chunk: list[str]) -> None:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            for q in chunk:
                body = json.dumps({"queries": [q], "topk": 10, "return_scores": True})
                conn.request("POST", url.path, body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                reply.read()
                assert reply.status == 200, reply.status
            conn.close()

        chunks = [queries[i::16] for i in range(16)]
        client(queries[:4])  # warm
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(client, chunks))
        return len(queries) / (time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def parity(ours: Path, reference: Path) -> float:
    a, b = json.loads(ours.read_text()), json.loads(reference.read_text())
    assert a["queries"] == b["queries"]
    overlaps = [len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a["tops"], b["tops"],
                                                                      strict=True) if y]
    return float(np.mean(overlaps))


def _corpus(folder: Path, n: int) -> tuple[Path, float]:
    from webresearch.corpus.synthetic import SyntheticSpec, write_synthetic

    path = folder / f"wiki-{n}.jsonl"
    t0 = time.perf_counter()
    if not path.exists():
        write_synthetic(path, SyntheticSpec(passages=n))
    return path, time.perf_counter() - t0


# ------------------------------------------------- engine only: term ids, no text, any N


def _id_batches(n: int, picks: set[int], out: dict[int, list[int]], batch: int = 65536):
    """Passages of 100 Zipf-ranked tokens as the synthetic generator draws them (no
    titles or topics), stop words dropped; ``out`` gets the tokens of rows in ``picks``."""
    from webresearch.corpus.analyzer import STOPWORDS
    from webresearch.corpus.synthetic import FUNCTION_WORDS, zipf_ranks

    stops = np.array([i for i, w in enumerate(FUNCTION_WORDS) if w in STOPWORDS])
    rng = np.random.default_rng(0)
    for start in range(0, n, batch):
        ranks = zipf_ranks(rng.random((min(batch, n - start), 100)), 3_000_000, 1.0)
        for row in [r for r in picks if start <= r < start + len(ranks)]:
            out[row] = ranks[row - start].tolist()
        keep = ~np.isin(ranks, stops)
        yield ranks[keep].astype(np.int32), keep.sum(axis=1).astype(np.int32)


def child_engine_build(n: int, index_dir: str, count: int) -> None:
    from webresearch.corpus.analyzer import STOPWORDS
    from webresearch.corpus.streaming import StreamingBM25Retriever
    from webresearch.corpus.synthetic import FUNCTION_WORDS

    rng = np.random.default_rng(7)
    picks = set(rng.integers(0, n, count).tolist())
    tokens: dict[int, list[int]] = {}
    start = time.perf_counter()
    StreamingBM25Retriever.build_ids(_id_batches(n, picks, tokens), Path(index_dir), {})
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stop = {i for i, w in enumerate(FUNCTION_WORDS) if w in STOPWORDS}
    queries = []
    for row in sorted(tokens):
        size = int(rng.integers(2, 7))
        at = int(rng.integers(0, 100 - size))
        queries.append([t for t in tokens[row][at:at + size] if t not in stop])
    Path(index_dir, "queries.json").write_text(json.dumps(queries))
    print(json.dumps({"build_s": time.perf_counter() - start,
                      "build_cpu_s": usage.ru_utime + usage.ru_stime,
                      "build_peak_rss_mb": usage.ru_maxrss / 1024}))


def child_engine_query(index_dir: str) -> None:
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from webresearch.corpus.streaming import StreamingBM25Retriever

    index = StreamingBM25Retriever.load(Path(index_dir))
    queries = [Counter(q) for q in json.loads(Path(index_dir, "queries.json").read_text())]
    times, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        index.search_terms(q, 10)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    rss = _rss_mb()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda q: index.search_terms(q, 10), queries))
    print(json.dumps({"p50_ms": 1000 * float(np.percentile(times, 50)),
                      "p95_ms": 1000 * float(np.percentile(times, 95)),
                      "p50_cpu_ms": 1000 * float(np.percentile(cpu, 50)),
                      "p95_cpu_ms": 1000 * float(np.percentile(cpu, 95)),
                      "max_ms": 1000 * max(times), "serve_rss_mb": rss["RssAnon"],
                      "serve_rss_file_mb": rss["RssFile"],
                      "qps_16": len(queries) / (time.perf_counter() - t0),
                      "qps_16_via": "16 threads in process (term-id queries)"}))


def engine_only(n: int, folder: Path, queries: int) -> dict[str, object]:
    """The engine at N passages without text: build, disk, serving (no analysis, no
    document table; their costs grow linearly and are measured with text at smaller N)."""
    index_dir = folder / f"engine-{n}.{ENGINE}"
    shutil.rmtree(index_dir, ignore_errors=True)
    result: dict[str, object] = {"passages": n, "engine": f"{ENGINE} (term ids, no text)"}
    result.update(_run("engine-build", str(n), str(index_dir), str(queries)))
    result["index_disk_mb"] = _disk_mb(index_dir)
    result.update(_run("engine-query", str(index_dir)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--ref-max", type=int, default=1_000_000,
                        help="largest corpus the reference (bm25s) is built on")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/wiki"))
    parser.add_argument("--engine-only", action="store_true",
                        help="index Zipf term ids directly (no text, no reference): the "
                             "engine's build memory, disk and query time at any N")
    parser.add_argument("--reuse", action="store_true",
                        help="query the indexes a previous run left in --folder (timings "
                             "only, on a quieter machine) instead of building them again")
    args = parser.parse_args()
    if args.engine_only:
        print(json.dumps(engine_only(args.passages, args.folder, args.queries)))
        return
    corpus, gen_s = _corpus(args.folder, args.passages)
    print(f"corpus {corpus} ({corpus.stat().st_size / 1e6:.0f} MB, {gen_s:.0f} s)", flush=True)
    index_dir = args.folder / f"wiki-{args.passages}.{ENGINE}"
    result: dict[str, object] = {"passages": args.passages, "engine": ENGINE,
                                 "generate_s": gen_s}
    result.update(measure(corpus, ENGINE, index_dir, args.queries, reuse=args.reuse))
    queries = json.loads(index_dir.with_name(index_dir.name + ".tops.json").read_text())
    result["qps_16"] = server_qps(corpus, index_dir, queries["queries"], args.server_workers)
    result["qps_16_via"] = f"webresearch serve-corpus --workers {args.server_workers}"
    print(json.dumps(result), flush=True)
    small, ours = corpus, index_dir
    if args.passages > args.ref_max:
        small = args.folder / f"wiki-{args.passages}-head-{args.ref_max}.jsonl"
        with corpus.open("rb") as src, small.open("wb") as dst:
            dst.writelines(line for _, line in zip(range(args.ref_max), src, strict=False))
        ours = args.folder / f"wiki-{args.passages}-head.{ENGINE}"
        result["parity_engine_on_head"] = measure(small, ENGINE, ours, args.queries,
                                                  reuse=args.reuse)
    ref_dir = args.folder / f"{small.stem}.{REFERENCE}"
    reference = measure(small, REFERENCE, ref_dir, args.queries, reuse=args.reuse)
    reference["passages"] = min(args.passages, args.ref_max)
    reference["qps_16"] = reference.pop("qps_16_threads")
    reference["qps_16_via"] = "16 threads in process"
    result["reference"] = reference
    result["parity_top10"] = parity(ours.with_name(ours.name + ".tops.json"),
                                    ref_dir.with_name(ref_dir.name + ".tops.json"))
    result["parity_passages"] = reference["passages"]
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        child_build(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "engine-build":
        child_engine_build(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "engine-query":
        child_engine_query(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "query":
        child_query(*sys.argv[2:5], int(sys.argv[5]), sys.argv[6])
    else:
        main()
