"""Fetching a page: URL policy, cache, single flight, robots.txt, HTTP, and conversion to text."""

from __future__ import annotations

import hashlib
import time

from webresearch.crawlers.cache import WebCache
from webresearch.crawlers.converters import ProcessConverter
from webresearch.crawlers.robots import RobotsPolicy
from webresearch.net.http import HttpClient
from webresearch.net.safety import UrlPolicy
from webresearch.net.single_flight import SingleFlight
from webresearch.net.urls import normalize_url
from webresearch.web.backend import Page

__all__ = ["PageFetcher", "cache_scope"]


def cache_scope(policy: UrlPolicy) -> str:
    """The part of a page's cache key that names the URL policy it was fetched under.

    A page fetched under an allowlist is served only to fetchers with the same policy,
    so a host one policy opens never leaks through the shared cache to a policy that
    refuses it (a name is refused only when it resolves, which a cache hit skips).
    Pages fetched under the default policy, the strictest, share the empty scope.

    Example:
        >>> cache_scope(UrlPolicy())
        ''
        >>> cache_scope(UrlPolicy(allow=("127.0.0.0/8",))).startswith("policy-")
        True
    """
    if policy == UrlPolicy():
        return ""
    return f"policy-{hashlib.sha256(repr(policy).encode()).hexdigest()[:16]}:"


class PageFetcher:
    """Turns URLs into :class:`Page` values; world failures become ``Page.error``.

    The URL policy is checked before anything else, the cache included, so a refused
    host is refused whether or not a page of it is cached. Identical concurrent
    fetches share one network call, and a page is parsed once however many episodes
    read it (the cache holds its text, not its HTML). Bodies are converted to text by
    ``converter``'s worker processes, never on the event loop.
    """

    def __init__(self, http: HttpClient, *, converter: ProcessConverter,
                 cache: WebCache | None = None, robots: RobotsPolicy | None = None) -> None:
        self.http = http
        self.cache = cache
        self.robots = robots
        self.converter = converter
        self.flight: SingleFlight[Page] = SingleFlight()
        self._scope = cache_scope(http.config.url_policy)

    async def fetch(self, url: str) -> Page:
        refused = self.http.config.url_policy.check_url(url)
        if refused is not None:
            return Page.failure(url, f"refused: {refused}")
        if self.cache is not None:
            cached = self.cache.get_page(url, scope=self._scope)
            if cached is not None:
                return cached
        return await self.flight.run(normalize_url(url), lambda: self._fetch(url))

    async def _fetch(self, url: str) -> Page:
        if self.robots is not None:
            reason = await self.robots.check(url)
            if reason is not None:
                return Page.failure(url, reason)
        response = await self.http.request("GET", url)
        now = time.time()
        if response.error is not None:
            return Page(url, response.final_url, response.status, "", "", now,
                        error=response.error)
        converted = await self.converter.convert(response.body,
                                                 response.headers.get("content-type"),
                                                 url=response.final_url)
        page = Page(url, response.final_url, response.status, converted.title, converted.text,
                    now, error=converted.error, links=converted.links)
        if self.cache is not None:
            self.cache.put_page(page, scope=self._scope)
        return page
