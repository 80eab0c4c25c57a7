"""A Search-R1-style retriever server as a web backend: ``web="retriever:http://host:port"``.

Search posts the query to the server's ``/retrieve`` (Search-R1's shape, scores asked
for); each passage comes back as a hit whose URL browses to its whole text. A
retriever server answers searches only, so the passages a search returned are kept
(the latest ``max_passages``) and browsing a URL looks it up there. The server's
failures (refused, timeout, 4xx/5xx, an answer of another shape) are observations.
The URL policy reaches the server's ``host:port`` and nothing else, loopback included:
a retriever usually runs on the same machine, and no other local service is reached.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from webresearch.corpus.retrieval_api import split_contents
from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.retry import RetryPolicy
from webresearch.net.safety import UrlPolicy
from webresearch.net.urls import endpoint, server_url
from webresearch.untrusted import loads_json, scalar_text
from webresearch.web.backend import Page, SearchHit, SearchResults, WebBackend
from webresearch.web.snippets import snippet

__all__ = ["RetrieverWeb", "RetrieverWebConfig", "UnexpectedAnswer", "parse_hits"]

_SPEC = "'retriever:<http://host:port of a Search-R1-style retriever server>'"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrieverWebConfig:
    """Which retriever server to search, and how."""

    url: str
    """The server's root (``http://127.0.0.1:8000``) or its ``/retrieve`` URL."""
    timeout_s: float = 30.0
    """Longest search, retries included."""
    snippet_chars: int = 240
    """Longest search snippet."""
    max_passages: int = 10_000
    """Passages kept for browsing (the most recently returned)."""
    max_kept_chars: int = 64 * 2**20
    """Characters of those passages kept in all (the oldest go first past it): a server
    that answers with huge passages holds no more memory than this."""

    def __post_init__(self) -> None:
        server_url(self.url, _SPEC, ("", "/retrieve"))

    @property
    def endpoint(self) -> str:
        """``host:port`` (``[v6]:port``): the one endpoint the URL policy opens.

        Example:
            >>> RetrieverWebConfig(url="http://127.0.0.1:8000/retrieve").endpoint
            '127.0.0.1:8000'
        """
        return endpoint(self.url)

    @property
    def retrieve_url(self) -> str:
        """Where searches are posted."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/retrieve"


def _document(item: Any) -> dict[str, Any] | None:
    """The document of one result item (scored or bare), or ``None``."""
    if isinstance(item, dict) and isinstance(item.get("document"), dict):
        item = item["document"]
    return item if isinstance(item, dict) else None


def _title_text(doc: dict[str, Any]) -> tuple[str, str] | None:
    contents = doc.get("contents")
    if isinstance(contents, str):
        return split_contents(contents)
    title, text = doc.get("title", ""), doc.get("text")
    if isinstance(title, str) and isinstance(text, str):
        return title, text
    return None


class UnexpectedAnswer(ValueError):
    """A ``/retrieve`` answer of another shape than Search-R1's."""


def parse_hits(value: Any) -> list[tuple[str, str, str]]:
    """``(id, title, text)`` of each passage in a one-query ``/retrieve`` answer; an
    :class:`UnexpectedAnswer` says what is wrong with another.

    Example:
        >>> parse_hits({"result": [[{"document": {"id": "7", "contents": '"Ada"\\nShe wrote.'},
        ...                          "score": 1.0}]]})
        [('7', 'Ada', 'She wrote.')]
        >>> try:
        ...     parse_hits({"detail": "Expects topk in 1..100; got 500"})
        ... except UnexpectedAnswer as exc:
        ...     print(exc)
        expects {'result': [[...]]}, got an object with keys ['detail']
    """
    if not isinstance(value, dict) or not isinstance(value.get("result"), list):
        keys = sorted(value)[:10] if isinstance(value, dict) else type(value).__name__
        raise UnexpectedAnswer(f"expects {{'result': [[...]]}}, got an object with keys {keys}")
    result = value["result"]
    if len(result) != 1 or not isinstance(result[0], list):
        raise UnexpectedAnswer(f"expects one list of passages for one query, got "
                               f"{len(result)} items")
    hits = []
    for rank, item in enumerate(result[0]):
        doc = _document(item)
        found = _title_text(doc) if doc is not None else None
        if doc is None or found is None:
            raise UnexpectedAnswer(f"passage {rank + 1} has no 'contents' text")
        doc_id = doc.get("id", doc.get("_id", rank))
        hits.append((doc_id if isinstance(doc_id, str) else str(doc_id), *found))
    return hits


class RetrieverWeb(WebBackend):
    """Search through a running Search-R1-style retriever server (``POST /retrieve``).

    Example:
        >>> import asyncio, pathlib, tempfile
        >>> from webresearch.corpus.retrieval_api import IndexSpec
        >>> from webresearch.corpus.server import RetrieverServer
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mini.jsonl"
        >>> _ = path.write_text('{"id": "a", "contents": "\\\\"Ada\\\\"\\\\nAda wrote."}\\n')
        >>> async def demo() -> tuple[str, str]:
        ...     async with RetrieverServer(IndexSpec(corpus=str(path)).open()) as server:
        ...         async with RetrieverWeb(server.base_url) as web:
        ...             hit = (await web.search("who wrote", k=3)).hits[0]
        ...             return hit.title, (await web.fetch(hit.url)).text
        >>> asyncio.run(demo())
        ('Ada', 'Ada wrote.')
    """

    def __init__(self, config: RetrieverWebConfig | str) -> None:
        if isinstance(config, str):
            config = RetrieverWebConfig(url=config)
        self.config = config
        policy = UrlPolicy(only_endpoints=(config.endpoint,))
        self.client = HttpClient(HttpConfig(url_policy=policy, deadline_s=config.timeout_s,
                                            retry=RetryPolicy(attempts=2)))
        self._passages: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._kept_chars = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop of the client's session (its latest search's)."""

    def spec(self) -> str | None:
        plain = RetrieverWebConfig(url=self.config.url)
        return f"retriever:{self.config.url}" if self.config == plain else None

    def _url(self, doc_id: str) -> str:
        return f"retriever://{self.config.endpoint}/{quote(doc_id, safe='')}"

    def _keep(self, url: str, title: str, text: str) -> None:
        old = self._passages.pop(url, None)
        if old is not None:
            self._kept_chars -= len(old[0]) + len(old[1])
        self._passages[url] = (title, text)
        self._kept_chars += len(title) + len(text)
        while len(self._passages) > 1 and (len(self._passages) > self.config.max_passages
                                           or self._kept_chars > self.config.max_kept_chars):
            _, (gone_title, gone_text) = self._passages.popitem(last=False)
            self._kept_chars -= len(gone_title) + len(gone_text)

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        query = scalar_text(query)
        self._loop = asyncio.get_running_loop()
        body = {"queries": [query], "topk": k, "return_scores": True}
        response = await self.client.request("POST", self.config.retrieve_url, json=body)
        if response.error is not None:
            detail = response.body[:300].decode("utf-8", "replace") if response.body else ""
            return SearchResults(query=query, error=f"the retriever server failed: "
                                 f"{response.error}" + (f" ({detail})" if detail else ""))
        try:
            found = parse_hits(loads_json(response.body))
        except UnexpectedAnswer as exc:
            return SearchResults(query=query, error=f"the retriever server's answer: {exc}")
        except ValueError as exc:
            return SearchResults(query=query, error=f"the retriever server's answer: the "
                                                    f"answer is not JSON ({exc})")
        hits: list[SearchHit] = []
        for doc_id, title, text in found[:k]:
            url = self._url(doc_id)
            if any(hit.url == url for hit in hits):  # a corpus's duplicate id: its own URL
                url = f"{url}#{len(hits) + 1}"
            self._keep(url, title, text)
            hits.append(SearchHit(title, url, snippet(text, query, self.config.snippet_chars)))
        return SearchResults(query=query, hits=tuple(hits))

    async def fetch(self, url: str) -> Page:
        kept = self._passages.get(url.strip())
        if kept is None:
            return Page.failure(url, "404 Not Found: not a passage this retriever returned "
                                     "(a retriever server answers searches only: browse the "
                                     "URL of a search result)", status=404)
        title, text = kept
        return Page(url=url, final_url=url.strip(), status=200, title=title, text=text,
                    fetched_at=time.time())

    async def release_loop(self) -> None:
        """Close the client's session if it lives on the running loop, which an env that
        does not own this backend is about to close; the next search opens a new one
        (a second env given the same backend failed: 'attached to a different loop')."""
        if self._loop is asyncio.get_running_loop():
            self._loop = None
            await self.client.aclose()

    async def aclose(self) -> None:
        self._loop = None
        await self.client.aclose()
