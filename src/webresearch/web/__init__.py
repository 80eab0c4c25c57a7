"""Web backends: the interface the env sees, the record of a call, and a mock for tests."""

from __future__ import annotations

from webresearch.web.backend import Page, SearchHit, SearchResults, WebBackend
from webresearch.web.calls import WebCall, content_hash
from webresearch.web.mock import MockWeb

__all__ = [
    "MockWeb",
    "Page",
    "SearchHit",
    "SearchResults",
    "WebBackend",
    "WebCall",
    "content_hash",
]
