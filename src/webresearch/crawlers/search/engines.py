"""Search API clients: Serper (Google results), SearXNG (self-hosted) and Brave."""

from __future__ import annotations

from typing import Any, ClassVar

from webresearch.crawlers.search.client import SearchEngine, clean, text_field
from webresearch.net.http import Response
from webresearch.web.backend import SearchHit

__all__ = ["BraveSearch", "SearXNG", "SerperSearch"]


class SerperSearch(SearchEngine):
    """Serper.dev: Google results as JSON (DeepResearcher's engine); key in ``$SERPER_API_KEY``."""

    name: ClassVar[str] = "serper"
    default_endpoint: ClassVar[str | None] = "https://google.serper.dev"
    key_variable: ClassVar[str | None] = "SERPER_API_KEY"

    async def _send(self, query: str, k: int) -> Response:
        return await self.http.request(
            "POST", f"{self.endpoint}/search", json={"q": query, "num": k},
            headers={"X-API-KEY": self._key(), "Content-Type": "application/json"},
            rate_key=self.rate_key)

    def _hits(self, data: Any) -> list[SearchHit]:
        return [SearchHit(clean(r.get("title")), text_field(r, "link"), clean(r.get("snippet")))
                for r in data.get("organic", [])]


class SearXNG(SearchEngine):
    """A SearXNG instance's JSON API (``format=json`` must be enabled); URL in ``$SEARXNG_URL``."""

    name: ClassVar[str] = "searxng"
    endpoint_variable: ClassVar[str | None] = "SEARXNG_URL"

    async def _send(self, query: str, k: int) -> Response:
        return await self.http.request(
            "GET", f"{self.endpoint}/search", params={"q": query, "format": "json"},
            headers={"Accept": "application/json"}, rate_key=self.rate_key)

    def _hits(self, data: Any) -> list[SearchHit]:
        return [SearchHit(clean(r.get("title")), text_field(r, "url"), clean(r.get("content")))
                for r in data.get("results", [])]


class BraveSearch(SearchEngine):
    """Brave's Web Search API; key in ``$BRAVE_API_KEY``."""

    name: ClassVar[str] = "brave"
    default_endpoint: ClassVar[str | None] = "https://api.search.brave.com"
    key_variable: ClassVar[str | None] = "BRAVE_API_KEY"

    async def _send(self, query: str, k: int) -> Response:
        return await self.http.request(
            "GET", f"{self.endpoint}/res/v1/web/search",
            params={"q": query, "count": str(min(k, 20))},
            headers={"X-Subscription-Token": self._key(),
                     "Accept": "application/json"},
            rate_key=self.rate_key)

    def _hits(self, data: Any) -> list[SearchHit]:
        results = (data.get("web") or {}).get("results", [])
        return [SearchHit(clean(r.get("title")), text_field(r, "url"), clean(r.get("description")))
                for r in results]
