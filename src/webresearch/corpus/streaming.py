"""BM25 at wiki-18 scale: a streaming, sharded build and a memory-mapped MaxScore search.

Build (memory bounded by the shard size and the vocabulary, not the corpus): passages
are analysed in batches (:mod:`~webresearch.corpus.analyzer`); every ``SHARD_POSTINGS``
postings, the shard's ``(term, doc, tf)`` triples are sorted and written to disk. Then
the shards are merged one range of terms at a time into term-major postings, each with
its BM25 impact precomputed (Lucene's formula, pyserini's ``k1=0.9, b=0.4``), written
sequentially. Serving memory-maps the postings; the vocabulary is a sorted array of
term hashes, so the process holds no dictionary. A frequent term's postings are kept in
impact tiers (format 3), so that search, exact top-k MaxScore over the tiers
(:mod:`~webresearch.corpus.postings`), walks only their high tiers; its scores equal a
bm25s index built with the same analysis, k1 and b (float32 rounding aside).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import ClassVar

import numpy as np

from webresearch.corpus.analyzer import Analyzer, term_hash
from webresearch.corpus.retrievers import Retriever
from webresearch.errors import ConfigError

__all__ = ["StreamingBM25Retriever"]

logger = logging.getLogger(__name__)

FORMAT = 3
"""3: frequent terms' postings in impact tiers (``tier_*.npy``); 2 (refused): one list a term."""
SEED_DEPTH = 10
"""Each term keeps its ``SEED_DEPTH``-th largest impact: a floor for the k-th score, k <= it."""
MAX_QUERY_TERMS = 1024
"""Distinct terms of a query that are searched (the first ones); the rest are ignored."""


@dataclass(frozen=True, slots=True)
class _Shard:
    """One shard's postings on disk: ``terms`` (int32), ``docs`` (uint32), ``tfs`` (uint16)."""

    stem: Path
    size: int

    def read(self, part: str, dtype: type, start: int, stop: int) -> np.ndarray:
        """Read ``[start, stop)`` of one part with plain reads (no mapping to count in RSS)."""
        item = np.dtype(dtype).itemsize
        with Path(f"{self.stem}.{part}").open("rb") as f:
            return np.fromfile(f, dtype=dtype, count=stop - start, offset=start * item)

    def bounds(self, term_bounds: np.ndarray) -> np.ndarray:
        """Where each of ``term_bounds`` starts in this shard's term-sorted postings."""
        if self.size == 0:
            return np.zeros(len(term_bounds), dtype=np.int64)
        terms = np.memmap(f"{self.stem}.terms", dtype=np.int32, mode="r", shape=(self.size,))
        found = np.searchsorted(terms, term_bounds)
        del terms
        return found


class StreamingBM25Retriever(Retriever):
    """Okapi BM25 (Lucene variant) for corpora of tens of millions of passages.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> bm25 = StreamingBM25Retriever.build(["Ada wrote programs", "Bob grew apples"], folder)
        >>> [row for row, _ in bm25.search("who grew the apples?", k=5)]
        [1]
    """

    name = "bm25-stream"
    k1: ClassVar[float] = 0.9
    b: ClassVar[float] = 0.4
    stemmer: ClassVar[str] = "porter"
    streaming: ClassVar[bool] = True
    SHARD_POSTINGS: ClassVar[int] = 32_000_000
    """Postings held in memory before a shard is written (~0.8 GB while sorting)."""
    MERGE_POSTINGS: ClassVar[int] = 32_000_000
    """Postings merged at once (~0.6 GB)."""
    BATCH: ClassVar[int] = 8192
    TIER_MIN: ClassVar[int] = 1024
    """Terms with at least this many postings are split into impact tiers."""
    TIER_FRACTIONS: ClassVar[tuple[float, ...]] = (0.8, 0.6)
    """Tier ``i`` holds impacts of at least ``TIER_FRACTIONS[i]`` of the term's largest
    (and under the previous fraction); the last tier holds the rest. Three tiers measured
    better than five at 2M and 5M passages (a candidate gallops into every tier)."""
    PRELUDE_MIN: ClassVar[int] = 65536
    """Queries of this many postings or more start from exactly scored list heads."""

    def __init__(self, directory: Path) -> None:
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ConfigError(f"Expects a {self.name} index of format {FORMAT} in {directory}; "
                              f"actual: {meta.get('format')!r} (delete it to rebuild)")
        self.meta = meta
        self.analyzer = Analyzer(meta["stemmer"])
        self.offsets = np.load(directory / "offsets.npy", mmap_mode="r")  # (terms + 1,)
        self.maxima = np.load(directory / "maxima.npy", mmap_mode="r")  # (terms,)
        self.kth = np.load(directory / "kth.npy", mmap_mode="r")  # (terms,)
        self.blockmax = np.asarray(np.load(directory / "blockmax.npy", mmap_mode="r"))
        tiers = [np.asarray(np.load(directory / f"tier_{part}.npy", mmap_mode="r"))
                 for part in ("terms", "splits", "maxima")]
        self.tier_terms, self.tier_splits, self.tier_maxima = tiers  # (m,) sorted,
        # (m, tiers + 1) postings' bounds, (m, tiers) largest impacts: memory-mapped
        self.keys = np.load(directory / "vocab_keys.npy", mmap_mode="r")  # (terms,) sorted
        self.key_ids = np.load(directory / "vocab_ids.npy", mmap_mode="r")  # (terms,)
        postings = int(meta["postings"])
        self.docs = _mapped(directory / "docs.u32", np.uint32, postings)
        self.impacts = _mapped(directory / "impacts.f32", np.float32, postings)

    # ---------------------------------------------------------------- build

    @classmethod
    def build(cls, texts: Iterable[str], directory: Path) -> StreamingBM25Retriever:
        """Index ``texts`` (any iterable, read once) into ``directory``."""
        analyzer = Analyzer(cls.stemmer)
        texts = iter(texts)
        batches = (analyzer.ids(batch) for batch in iter(lambda: list(islice(texts, cls.BATCH)),
                                                         []))
        cls.build_ids(batches, directory, analyzer.term_ids)
        return cls.load(directory)

    @classmethod
    def build_ids(cls, batches: Iterable[tuple[np.ndarray, np.ndarray]], directory: Path,
                  vocab: dict[str, int]) -> None:
        """Index analysed passages: ``(term ids, terms per passage)`` batches, as
        :meth:`Analyzer.ids` makes them; ``vocab`` (filled by the time they end) names the
        ids (empty: the index answers :meth:`search_terms` only)."""
        start = time.perf_counter()
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".shards-", dir=directory) as work:
            shards, lengths, df = cls._write_shards(batches, Path(work))
            df = np.pad(df, (0, max(len(vocab) - len(df), 0)))
            postings = cls._merge(shards, lengths, df, directory)
        cls._save_vocab(vocab, directory)
        meta = {"format": FORMAT, "docs": len(lengths), "terms": len(df), "postings": postings,
                "k1": cls.k1, "b": cls.b, "stemmer": cls.stemmer,
                "avg_len": float(lengths.mean()) if len(lengths) else 0.0}
        (directory / "meta.json").write_text(json.dumps(meta))
        logger.info("Built the %s index of %d passages (%d terms, %d postings) in %.1f s",
                    cls.name, len(lengths), len(df), postings, time.perf_counter() - start)

    @classmethod
    def _write_shards(cls, batches: Iterable[tuple[np.ndarray, np.ndarray]], work: Path
                      ) -> tuple[list[_Shard], np.ndarray, np.ndarray]:
        shards: list[_Shard] = []
        lengths: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        df = np.zeros(0, dtype=np.int64)
        held = docs = 0
        for ids, lens in batches:
            owner = np.repeat(np.arange(docs, docs + len(lens), dtype=np.int64), lens)
            keys.append((ids.astype(np.int64) << 32) | owner)
            lengths.append(lens)
            docs += len(lens)
            held += len(ids)
            if held >= cls.SHARD_POSTINGS:
                df = cls._flush(keys, work / f"{len(shards)}", shards, df)
                held = 0
        if keys:
            df = cls._flush(keys, work / f"{len(shards)}", shards, df)
        total = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
        return shards, total, df

    @staticmethod
    def _flush(keys: list[np.ndarray], stem: Path, shards: list[_Shard], df: np.ndarray
               ) -> np.ndarray:
        """Write the held postings as a shard; return the document frequencies so far."""
        flat = np.concatenate(keys)
        keys.clear()
        flat.sort()
        first = np.flatnonzero(np.diff(flat, prepend=-1))  # (unique,) a run's first index
        tfs = np.diff(np.append(first, len(flat)))
        unique = flat[first]
        del flat
        terms = (unique >> 32).astype(np.int32)
        (unique & 0xFFFFFFFF).astype(np.uint32).tofile(f"{stem}.docs")
        terms.tofile(f"{stem}.terms")
        np.minimum(tfs, 65535).astype(np.uint16).tofile(f"{stem}.tfs")
        shards.append(_Shard(stem, len(terms)))
        counts = np.bincount(terms)
        if len(counts) > len(df):
            df = np.pad(df, (0, len(counts) - len(df)))
        df[:len(counts)] += counts
        return df

    @classmethod
    def _merge(cls, shards: list[_Shard], lengths: np.ndarray, df: np.ndarray,
               directory: Path) -> int:
        """Merge the shards into ``docs.u32``/``impacts.f32``; save offsets, maxima, tiers."""
        from webresearch.corpus.postings import (  # noqa: PLC0415
            kth_impacts,
            scatter_range,
            tier_range,
        )

        n, terms = len(lengths), len(df)
        offsets = np.zeros(terms + 1, dtype=np.int64)
        np.cumsum(df, out=offsets[1:])
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = max(float(lengths.mean()), 1e-9) if n else 1.0
        norm = (cls.k1 * ((1 - cls.b) + cls.b * lengths / avg)).astype(np.float32)
        maxima = np.zeros(terms, dtype=np.float32)
        kth = np.zeros(terms, dtype=np.float32)
        bounds = _ranges(offsets, cls.MERGE_POSTINGS)
        at = np.stack([s.bounds(bounds) for s in shards]) if shards else np.zeros((0, 1))
        tiers = _Tiers(len(cls.TIER_FRACTIONS) + 1)
        with (directory / "docs.u32").open("wb") as fd, \
                (directory / "impacts.f32").open("wb") as fi:
            for r in range(len(bounds) - 1):
                lo, hi = int(bounds[r]), int(bounds[r + 1])
                parts = [(s, int(at[i, r]), int(at[i, r + 1])) for i, s in enumerate(shards)]
                size = int(offsets[hi] - offsets[lo])
                out_docs = np.empty(size, dtype=np.uint32)
                out_impacts = np.empty(size, dtype=np.float32)
                starts = offsets[lo:hi] - offsets[lo]
                for shard, a, b in parts:
                    scatter_range(shard.read("terms", np.int32, a, b),
                                  shard.read("docs", np.uint32, a, b),
                                  shard.read("tfs", np.uint16, a, b), lo, starts, idf, norm,
                                  out_docs, out_impacts, maxima)
                local = offsets[lo:hi + 1] - offsets[lo]
                kth_impacts(out_impacts, local, SEED_DEPTH, kth[lo:hi])
                which, splits, maxes = tier_range(
                    out_docs, out_impacts, local, np.asarray(cls.TIER_FRACTIONS),
                    cls.TIER_MIN)
                tiers.add(which + lo, splits + offsets[lo], maxes)
                out_docs.tofile(fd)
                out_impacts.tofile(fi)
        np.save(directory / "offsets.npy", offsets)
        np.save(directory / "maxima.npy", maxima)
        np.save(directory / "kth.npy", kth)
        tiers.save(directory)
        np.save(directory / "blockmax.npy", _block_maxima(directory / "impacts.f32"))
        return int(offsets[-1])

    @staticmethod
    def _save_vocab(term_ids: dict[str, int], directory: Path) -> None:
        hashes = np.fromiter((term_hash(t) for t in term_ids), dtype=np.int64,
                             count=len(term_ids))
        ids = np.fromiter(term_ids.values(), dtype=np.int32, count=len(term_ids))
        order = np.argsort(hashes, kind="stable")
        np.save(directory / "vocab_keys.npy", hashes[order])
        np.save(directory / "vocab_ids.npy", ids[order])

    # ---------------------------------------------------------------- serve

    @classmethod
    def load(cls, directory: Path) -> StreamingBM25Retriever:
        return cls(directory).warm()

    def warm(self) -> StreamingBM25Retriever:
        """Compile (or load from numba's cache) the search kernel before the first query."""
        if int(self.meta["terms"]):
            self.search_terms(Counter({0: 1}), 1)
        return self

    def __len__(self) -> int:
        return int(self.meta["docs"])

    def term_ids(self, query: str) -> Counter[int]:
        """The query's indexed terms and how often each occurs (its BM25 query weight)."""
        counts = Counter(self.analyzer.terms(query))
        terms = list(counts)[:MAX_QUERY_TERMS]
        if not terms or not len(self.keys):
            return Counter()
        hashes = np.fromiter((term_hash(t) for t in terms), dtype=np.int64, count=len(terms))
        at = np.minimum(np.searchsorted(self.keys, hashes), len(self.keys) - 1)
        found = np.asarray(self.keys[at]) == hashes
        return Counter({int(self.key_ids[a]): counts[t]
                        for t, a, hit in zip(terms, at.tolist(), found.tolist(), strict=True)
                        if hit})

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        if not isinstance(query, str):
            raise ConfigError(f"Expects a query as text; actual: {type(query).__name__}")
        return self.search_terms(self.term_ids(query), k)

    def search_terms(self, weights: Counter[int], k: int) -> list[tuple[int, float]]:
        """The ``k`` best ``(row, score)`` for term ids with their query weights."""
        from webresearch.corpus.postings import top_k  # noqa: PLC0415 - numba

        k = min(int(k), len(self))
        if k <= 0 or not weights:
            return []
        ids = np.fromiter(weights, dtype=np.int64, count=len(weights))
        w = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        seed = float(np.max(self.kth[ids] * w)) if k <= SEED_DEPTH else -1.0
        starts, ends, ubs, terms = self._lists(ids, w)
        order = np.argsort(-ubs, kind="stable")
        rows, scores = top_k(self.docs, self.impacts, self.blockmax, starts[order],
                             ends[order], ubs[order], w[terms[order]], terms[order],
                             seed if seed > 0 else -1.0, k, self.PRELUDE_MIN)
        return [(int(r), float(s)) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)
                if s > 0]

    def _lists(self, ids: np.ndarray, w: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The lists of the terms ``ids`` (their non-empty tiers, or all their postings):
        starts, ends, largest weighted impacts and the term (index in ``ids``) of each."""
        starts: list[int] = []
        ends: list[int] = []
        ubs: list[float] = []
        terms: list[int] = []
        at = np.searchsorted(self.tier_terms, ids)
        for i, (t, a) in enumerate(zip(ids.tolist(), at.tolist(), strict=True)):
            if a < len(self.tier_terms) and self.tier_terms[a] == t:
                cuts = self.tier_splits[a].tolist()
                tiers = [(lo, hi, top) for lo, hi, top in zip(
                    cuts, cuts[1:], self.tier_maxima[a].tolist(), strict=False) if hi > lo]
            else:
                tiers = [(int(self.offsets[t]), int(self.offsets[t + 1]),
                          float(self.maxima[t]))]
            for lo, hi, top in tiers:
                starts.append(lo)
                ends.append(hi)
                ubs.append(top * w[i])
                terms.append(i)
        return (np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64),
                np.asarray(ubs, dtype=np.float64), np.asarray(terms, dtype=np.int64))


@dataclass
class _Tiers:
    """The tiered terms of a build, gathered range by range."""

    tiers: int
    terms: list[np.ndarray] = field(default_factory=list)
    splits: list[np.ndarray] = field(default_factory=list)
    maxima: list[np.ndarray] = field(default_factory=list)

    def add(self, terms: np.ndarray, splits: np.ndarray, maxima: np.ndarray) -> None:
        self.terms.append(terms)
        self.splits.append(splits)
        self.maxima.append(maxima)

    def save(self, directory: Path) -> None:
        t = self.tiers
        np.save(directory / "tier_terms.npy",
                np.concatenate([np.zeros(0, dtype=np.int64), *self.terms]))
        np.save(directory / "tier_splits.npy",
                np.concatenate([np.zeros((0, t + 1), dtype=np.int64), *self.splits]))
        np.save(directory / "tier_maxima.npy",
                np.concatenate([np.zeros((0, t), dtype=np.float32), *self.maxima]))


def _mapped(path: Path, dtype: type, size: int) -> np.ndarray:
    """A read-only memory map of ``size`` items (an empty array for an empty index)."""
    if size == 0:
        return np.zeros(0, dtype=dtype)
    return np.asarray(np.memmap(path, dtype=dtype, mode="r", shape=(size,)))


def _block_maxima(impacts: Path) -> np.ndarray:
    """The largest impact of every ``BLOCK`` postings, read in chunks."""
    from webresearch.corpus.postings import BLOCK  # noqa: PLC0415

    out = []
    with impacts.open("rb") as f:
        while len(chunk := np.fromfile(f, dtype=np.float32, count=BLOCK << 16)):
            out.append(np.maximum.reduceat(chunk, np.arange(0, len(chunk), BLOCK)))
    return np.concatenate(out) if out else np.zeros(1, dtype=np.float32)


def _ranges(offsets: np.ndarray, budget: int) -> np.ndarray:
    """Term boundaries ``[0, ..., terms]`` cutting the postings into ranges of ``budget``
    (a term with more postings than that gets a range of its own)."""
    terms = len(offsets) - 1
    bounds = [0]
    while bounds[-1] < terms:
        lo = bounds[-1]
        hi = int(np.searchsorted(offsets, offsets[lo] + budget, side="right")) - 1
        bounds.append(min(max(hi, lo + 1), terms))
    return np.asarray(bounds, dtype=np.int64)
