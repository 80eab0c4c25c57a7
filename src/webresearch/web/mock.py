"""An in-memory web backend driven by handler functions, for tests (httpx's MockTransport)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from webresearch.web.backend import Page, SearchHit, SearchResults, WebBackend

__all__ = ["MockWeb"]

SearchHandler = Callable[[str, int], "SearchResults | list[SearchHit] | Awaitable[SearchResults]"]
FetchHandler = Callable[[str], "Page | str | Awaitable[Page]"]


class MockWeb(WebBackend):
    """A backend whose answers come from two plain functions.

    A search handler may return a :class:`SearchResults` or a list of hits; a fetch
    handler may return a :class:`Page` or just the page text. Either may be async.

    Example:
        >>> import asyncio
        >>> web = MockWeb(fetch=lambda url: f"text of {url}")
        >>> asyncio.run(web.fetch("https://a.test/")).text
        'text of https://a.test/'
        >>> asyncio.run(web.search("anything")).hits
        ()
    """

    def __init__(
        self,
        *,
        search: SearchHandler | None = None,
        fetch: FetchHandler | None = None,
    ) -> None:
        self._search = search
        self._fetch = fetch
        self.requests: list[tuple[str, str]] = []
        """Every call made, as ``("search", query)`` or ``("fetch", url)``."""

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        self.requests.append(("search", query))
        if self._search is None:
            return SearchResults(query=query)
        out = self._search(query, k)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, SearchResults):
            return out
        return SearchResults(query=query, hits=tuple(out)[:k])

    async def fetch(self, url: str) -> Page:
        self.requests.append(("fetch", url))
        if self._fetch is None:
            return Page.failure(url, "404 Not Found", status=404)
        out = self._fetch(url)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, Page):
            return out
        return Page(url=url, final_url=url, status=200, title="", text=str(out))
