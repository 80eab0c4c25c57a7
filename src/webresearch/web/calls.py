"""A record of one web backend call: the request and the response it got."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from webresearch.web.backend import Page, SearchHit, SearchResults
from webresearch.web.reader import Extract

__all__ = ["Failure", "WebCall", "content_hash", "failure_of"]


def content_hash(text: str) -> str:
    """The SHA-256 of ``text`` (hex, first 32 characters).

    Example:
        >>> content_hash("a")
        'ca978112ca1bbdcafac231b39a23dc4d'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Failure(StrEnum):
    """Why a web call failed, in the few kinds a user acts on differently."""

    REFUSED = "refused"
    """The URL policy or robots.txt refused it: a setting, not the network."""
    TIMEOUT = "timeout"
    """No answer in time (or no rate-limit slot before the deadline)."""
    HTTP = "http"
    """The server answered with an error status."""
    NETWORK = "network"
    """DNS, refused or reset connections."""
    CONTENT = "content"
    """An answer that could not be read (binary, too large, unconvertible)."""
    OTHER = "other"


_FAILURE_WORDS: tuple[tuple[Failure, tuple[str, ...]], ...] = (
    (Failure.REFUSED, ("refused:", "robots.txt", "not allowed", "not public", "has no host",
                       "malformed", "skipped:", "the scheme")),
    (Failure.TIMEOUT, ("timed out", "deadline", "took over", "no slot")),
    (Failure.NETWORK, ("dns", "could not connect", "connection", "reset", "disconnected")),
    (Failure.CONTENT, ("too large", "binary", "cannot be read", "could not be", "pdf",
                       "brought down")),
    (Failure.HTTP, ("http ", "answered", "quota", "status")),
)


def failure_of(response: SearchResults | Page | Extract) -> Failure | None:
    """What kind of failure a web response stands for, or ``None`` when it is fine.

    Example:
        >>> failure_of(Page.failure("https://x.test/", "HTTP 404 Not Found", status=404))
        <Failure.HTTP: 'http'>
        >>> failure_of(SearchResults(query="q", error="timed out after 5.0 s"))
        <Failure.TIMEOUT: 'timeout'>
        >>> failure_of(SearchResults(query="q")) is None
        True
    """
    error = response.error
    if error is None:
        return None
    lowered = error.lower()
    for kind, words in _FAILURE_WORDS:
        if any(word in lowered for word in words):
            return kind
    if isinstance(response, Page) and response.status >= 400:
        return Failure.HTTP
    return Failure.OTHER


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
    def failure(self) -> Failure | None:
        """Why the call failed, or ``None``."""
        return failure_of(self.response)

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
