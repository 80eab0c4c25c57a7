"""A corpus sharded across Ray actors, merged by score behind Search-R1's retriever API.

Beyond one machine, the corpus is split into shards (:func:`split_corpus`: every
passage keeps its id), each indexed and searched by one :class:`CorpusShard` actor,
spread over the cluster's nodes. :class:`ShardedCorpus` is a
:class:`~webresearch.corpus.retrieval_api.PassageSearcher`: a batch of queries goes to
every shard at once and each query's lists come back merged by score, so the server
(``webresearch serve-corpus --ray-shards N``) answers as it does over one index.

Scores across shards: dense scores (cosine) are comparable as they are; BM25 scores
use each shard's own document frequencies, which for shards drawn round-robin from
one corpus are close to the whole corpus's, so the merged ranking is close to, not
identical with, one index's.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webresearch.corpus.retrieval_api import IndexSpec, Passage
from webresearch.distributed.cluster import cluster_address, init_ray, node_id, require_ray
from webresearch.errors import ConfigError, WebError
from webresearch.untrusted import loads_json
from webresearch.web.closing import Closing

__all__ = ["CorpusShard", "ShardedCorpus", "merge_by_score", "split_corpus"]

logger = logging.getLogger(__name__)


def split_corpus(corpus: Path, shards: int, out_dir: Path) -> list[Path]:
    """Deal the passages of ``corpus`` round-robin into ``shards`` JSONL files.

    A record without an ``id`` gets its row in the whole corpus as one, so the ids
    a shard answers are the whole corpus's. Shards already written for this corpus
    (same size and modification time) are reused.
    """
    if shards < 1:
        raise ConfigError(f"Expects shards >= 1, actual: {shards}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stat = corpus.stat()
    stamp = {"corpus": str(corpus), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
             "shards": shards}
    paths = [out_dir / f"{corpus.stem}.shard{i:03d}-of-{shards:03d}.jsonl" for i in range(shards)]
    manifest = out_dir / f"{corpus.stem}.shards-{shards:03d}.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == stamp and all(
            p.is_file() for p in paths):
        return paths
    tmp = [p.with_name(p.name + f".{os.getpid()}.tmp") for p in paths]
    outs = [p.open("wb") for p in tmp]
    try:
        with corpus.open("rb") as f:
            row = 0
            for line in f:
                if line.strip():
                    outs[row % shards].write(_with_id(line, row))
                    row += 1
    finally:
        for out in outs:
            out.close()
    for done, final in zip(tmp, paths, strict=True):
        done.replace(final)
    manifest.write_text(json.dumps(stamp))
    return paths


def _with_id(line: bytes, row: int) -> bytes:
    """The record, with ``"id": row`` added when it has none (the line as it was otherwise)."""
    record = loads_json(line)
    if isinstance(record, dict) and "id" not in record and "_id" not in record:
        record["id"] = str(row)
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"
    return line if line.endswith(b"\n") else line + b"\n"


def merge_by_score(lists: Sequence[Sequence[Passage]], k: int) -> list[Passage]:
    """The ``k`` best of several ranked lists, by score (ties: the earlier shard first).

    Example:
        >>> a = [Passage("1", "x", 3.0), Passage("2", "y", 1.0)]
        >>> b = [Passage("3", "z", 2.0)]
        >>> [p.id for p in merge_by_score([a, b], 2)]
        ['1', '3']
    """
    return heapq.nlargest(k, (p for ranked in lists for p in ranked), key=lambda p: p.score)


class CorpusShard:
    """The Ray actor that opens one shard's index and searches it."""

    def __init__(self, spec: IndexSpec) -> None:
        self.searcher = spec.open()

    def size(self) -> int:
        return len(self.searcher)

    def node(self) -> str:
        return node_id()

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        return self.searcher.search_many(queries, k)


def _check_room(ray: Any, shards: int, num_cpus: float) -> None:
    """A clear error, not an endless wait, when the cluster cannot place every shard."""
    have = float(ray.cluster_resources().get("CPU", 0.0))
    if have < shards * num_cpus:
        raise ConfigError(f"Expects a cluster with {shards * num_cpus:g} CPUs for {shards} "
                          f"shards of {num_cpus:g} CPU each; got {have:g} (start fewer shards, "
                          "or give each less: num_cpus)")


class ShardedCorpus(Closing):
    """Every shard's actor, searched together; a :class:`PassageSearcher`.

    Args:
        handles: The :class:`CorpusShard` actors.
        timeout_s: Longest wait for every shard's answer to one batch.

    Use :meth:`start` to split a corpus and start its actors; as a context manager,
    it kills them on exit.
    """

    def __init__(self, handles: Sequence[Any], *, timeout_s: float = 60.0) -> None:
        self.handles, self.timeout_s = list(handles), timeout_s
        ray = require_ray()
        self._sizes = ray.get([h.size.remote() for h in self.handles], timeout=timeout_s)

    @classmethod
    def start(cls, spec: IndexSpec, *, shards: int, shard_dir: Path | None = None,
              address: str | None = None, num_cpus: float = 1.0,
              ready_timeout_s: float = 600.0) -> ShardedCorpus:
        """Split ``spec``'s corpus into ``shards`` files and start one actor on each,
        spread over the nodes (Ray joins ``address``, else starts locally).

        The shard files must be readable where each actor runs: one machine, or a
        folder every node mounts (``shard_dir``).
        """
        local = cluster_address(address) is None  # a local Ray gets a CPU slot per shard
        ray = init_ray(address, num_cpus=max(os.cpu_count() or 1, math.ceil(shards * num_cpus))
                       if local else None)
        _check_room(ray, shards, num_cpus)
        corpus = Path(spec.corpus)
        folder = shard_dir or corpus.with_name(corpus.name + ".shards")
        paths = split_corpus(corpus, shards, folder)
        actor = ray.remote(num_cpus=num_cpus, scheduling_strategy="SPREAD")(CorpusShard)
        handles = [actor.remote(IndexSpec(corpus=str(p), retriever=spec.retriever))
                   for p in paths]
        sharded = cls(handles, timeout_s=ready_timeout_s)
        sharded.timeout_s = 60.0
        logger.info("%d shards of %s ready (%d passages)", shards, corpus, len(sharded))
        return sharded

    def __len__(self) -> int:
        return int(sum(self._sizes))

    def nodes(self) -> list[str]:
        """The Ray node of each shard's actor."""
        found: list[str] = require_ray().get([h.node.remote() for h in self.handles],
                                             timeout=self.timeout_s)
        return found

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        ray = require_ray()
        refs = [h.search_many.remote(list(queries), k) for h in self.handles]
        try:
            per_shard = ray.get(refs, timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise WebError(f"Expects every shard to answer within {self.timeout_s} s; "
                           "got no answer from at least one") from None
        return [merge_by_score([found[i] for found in per_shard], k)
                for i in range(len(queries))]

    def close(self) -> None:
        """Kill the shard actors; idempotent."""
        ray = require_ray()
        for handle in self.handles:
            ray.kill(handle)
        self.handles = []
