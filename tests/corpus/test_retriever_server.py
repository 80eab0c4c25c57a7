"""The retriever server against Search-R1's request and response shapes, hostile requests,
batching, and the ``retriever:`` backend in a gym episode against it."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import answer, browse, search
from tests.corpus.test_corpus import PASSAGES, write_corpus
from webresearch.corpus.index import CorpusIndex
from webresearch.corpus.remote import RetrieverWeb, RetrieverWebConfig
from webresearch.corpus.retrieval_api import IndexSpec, Passage, RetrievalLimits
from webresearch.corpus.server import Batcher, RetrieverServer
from webresearch.envs.backends import make_web
from webresearch.errors import ConfigError

DEADLINE_S = 60.0
"""A safety net for waits on a busy machine, never a pace."""


class Served:
    """A server running in a thread of its own event loop, for sync clients (urllib, gym)."""

    def __init__(self, server: RetrieverServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> RetrieverServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(DEADLINE_S)
        return self.server

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.aclose(), self.loop).result(DEADLINE_S)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(DEADLINE_S)
            self.loop.close()


def post(url: str, body: bytes | Any, *, method: str = "POST") -> tuple[int, Any]:
    """Status and JSON body of one request (Search-R1 posts ``json=payload``)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data if method == "POST" else None,
                                     method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("served") / "mini.jsonl")


@pytest.fixture(scope="module")
def served(corpus: Path) -> Iterator[RetrieverServer]:
    limits = RetrievalLimits(max_body_bytes=64 * 1024, max_queries=32, max_topk=20,
                             max_query_chars=256, default_topk=3)
    with Served(RetrieverServer(IndexSpec(corpus=str(corpus)).open(), limits=limits)) as server:
        yield server


def passages_to_string(result: Sequence[dict[str, Any]]) -> str:
    """What Search-R1's agent makes of one query's result (re-derived from its generation.py:
    the first line of ``contents`` is the title, the rest the text)."""
    lines = []
    for i, item in enumerate(result):
        title, _, text = item["document"]["contents"].partition("\n")
        lines.append(f"Doc {i + 1}(Title: {title}) {text}")
    return "\n".join(lines)


def test_search_r1_request_gets_search_r1_answer(served: RetrieverServer, corpus: Path) -> None:
    payload = {"queries": ["Pogre Works founder", "river port cathedral"], "topk": 3,
               "return_scores": True}
    status, answer_ = post(served.url, payload)
    assert status == 200 and list(answer_) == ["result"] and len(answer_["result"]) == 2
    index = CorpusIndex.open(corpus)
    try:
        for query, ranked in zip(payload["queries"], answer_["result"], strict=True):
            expected = index.search(query, k=3)
            assert [set(item) for item in ranked] == [{"document", "score"}] * len(expected)
            assert [set(item["document"]) for item in ranked] == [{"id", "contents"}] * len(
                expected)
            assert [item["document"]["id"] for item in ranked] == [h.doc.id for h in expected]
            assert [item["score"] for item in ranked] == pytest.approx(
                [h.score for h in expected])
            assert [item["document"]["contents"] for item in ranked] == [
                f'"{h.doc.title}"\n{h.doc.text}' for h in expected]  # FlashRAG's convention
    finally:
        index.close()
    assert passages_to_string(answer_["result"][0]).startswith(
        'Doc 1(Title: "Pogre Works") Pogre Works is a foundry')


def test_without_scores_each_result_is_the_bare_document(served: RetrieverServer) -> None:
    status, answer_ = post(served.url, {"queries": ["Velm river"], "topk": 2,
                                        "return_scores": False})
    assert status == 200
    assert answer_["result"][0][0] == {"id": "4", "contents": f'"Velm"\n{PASSAGES[4][1]}'}


@pytest.mark.parametrize(("body", "count"), [
    ({"queries": ["Tarsk"]}, 3), ({"queries": ["Tarsk"], "topk": None}, 3),
    ({"queries": ["Tarsk"], "topk": 0}, 3), ({"queries": ["Tarsk"], "topk": 1}, 1),
    ({"queries": ["the of and"]}, 0), ({"queries": []}, None)],
    ids=["no-topk", "null-topk", "zero-topk", "topk-1", "only-stopwords", "no-queries"])
def test_topk_defaults_as_search_r1s(served: RetrieverServer, body: dict[str, Any],
                                     count: int | None) -> None:
    status, answer_ = post(served.url, body)
    assert status == 200
    if count is None:
        assert answer_ == {"result": []}
    else:
        assert len(answer_["result"][0]) <= count and (count == 0) == (not answer_["result"][0])


HOSTILE = [
    (b"x" * (65 * 1024), 413, "at most 65536 bytes"),
    (b"[" * 60_000, 400, "nested at most"),
    (b'{"queries": ' + b"[" * 50 + b"]" * 50 + b"}", 400, "nested at most"),
    (b"\xff\xfe not json", 400, "Expects a JSON body"),
    (b'{"queries": ["a"], "topk": 1000000000}', 422, "Expects topk in 1..20; got 1000000000"),
    (b'{"queries": ["a"], "topk": -1}', 422, "Expects topk in 1..20"),
    (b'{"queries": ["a"], "topk": "3"}', 422, "Expects topk to be an integer; got str"),
    (b'{"queries": ["a"], "topk": true}', 422, "got bool"),
    (b'{"queries": ["a"], "topk": 1' + b"0" * 5000 + b"}", 400, "Expects a JSON body"),
    (b'{"queries": [1, {"a": 2}]}', 422, "Expects queries[0] to be a string; got int"),
    (b'{"queries": "one string"}', 422, "Expects 'queries' to be a list"),
    (b'{"queries": ["a"], "return_scores": "yes"}', 422, "return_scores to be true or false"),
    (b'{"topk": 3}', 422, "Expects a 'queries' field"),
    (b'["a"]', 422, "Expects a JSON object; got list"),
    (json.dumps({"queries": ["a"] * 33}).encode(), 422, "at most 32 queries; got 33"),
    (json.dumps({"queries": ["a" * 257]}).encode(), 422, "at most 256 characters; got 257"),
]


@pytest.mark.parametrize(("body", "status", "detail"), HOSTILE,
                         ids=[f"{s}-{d[:24]}" for _, s, d in HOSTILE])
def test_hostile_requests_get_a_clear_4xx_and_the_server_goes_on(
        served: RetrieverServer, body: bytes, status: int, detail: str) -> None:
    got, answer_ = post(served.url, body)
    assert got == status and detail in answer_["detail"]
    assert post(served.url, {"queries": ["Tarsk"], "topk": 1})[0] == 200


def test_a_body_that_never_ends_is_a_408() -> None:
    """A client that announces a body and stops sending holds the connection no longer
    than the bound (slowloris)."""
    import socket

    limits = RetrievalLimits(body_timeout_s=0.5)
    with Served(RetrieverServer(GatedSearcher(), limits=limits)) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S) as sock:
        sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"queries\": [")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408") and b"Expects the body within 0.5 s" in reply


def test_other_methods_and_paths_answer_json(served: RetrieverServer) -> None:
    assert post(served.url, b"", method="GET")[0] == 405
    status, answer_ = post(f"{served.base_url}/nowhere", {"queries": []})
    assert status == 404 and "detail" in answer_
    status, health = post(f"{served.base_url}/health", b"", method="GET")
    assert status == 200 and health["passages"] == len(PASSAGES)


@settings(max_examples=40, deadline=None)
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                         lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.sampled_from(["queries", "topk", "return_scores",
                                                            "x"]), inner, max_size=4),
                         max_leaves=20))
def test_any_json_gets_200_or_a_4xx_never_a_crash(served: RetrieverServer, body: Any) -> None:
    status, answer_ = post(served.url, json.dumps(body).encode())
    assert status == 200 or (400 <= status < 500 and isinstance(answer_["detail"], str))


@settings(max_examples=60, deadline=None)
@given(queries=st.lists(st.text(max_size=80), max_size=4), topk=st.integers(1, 20),
       scores=st.booleans())
def test_any_text_queries_get_ranked_passages(served: RetrieverServer, queries: list[str],
                                              topk: int, scores: bool) -> None:
    """Whatever text a model writes as a query (control characters, lone surrogates as
    JSON escapes, scripts the tokenizer has never seen), each gets a list of passages."""
    status, answer_ = post(served.url, json.dumps({"queries": queries, "topk": topk,
                                                   "return_scores": scores}).encode())
    assert status == 200 and len(answer_["result"]) == len(queries)
    for ranked in answer_["result"]:
        assert len(ranked) <= topk
        docs = [item["document"] if scores else item for item in ranked]
        assert all(set(doc) == {"id", "contents"} for doc in docs)
        if scores:
            values = [item["score"] for item in ranked]
            assert values == sorted(values, reverse=True)


class GatedSearcher:
    """Passages named after their query; the first call waits for ``gate``."""

    def __init__(self) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return 1

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        self.entered.set()
        if not self.gate.wait(DEADLINE_S):
            raise TimeoutError("the test never opened the gate")
        self.batches.append((len(queries), k))
        return [[Passage(f"{q}-{i}", q, float(-i)) for i in range(k)] for q in queries]


def test_concurrent_requests_are_searched_in_one_batch() -> None:
    async def scenario() -> tuple[list[list[list[Passage]]], list[tuple[int, int]]]:
        searcher = GatedSearcher()
        batcher = Batcher(searcher)
        first = asyncio.create_task(batcher.search(["q0"], 1))
        assert await asyncio.to_thread(searcher.entered.wait, DEADLINE_S)
        rest = [asyncio.create_task(batcher.search([f"q{i}", f"r{i}"], i)) for i in range(1, 16)]
        await asyncio.sleep(0)  # every request is now queued behind the running batch
        searcher.gate.set()
        results = await asyncio.wait_for(asyncio.gather(first, *rest), DEADLINE_S)
        batcher.close()
        return results, searcher.batches

    results, batches = asyncio.run(scenario())
    assert batches == [(1, 1), (30, 15)]  # 16 requests, 2 engine calls
    assert [p.id for p in results[0][0]] == ["q0-0"]
    for i, ranked in enumerate(results[1:], start=1):
        assert [[p.id for p in hits] for hits in ranked] == [
            [f"q{i}-{j}" for j in range(i)], [f"r{i}-{j}" for j in range(i)]]


def test_a_stuck_engine_is_a_503_and_a_failing_one_a_500() -> None:
    class Failing(GatedSearcher):
        def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
            raise RuntimeError("index file vanished")

    with Served(RetrieverServer(Failing())) as server:
        status, answer_ = post(server.url, {"queries": ["a"]})
        assert status == 500 and "index file vanished" in answer_["detail"]
        assert post(server.url, {"queries": ["a"]})[0] == 500  # and it still answers
    stuck = GatedSearcher()
    limits = RetrievalLimits(search_timeout_s=0.5)
    try:
        with Served(RetrieverServer(stuck, limits=limits)) as server:
            status, answer_ = post(server.url, {"queries": ["a"]})
            assert status == 503 and "overloaded" in answer_["detail"]
            assert post(f"{server.base_url}/health", b"", method="GET")[0] == 200
    finally:
        stuck.gate.set()


def test_retriever_backend_runs_a_gym_episode(served: RetrieverServer) -> None:
    task = {"question": "Who founded Pogre Works?", "answers": ["Anna Vell"]}
    env = gym.make("WebResearch-v0", web=f"retriever:{served.base_url}", tasks=[task])
    try:
        env.reset(seed=0)
        obs, *_ = env.step(search("Pogre Works founder"))
        url = f"retriever://127.0.0.1:{served.port}/0"
        assert url in obs and "Pogre Works" in obs
        obs, *_ = env.step(browse(url))
        assert "founded in 1917 by Anna Vell" in obs
        _, reward, terminated, _, _ = env.step(answer("Anna Vell"))
        assert terminated and reward == 1.0
    finally:
        env.close()


def test_retriever_backend_failures_are_observations(served: RetrieverServer) -> None:
    async def scenario() -> list[str | None]:
        errors = []
        async with RetrieverWeb(served.url) as web:
            errors.append((await web.search("a" * 300)).error)  # over the server's bound
            errors.append((await web.search("Tarsk", k=50)).error)  # topk over its bound
            errors.append((await web.fetch(f"http://127.0.0.1:{served.port}/health")).error)
            errors.append((await web.search("Tarsk", k=2)).error)
        async with RetrieverWeb(RetrieverWebConfig(url="http://127.0.0.1:9", timeout_s=2)) as web:
            errors.append((await web.search("Tarsk")).error)
        return errors

    too_long, too_many, not_a_passage, fine, refused = asyncio.run(scenario())
    assert too_long is not None and "at most 256 characters" in too_long
    assert too_many is not None and "Expects topk in 1..20; got 50" in too_many
    assert not_a_passage is not None and "not a passage this retriever returned" in not_a_passage
    assert fine is None
    assert refused is not None and "could not connect" in refused


def test_retriever_backend_reaches_its_server_only(served: RetrieverServer) -> None:
    web = RetrieverWeb(served.base_url)
    policy = web.client.config.url_policy
    assert policy.check_url(served.url) is None
    assert policy.check_url(f"http://127.0.0.1:{served.port + 1}/retrieve") is not None
    assert policy.check_url("http://169.254.169.254/latest/meta-data/") is not None
    assert make_web(f"retriever:{served.url}").spec() == f"retriever:{served.url}"


@pytest.mark.parametrize("spec", ["retriever:", "retriever:127.0.0.1:8000",
                                  "retriever:ftp://127.0.0.1:8000",
                                  "retriever:http://127.0.0.1:8000/search",
                                  "retriever:http://127.0.0.1:x/retrieve"])
def test_malformed_retriever_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="Expects 'retriever:<http://host:port"):
        make_web(spec)
