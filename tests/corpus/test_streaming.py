"""The streaming BM25 index: sharded equals one-shot, exact top-k, parity with bm25s,
memory-mapped loading, hostile queries, and the synthetic wiki-18 generator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webresearch.corpus import CorpusIndex
from webresearch.corpus.documents import parse_record
from webresearch.corpus.retrievers import BM25Retriever, retriever_class
from webresearch.corpus.streaming import StreamingBM25Retriever
from webresearch.corpus.synthetic import SyntheticSpec, synthetic_passages, write_synthetic
from webresearch.errors import ConfigError

pytest.importorskip("numba")
pytest.importorskip("Stemmer")

SPEC = SyntheticSpec(passages=1500, vocab=3000, words=40, seed=3)


class TinyShards(StreamingBM25Retriever):
    """Shards of ~500 postings merged 700 at a time: dozens of shards and ranges."""

    SHARD_POSTINGS = 500
    MERGE_POSTINGS = 700
    BATCH = 37


class Tiered(TinyShards):
    """Every term of 4 postings or more in six impact tiers; every query with a prelude."""

    TIER_MIN = 4
    PRELUDE_MIN = 0
    TIER_FRACTIONS = (0.95, 0.9, 0.8, 0.7, 0.5)


class PyseriniBM25(BM25Retriever):
    name, k1, b, stemmer = "bm25-pyserini-test", 0.9, 0.4, "porter"


def texts() -> list[str]:
    return [f"{title}\n{text}" for title, text in synthetic_passages(SPEC)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("streaming")
    corpus = texts()
    return {"texts": corpus,
            "one": StreamingBM25Retriever.build(corpus, root / "one"),
            "many": TinyShards.build(iter(corpus), root / "many"),
            "tiered": Tiered.build(iter(corpus), root / "tiered"),
            "ref": PyseriniBM25.build(corpus, root / "ref")}


def queries(corpus: list[str], count: int = 60, seed: int = 0) -> Iterator[str]:
    rng = np.random.default_rng(seed)
    for row in rng.integers(0, len(corpus), count).tolist():
        words = corpus[row].split()
        n = int(rng.integers(2, 7))
        start = int(rng.integers(0, len(words) - n))
        yield " ".join(words[start:start + n])


def exhaustive(index: StreamingBM25Retriever, query: str, k: int) -> list[float]:
    """Every document's score from the postings, the ``k`` best."""
    return exhaustive_terms(index, index.term_ids(query), k)


def exhaustive_terms(index: StreamingBM25Retriever, weights: Counter[int], k: int
                     ) -> list[float]:
    scores = np.zeros(len(index), dtype=np.float64)
    for term, weight in weights.items():
        lo, hi = int(index.offsets[term]), int(index.offsets[term + 1])
        np.add.at(scores, index.docs[lo:hi], weight * index.impacts[lo:hi].astype(np.float64))
    top = np.sort(scores)[::-1][:k]
    return [float(s) for s in top if s > 0]


def test_sharded_build_equals_one_shard(built: dict[str, object]) -> None:
    one, many = built["one"], built["many"]
    assert isinstance(one, StreamingBM25Retriever) and isinstance(many, StreamingBM25Retriever)
    assert one.meta == {**many.meta}
    assert np.array_equal(one.offsets, many.offsets)
    assert np.array_equal(one.docs, many.docs)
    assert np.array_equal(one.impacts, many.impacts)
    for q in queries(built["texts"]):  # type: ignore[arg-type]
        assert one.search(q, 10) == many.search(q, 10)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 40))
def test_maxscore_top_k_is_exhaustive_top_k(built: dict[str, object], seed: int, k: int) -> None:
    index = built["many"]
    assert isinstance(index, StreamingBM25Retriever)
    for q in queries(built["texts"], count=3, seed=seed):  # type: ignore[arg-type]
        got = [s for _, s in index.search(q, k)]
        assert got == pytest.approx(exhaustive(index, q, k), rel=1e-5)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), k=st.integers(1, 40), name=st.sampled_from(["many", "tiered"]))
def test_frequent_term_queries_are_exhaustive_top_k(built: dict[str, object],
                                                    data: st.DataObject, k: int,
                                                    name: str) -> None:
    """Queries made only of the most frequent terms (the longest lists, most tiers), each
    repeated up to three times (a query weight), equal exhaustive BM25."""
    index = built[name]
    assert isinstance(index, StreamingBM25Retriever)
    frequent = np.argsort(-np.diff(np.asarray(index.offsets)), kind="stable")[:30].tolist()
    terms = data.draw(st.lists(st.sampled_from(frequent), min_size=1, max_size=6, unique=True))
    weights = Counter({t: data.draw(st.integers(1, 3)) for t in terms})
    got = [s for _, s in index.search_terms(weights, k)]
    assert got == pytest.approx(exhaustive_terms(index, weights, k), rel=1e-5)


def test_tiers_hold_each_terms_postings_once(built: dict[str, object]) -> None:
    one, tiered = built["one"], built["tiered"]
    assert isinstance(one, StreamingBM25Retriever) and isinstance(tiered, StreamingBM25Retriever)
    assert len(tiered.tier_terms) > 100 and np.array_equal(one.offsets, tiered.offsets)
    for row, term in enumerate(tiered.tier_terms[:200].tolist()):
        lo, hi = int(one.offsets[term]), int(one.offsets[term + 1])
        cuts = tiered.tier_splits[row]
        assert cuts[0] == lo and cuts[-1] == hi and np.all(np.diff(cuts) >= 0)
        for a, b, top in zip(cuts, cuts[1:], tiered.tier_maxima[row], strict=False):
            assert np.all(np.diff(tiered.docs[a:b].astype(np.int64)) > 0)  # document order
            assert b == a or tiered.impacts[a:b].max() == top
        pairs = sorted(zip(tiered.docs[lo:hi].tolist(), tiered.impacts[lo:hi].tolist(),
                           strict=True))
        assert pairs == list(zip(one.docs[lo:hi].tolist(), one.impacts[lo:hi].tolist(),
                                 strict=True))
    for q in queries(built["texts"]):  # type: ignore[arg-type]
        assert [s for _, s in tiered.search(q, 10)] == pytest.approx(
            [s for _, s in one.search(q, 10)], rel=1e-6)


def test_an_index_of_an_older_format_is_refused(built: dict[str, object],
                                                tmp_path: Path) -> None:
    folder = tmp_path / "old"
    StreamingBM25Retriever.build(built["texts"][:50], folder)  # type: ignore[index]
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format": 2}))
    with pytest.raises(ConfigError, match=r"format 3.*actual: 2.*delete it to rebuild"):
        StreamingBM25Retriever.load(folder)


def test_parity_with_bm25s_configured_as_pyserini(built: dict[str, object]) -> None:
    ours, ref = built["one"], built["ref"]
    assert isinstance(ours, StreamingBM25Retriever) and isinstance(ref, BM25Retriever)
    for q in queries(built["texts"], count=100):  # type: ignore[arg-type]
        a, b = ours.search(q, 10), ref.search(q, 10)
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-4)
        if a:  # the sets differ only among documents tied at the last place
            last = b[-1][1]
            assert all(s == pytest.approx(last, rel=1e-4) for r, s in a if r not in dict(b))


def test_load_memory_maps_the_postings(built: dict[str, object], tmp_path: Path) -> None:
    folder = tmp_path / "index"
    StreamingBM25Retriever.build(built["texts"], folder)  # type: ignore[arg-type]
    loaded = StreamingBM25Retriever.load(folder)
    for array in (loaded.docs, loaded.impacts, loaded.offsets, loaded.keys):
        assert not array.flags.writeable
        assert isinstance(array, np.memmap) or isinstance(array.base, np.memmap)
    q = next(queries(built["texts"]))  # type: ignore[arg-type]
    assert loaded.search(q, 5) == built["one"].search(q, 5)  # type: ignore[union-attr]


@pytest.mark.parametrize("query", [
    "", "   ", "the of and a to", "🙂 ∑ 東京 \u200b\U0010ffff", "a \ud800 b",
    "x" * 200_000, " ".join(f"w{i}" for i in range(20_000)), "\x00\n\t",
], ids=["empty", "blank", "stopwords", "unicode", "surrogate", "one-long-word",
        "many-terms", "control"])
def test_hostile_queries_answer_a_list(built: dict[str, object], query: str) -> None:
    index = built["many"]
    assert isinstance(index, StreamingBM25Retriever)
    hits = index.search(query, 10)
    assert isinstance(hits, list) and len(hits) <= 10
    assert index.search(query, 0) == [] and index.search(query, -3) == []


def test_a_query_that_is_not_text_is_a_config_error(built: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="Expects a query as text"):
        built["one"].search(b"bytes", 3)  # type: ignore[union-attr, arg-type]


def test_empty_corpus_builds_and_answers_nothing(tmp_path: Path) -> None:
    index = StreamingBM25Retriever.build([], tmp_path / "empty")
    assert len(index) == 0 and index.search("anything", 5) == []
    index = StreamingBM25Retriever.build(["", "the and"], tmp_path / "stops")
    assert len(index) == 2 and index.search("the", 5) == []


def test_corpus_index_serves_the_streaming_retriever(tmp_path: Path) -> None:
    corpus = write_synthetic(tmp_path / "wiki.jsonl", SyntheticSpec(passages=300, vocab=2000))
    index = CorpusIndex.open(corpus, retriever="bm25-stream")
    try:
        doc = index.docs.doc(123)
        hits = index.search(f"{doc.title} {' '.join(doc.text.split()[5:9])}", k=5)
        assert doc.id in [hit.doc.id for hit in hits]
    finally:
        index.close()
    reopened = CorpusIndex.open(corpus, retriever="bm25-stream")  # loads, no rebuild
    assert len(reopened) == 300
    reopened.close()
    assert retriever_class("bm25-stream") is StreamingBM25Retriever
    with pytest.raises(ConfigError, match="bm25-stream"):
        retriever_class("bm25-strem")


def test_the_retriever_server_serves_the_streaming_index(tmp_path: Path) -> None:
    from tests.corpus.test_retriever_server import Served, post
    from webresearch.corpus.retrieval_api import IndexSpec
    from webresearch.corpus.server import RetrieverServer

    corpus = write_synthetic(tmp_path / "wiki.jsonl", SyntheticSpec(passages=400, vocab=3000))
    spec = IndexSpec(corpus=str(corpus), retriever="bm25-stream")
    index = CorpusIndex.open(corpus, retriever="bm25-stream")
    try:
        doc = index.docs.doc(77)
        query = f"{doc.title} {' '.join(doc.text.split()[:4])}"
        expected = index.search(query, k=5)
        with Served(RetrieverServer(spec.open())) as server:
            status, answer = post(server.url, {"queries": [query, ""], "topk": 5,
                                               "return_scores": True})
        assert status == 200
        ranked, empty = answer["result"]
        assert [item["document"]["id"] for item in ranked] == [h.doc.id for h in expected]
        assert [item["score"] for item in ranked] == pytest.approx([h.score for h in expected])
        assert doc.id in [item["document"]["id"] for item in ranked] and empty == []
    finally:
        index.close()


def test_synthetic_corpus_is_deterministic_and_flashrag_shaped(tmp_path: Path) -> None:
    spec = SyntheticSpec(passages=500, vocab=5000, seed=11)
    a = write_synthetic(tmp_path / "a.jsonl", spec).read_bytes()
    b = write_synthetic(tmp_path / "b.jsonl", spec).read_bytes()
    other = write_synthetic(tmp_path / "c.jsonl", SyntheticSpec(passages=500, vocab=5000,
                                                                seed=12)).read_bytes()
    assert a == b and a != other
    lines = a.decode().splitlines()
    assert len(lines) == 500
    docs = [parse_record(line, row=i, name="wiki") for i, line in enumerate(lines)]
    assert [d.id for d in docs] == [str(i) for i in range(500)]
    assert all(20 <= len(d.text.split()) <= 100 and d.title for d in docs)
    assert np.mean([len(d.text.split()) for d in docs]) > 80
    assert sum(docs[i].title == docs[i + 1].title for i in range(499)) > 200  # articles
    assert set(json.loads(lines[0])) == {"id", "contents"}


@given(st.text())
def test_the_split_is_bm25s_split(text: str) -> None:
    import re

    from webresearch.corpus.analyzer import Analyzer

    assert Analyzer().words(text) == re.findall(r"(?u)\b\w\w+\b", text.lower())
