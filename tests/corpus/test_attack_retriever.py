"""Attacks on the retriever server and the ``retriever:`` backend found by a hostile
review: a client that never finishes its request's headers (slowloris) holds a
connection no longer than the bound; a server of huge passages makes the backend hold
bounded memory; ids that are not text, and a redirect to another port; a
hand-built backend serves one sync env after another."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.corpus.test_retriever_server import DEADLINE_S, GatedSearcher, Served, post
from webresearch.corpus.retrieval_api import IndexSpec, RetrievalLimits
from webresearch.corpus.server import RetrieverServer


def test_headers_that_never_end_are_closed_within_the_bound() -> None:
    """aiohttp's own default (an hour) let a client that sends half a request head keep
    its connection; the server closes it after ``body_timeout_s``."""
    limits = RetrievalLimits(body_timeout_s=0.5)
    gated = GatedSearcher()
    gated.gate.set()
    with Served(RetrieverServer(gated, limits=limits)) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S) as sock:
        sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\n")  # and no blank line, ever
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server, not by our timeout
        assert time.monotonic() - started < DEADLINE_S / 2
        assert post(server.url, {"queries": ["a"], "topk": 1})[0] == 200  # it goes on


def _hostile_app(passage_chars: int, ids: list[object], *, redirect: bool = False) -> object:
    from aiohttp import web

    counter = iter(range(10**9))

    async def retrieve(request: web.Request) -> web.Response:
        if redirect:
            raise web.HTTPTemporaryRedirect("http://127.0.0.1:9/retrieve")
        n = next(counter)
        items = [{"document": {"id": doc_id if doc_id is not None else f"p{n}-{i}",
                               "contents": f'"T{n}"\n' + "x" * passage_chars}, "score": 1.0}
                 for i, doc_id in enumerate(ids)]
        return web.json_response({"result": [items]})

    app = web.Application()
    app.router.add_post("/retrieve", retrieve)
    return app


def test_a_server_of_huge_passages_holds_bounded_memory() -> None:
    """max_passages counted passages only: 10,000 passages of a megabyte each were kept."""
    from tests.conftest import serve_app
    from webresearch.corpus.remote import RetrieverWeb, RetrieverWebConfig

    async def scenario(url: str) -> tuple[int, int, str | None]:
        config = RetrieverWebConfig(url=url.removesuffix("/v1"), max_kept_chars=50_000)
        async with RetrieverWeb(config) as web:
            for _ in range(20):
                found = await web.search("q", k=3)
                assert found.error is None and len(found.hits) == 3
            latest = (await web.fetch(found.hits[-1].url)).error
            return web._kept_chars, len(web._passages), latest

    kept, count, latest = serve_app(_hostile_app(20_000, [None, None, None]), scenario)
    assert kept <= 50_000 + 20_010 and count <= 3 and latest is None


def test_ids_that_are_not_text_and_a_redirect_elsewhere() -> None:
    from tests.conftest import serve_app
    from webresearch.corpus.remote import RetrieverWeb

    async def scenario(url: str) -> list[str]:
        async with RetrieverWeb(url.removesuffix("/v1")) as web:
            found = await web.search("q", k=5)
            assert found.error is None
            pages = [await web.fetch(hit.url) for hit in found.hits]
            assert all(page.error is None for page in pages)
        return [hit.url for hit in found.hits]

    async def redirected(url: str) -> str | None:
        async with RetrieverWeb(url.removesuffix("/v1")) as web:  # 307 to another port
            return (await web.search("q")).error

    ids: list[object] = [7, {"a": [1]}, None, "../../etc/passwd", "x" * 5000]
    urls = serve_app(_hostile_app(10, ids), scenario)
    moved = serve_app(_hostile_app(10, [], redirect=True), redirected)
    assert len(set(urls)) == 5 and all(u.startswith("retriever://127.0.0.1:") for u in urls)
    assert all("/" not in u.split("://", 1)[1].split("/", 1)[1] for u in urls)
    assert moved is not None and "refused" in moved


def test_a_request_may_not_ask_for_more_passages_than_the_bound() -> None:
    """1,024 queries of topk 100 (a 15 kB request) were a 71 MB answer."""
    gated = GatedSearcher()
    gated.gate.set()
    with Served(RetrieverServer(gated)) as server:
        status, answer_ = post(server.url, {"queries": ["a"] * 1024, "topk": 100})
        assert status == 422
        assert "Expects at most 16384 passages a request" in answer_["detail"]
        status, answer_ = post(server.url, {"queries": ["a"] * 1024, "topk": 3})
        assert status == 200 and len(answer_["result"]) == 1024


def test_passages_of_one_id_in_one_answer_browse_to_their_own_text() -> None:
    """A corpus with a duplicate id: both passages came back under one URL, and browsing
    the first hit showed the second's text."""
    from aiohttp import web as aioweb

    from tests.conftest import serve_app
    from webresearch.corpus.remote import RetrieverWeb

    async def retrieve(request: aioweb.Request) -> aioweb.Response:
        items = [{"document": {"id": "1", "contents": f'"T{i}"\nText {i}'}, "score": 1.0}
                 for i in range(3)]
        return aioweb.json_response({"result": [items]})

    app = aioweb.Application()
    app.router.add_post("/retrieve", retrieve)

    async def scenario(url: str) -> list[tuple[str, str, str]]:
        async with RetrieverWeb(url.removesuffix("/v1")) as web:
            hits = (await web.search("q", k=3)).hits
            return [(hit.url, hit.title, (await web.fetch(hit.url)).text) for hit in hits]

    shown = serve_app(app, scenario)
    assert len({u for u, _, _ in shown}) == 3
    assert [(title, text) for _, title, text in shown] == [(f"T{i}", f"Text {i}")
                                                           for i in range(3)]


def test_a_hand_built_backend_serves_one_sync_env_after_another(tmp_path: Path) -> None:
    """Each sync env runs its own loop; the backend's session was bound to the first's, so
    the second env's search failed ('attached to a different loop'), as evaluation's
    blocking() (which makes each env again with the same backend) does."""
    import warnings

    from tests.conftest import search
    from tests.corpus.test_corpus import write_corpus
    from webresearch.corpus.remote import RetrieverWeb
    from webresearch.envs.web_research import WebResearchEnv
    from webresearch.evaluation.blocking import blocking

    corpus = write_corpus(tmp_path / "mini.jsonl")
    task = {"question": "Who founded Pogre Works?", "answers": ["Anna Vell"]}
    with Served(RetrieverServer(IndexSpec(corpus=str(corpus)).open())) as server, \
            warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        web = RetrieverWeb(server.base_url)
        make = blocking(lambda: WebResearchEnv(web=web, tasks=[task]))
        for _ in range(3):
            env = make()
            try:
                env.reset(seed=0)
                observation, *_ = env.step(search("Pogre Works founder"))
                assert "founded in 1917 by Anna Vell" in observation
            finally:
                env.close()
