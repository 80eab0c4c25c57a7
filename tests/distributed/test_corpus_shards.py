"""A corpus in 3 shards on 3 Ray nodes (loopback), merged by score behind Search-R1's API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from webresearch.corpus.index import CorpusIndex
from webresearch.corpus.retrieval_api import IndexSpec
from webresearch.corpus.server import RetrieverServer

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ray = pytest.importorskip("ray")

from webresearch.distributed import LocalCluster  # noqa: E402
from webresearch.distributed.corpus_shards import ShardedCorpus, split_corpus  # noqa: E402

TOWNS = ["Ulmsk", "Tarsk", "Velmo", "Grisk", "Orlan", "Pesht", "Kamor", "Ristov", "Sabel",
         "Dornik", "Lavra", "Mezen"]


def write_corpus(path: Path) -> Path:
    """Twelve passages, some without ids (their row becomes their id in every shard)."""
    with path.open("w") as f:
        for i, town in enumerate(TOWNS):
            record: dict[str, Any] = {"contents": f'"{town}"\n{town} is a town with '
                                                  f"{i + 2} bells and a river port."}
            if i % 2:
                record["id"] = f"t{i}"
            f.write(json.dumps(record) + "\n")
    return path


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(head_cpus=1) as local:
        local.add_node(num_cpus=1)
        local.add_node(num_cpus=1)
        yield local


def test_split_keeps_every_passage_and_its_id(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "towns.jsonl")
    shards = split_corpus(corpus, 3, tmp_path / "shards")
    ids = sorted(json.loads(line)["id"] for p in shards for line in p.read_text().splitlines())
    assert ids == sorted(str(i) if i % 2 == 0 else f"t{i}" for i in range(len(TOWNS)))
    assert split_corpus(corpus, 3, tmp_path / "shards") == shards  # reused, not rewritten


def test_three_shards_on_three_nodes_answer_as_search_r1s_server(
        cluster: LocalCluster, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "towns.jsonl")
    queries = ["town with bells river port", "Kamor", "Dornik bells"]
    with ShardedCorpus.start(IndexSpec(corpus=str(corpus)), shards=3,
                             shard_dir=tmp_path / "shards") as sharded:
        assert len(sharded) == len(TOWNS)
        assert len(set(sharded.nodes())) == 3  # one actor on each node

        async def ask() -> dict[str, Any]:
            async with RetrieverServer(sharded) as server, aiohttp.ClientSession() as session:
                payload = {"queries": queries, "topk": 5, "return_scores": True}
                async with session.post(server.url, json=payload) as response:
                    assert response.status == 200
                    found: dict[str, Any] = await response.json()
                    return found

        answer = asyncio.run(ask())
    # the expected merge, re-derived: each shard's own index, all hits sorted by score
    shard_files = sorted((tmp_path / "shards").glob("towns.shard*.jsonl"))
    indexes = [CorpusIndex.open(p) for p in shard_files]
    try:
        for query, ranked in zip(queries, answer["result"], strict=True):
            hits = sorted((h for index in indexes for h in index.search(query, k=5)),
                          key=lambda h: -h.score)[:5]
            assert [item["document"]["id"] for item in ranked] == [h.doc.id for h in hits]
            assert [item["score"] for item in ranked] == pytest.approx([h.score for h in hits])
    finally:
        for index in indexes:
            index.close()
    assert answer["result"][1][0]["document"] == {
        "id": "6", "contents": '"Kamor"\nKamor is a town with 8 bells and a river port.'}
    shard_of = {json.loads(line)["id"]: n for n, p in enumerate(shard_files)
                for line in p.read_text().splitlines()}
    assert len({shard_of[item["document"]["id"]] for item in answer["result"][0]}) > 1
