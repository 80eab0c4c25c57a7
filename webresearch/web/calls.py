"""A record of one web backend call: the request and the response it got."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from webresearch.web.base import Page, SearchHit, SearchResults
from webresearch.web.reader import Extract

__all__ = ["WebCall", "content_hash"]


def content_hash(text: str) -> str:
    """The SHA-256 of ``text`` (hex, first 32 characters).

    Example:
        >>> content_hash("a")
        'ca978112ca1bbdcafac231b39a23dc4d'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class WebCall:
    """One call to the web backend and what it returned.

    Attributes:
        kind: ``search``, ``fetch`` or ``read`` (a reading agent's pass over a segment).
        request: The query, the URL, or the reading's key (URL, segment, question as JSON).
        k: Results asked for (searches).
        response: The :class:`SearchResults`, :class:`Page` or :class:`Extract`.
        latency_s: Seconds the call took.
    """

    kind: str
    request: str
    response: SearchResults | Page | Extract
    k: int = 0
    latency_s: float = field(default=0.0, compare=False)

    @property
    def from_cache(self) -> bool:
        return self.response.from_cache

    @property
    def hash(self) -> str:
        """Hash of the response's content: a page's text and links, or a search's hits."""
        if isinstance(self.response, Page):
            return content_hash(self.response.text + "\0" + "\0".join(self.response.links))
        if isinstance(self.response, Extract):
            return content_hash(f"{self.response.information}\0{self.response.summary}")
        return content_hash("\0".join(f"{h.title}\t{h.url}\t{h.snippet}"
                                      for h in self.response.hits))

    def to_json(self) -> dict[str, Any]:
        r = self.response
        response: dict[str, Any]
        if isinstance(r, Page):  # explicit dicts: dataclasses.asdict deep-copies, 3x slower
            response = {"url": r.url, "final_url": r.final_url, "status": r.status,
                        "title": r.title, "text": r.text, "fetched_at": r.fetched_at,
                        "from_cache": r.from_cache, "error": r.error, "links": list(r.links)}
        elif isinstance(r, Extract):
            response = {"information": r.information, "page_down": r.page_down,
                        "summary": r.summary, "tokens": r.tokens, "from_cache": r.from_cache,
                        "error": r.error}
        else:
            response = {"query": r.query, "error": r.error, "from_cache": r.from_cache,
                        "hits": [{"title": h.title, "url": h.url, "snippet": h.snippet}
                                 for h in r.hits]}
        return {"kind": self.kind, "request": self.request, "k": self.k,
                "latency_s": self.latency_s, "hash": self.hash, "response": response}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebCall:
        raw = data["response"]
        response: SearchResults | Page | Extract
        if data["kind"] == "read":
            response = Extract(**raw)
        elif data["kind"] == "search":
            response = SearchResults(query=raw["query"], error=raw["error"],
                                     from_cache=raw["from_cache"],
                                     hits=tuple(SearchHit(**h) for h in raw["hits"]))
        else:
            response = Page(**{**raw, "links": tuple(raw["links"])})
        return cls(data["kind"], data["request"], response, data["k"], data["latency_s"])
