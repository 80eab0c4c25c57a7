"""Search-R1's retriever API: its request and response shapes, the bounds on a request,
and the searchers that answer it (a local index; any engine with ``search(query, k)``).

A request is ``POST /retrieve`` with ``{"queries": [...], "topk": k, "return_scores":
bool}``. The answer is ``{"result": [...]}``, one list per query, best first: with
``return_scores`` each item is ``{"document": {"id", "contents"}, "score"}``, without it
the bare ``{"id", "contents"}`` document. ``contents`` keeps FlashRAG's convention, the
title in double quotes on the first line and the passage after it, which Search-R1's
agent splits back into ``Doc i(Title: ...) text``. A request outside the bounds is a
:class:`Rejection` (a 4xx with a ``{"detail": ...}`` body, as FastAPI words its errors),
never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from webresearch.corpus.documents import CorpusDoc
from webresearch.corpus.index import CorpusIndex
from webresearch.errors import ConfigError
from webresearch.untrusted import loads_json

__all__ = ["IndexSearcher", "IndexSpec", "Passage", "PassageSearcher", "Rejection",
           "RetrievalLimits", "RetrieveRequest", "flashrag_contents", "parse_request",
           "response_json", "split_contents"]

JSON_DEPTH = 8
"""Deepest JSON a request may nest (the valid shape nests 2 deep)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalLimits:
    """What one request may ask for; beyond these it gets a 4xx, and the server goes on."""

    max_body_bytes: int = 1 << 20
    """Largest request body (413 beyond it)."""
    max_queries: int = 1024
    """Most queries in one request (Search-R1's rollouts send one per sequence)."""
    max_topk: int = 100
    """Largest ``topk``."""
    max_query_chars: int = 2048
    """Longest query."""
    max_results: int = 16_384
    """Most passages one request may ask for (queries times ``topk``): 1,024 queries of
    ``topk`` 100 made a 15 kB request a 71 MB answer."""
    default_topk: int = 3
    """``topk`` when a request leaves it out (or sends 0 or null), as Search-R1's
    ``--topk`` does."""
    search_timeout_s: float = 60.0
    """Longest wait for the engine's answer to one request (503 after it)."""
    body_timeout_s: float = 30.0
    """Longest wait for a request's body to arrive (408 after it: a client that sends
    slowly holds no connection for long); also for its headers, and for an idle
    connection's next request (the connection is closed after it)."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_queries", "max_topk", "max_query_chars",
                     "default_topk", "max_results"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Expects RetrievalLimits.{name} >= 1, actual: "
                                  f"{getattr(self, name)}")
        if not 1 <= self.default_topk <= self.max_topk:
            raise ConfigError(f"Expects default_topk in 1..max_topk ({self.max_topk}), actual: "
                              f"{self.default_topk}")
        for name in ("search_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Expects {name} > 0, actual: {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class RetrieveRequest:
    """A request that passed every bound."""

    queries: tuple[str, ...]
    topk: int
    return_scores: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused: the HTTP status and the ``detail`` of the JSON body."""

    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved passage: the corpus's id, FlashRAG ``contents``, and its score."""

    id: str
    contents: str
    score: float


@runtime_checkable
class PassageSearcher(Protocol):
    """What the server searches with: a batch of queries in, one ranked list each out."""

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        """Up to ``k`` passages per query, best first (called off the event loop)."""
        ...

    def __len__(self) -> int:
        """Passages searched."""
        ...


def flashrag_contents(title: str, text: str) -> str:
    """A passage in FlashRAG's ``contents`` convention.

    Example:
        >>> flashrag_contents("Ada Lovelace", "She wrote programs.")
        '"Ada Lovelace"\\nShe wrote programs.'
    """
    return f'"{title}"\n{text}'


def split_contents(contents: str) -> tuple[str, str]:
    """``(title, text)`` of FlashRAG ``contents``, as Search-R1's agent splits it.

    Example:
        >>> split_contents('"Ada"\\nShe wrote.\\nTwice.')
        ('Ada', 'She wrote.\\nTwice.')
    """
    head, _, body = contents.partition("\n")
    return head.strip().strip('"'), body


def _scalar(value: Any, name: str, low: int, high: int, default: int) -> int | Rejection:
    """An integer field in ``low..high`` (``default`` for null or 0), or its refusal."""
    if value is None or (value == 0 and type(value) is int):
        return default
    if type(value) is not int:
        return Rejection(422, f"Expects {name} to be an integer; got {type(value).__name__}")
    if not low <= value <= high:
        return Rejection(422, f"Expects {name} in {low}..{high}; got {value}")
    return value


def _check_queries(value: Any, limits: RetrievalLimits) -> tuple[str, ...] | Rejection:
    if not isinstance(value, list):
        return Rejection(422, f"Expects 'queries' to be a list of strings; got "
                              f"{type(value).__name__}")
    if len(value) > limits.max_queries:
        return Rejection(422, f"Expects at most {limits.max_queries} queries; got {len(value)}")
    for i, query in enumerate(value):
        if not isinstance(query, str):
            return Rejection(422, f"Expects queries[{i}] to be a string; got "
                                  f"{type(query).__name__}")
        if len(query) > limits.max_query_chars:
            return Rejection(422, f"Expects queries[{i}] of at most {limits.max_query_chars} "
                                  f"characters; got {len(query)}")
    return tuple(value)


def parse_request(body: bytes, limits: RetrievalLimits) -> RetrieveRequest | Rejection:
    """Read a ``/retrieve`` body, or say why it is refused (400 not JSON, 413 too large,
    422 the wrong shape).

    Example:
        >>> parse_request(b'{"queries": ["ada"], "topk": 2}', RetrievalLimits())
        RetrieveRequest(queries=('ada',), topk=2, return_scores=False)
        >>> parse_request(b'{"queries": ["ada"], "topk": 1000000000}', RetrievalLimits())
        Rejection(status=422, detail='Expects topk in 1..100; got 1000000000')
    """
    if len(body) > limits.max_body_bytes:
        return Rejection(413, f"Expects a body of at most {limits.max_body_bytes} bytes; "
                              f"got {len(body)}")
    try:
        value = loads_json(body, max_depth=JSON_DEPTH)
    except ValueError as exc:
        return Rejection(400, f"Expects a JSON body; got {exc}")
    if not isinstance(value, dict):
        return Rejection(422, f"Expects a JSON object; got {type(value).__name__}")
    if "queries" not in value:
        return Rejection(422, "Expects a 'queries' field; got none")
    queries = _check_queries(value["queries"], limits)
    topk = _scalar(value.get("topk"), "topk", 1, limits.max_topk, limits.default_topk)
    scores = value.get("return_scores", False)
    if isinstance(queries, Rejection):
        return queries
    if isinstance(topk, Rejection):
        return topk
    if len(queries) * topk > limits.max_results:
        return Rejection(422, f"Expects at most {limits.max_results} passages a request "
                              f"(queries x topk); got {len(queries)} x {topk}")
    if not isinstance(scores, bool):
        return Rejection(422, f"Expects return_scores to be true or false; got "
                              f"{type(scores).__name__}")
    return RetrieveRequest(queries=queries, topk=topk, return_scores=scores)


def response_json(results: Sequence[Sequence[Passage]], *, return_scores: bool
                  ) -> dict[str, list[list[dict[str, Any]]]]:
    """The ``{"result": ...}`` answer for ``results`` (one list per query).

    Example:
        >>> response_json([[Passage("7", '"Ada"\\nShe wrote.', 1.5)]], return_scores=True)
        {'result': [[{'document': {'id': '7', 'contents': '"Ada"\\nShe wrote.'}, 'score': 1.5}]]}
        >>> response_json([[Passage("7", '"Ada"\\nShe wrote.', 1.5)]], return_scores=False)
        {'result': [[{'id': '7', 'contents': '"Ada"\\nShe wrote.'}]]}
    """
    def doc(p: Passage) -> dict[str, Any]:
        return {"id": p.id, "contents": p.contents}

    if return_scores:
        return {"result": [[{"document": doc(p), "score": p.score} for p in ranked]
                           for ranked in results]}
    return {"result": [[doc(p) for p in ranked] for ranked in results]}


def _passage(doc: CorpusDoc, score: float) -> Passage:
    return Passage(doc.id, flashrag_contents(doc.title, doc.text), float(score))


class IndexSearcher:
    """A :class:`PassageSearcher` over a :class:`CorpusIndex`, whatever its retriever.

    A retriever that has ``search_batch(queries, k)`` (a list of ``(row, score)`` lists)
    gets each batch in one call; any other gets one ``search(query, k)`` per query.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.jsonl"
        >>> _ = path.write_text('{"id": "1", "contents": "\\\\"Ada\\\\"\\\\nAda wrote it."}\\n')
        >>> searcher = IndexSearcher(CorpusIndex.open(path))
        >>> searcher.search_many(["who wrote it"], 3)[0][0].contents
        '"Ada"\\nAda wrote it.'
    """

    def __init__(self, index: CorpusIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        retriever: Any = self.index.retriever
        batch = getattr(retriever, "search_batch", None)
        found = (batch(list(queries), k) if callable(batch)
                 else [retriever.search(query, k) for query in queries])
        docs = self.index.docs
        return [[_passage(docs.doc(row), score) for row, score in ranked] for ranked in found]

    def close(self) -> None:
        self.index.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSpec:
    """How to open a corpus's index again in another process (a server worker, a Ray
    actor): every field is plain text, so the spec travels as JSON."""

    corpus: str
    """The JSONL file."""
    retriever: str = "bm25"
    """The retriever's name (``bm25``, ``dense``, or one registered in ``RETRIEVERS``)."""
    index_dir: str | None = None
    """Where its index lives; beside the corpus by default."""

    def open(self) -> IndexSearcher:
        """Open (building on first use) the index and wrap it for the server."""
        index_dir = Path(self.index_dir) if self.index_dir else None
        return IndexSearcher(CorpusIndex.open(self.corpus, retriever=self.retriever,
                                              index_dir=index_dir))
