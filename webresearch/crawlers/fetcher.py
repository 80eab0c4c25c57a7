"""Fetching a page: cache, single flight, robots.txt, HTTP, and conversion to text."""

from __future__ import annotations

import time

from webresearch.crawlers.cache import WebCache
from webresearch.crawlers.content import convert
from webresearch.crawlers.converters import ProcessConverter
from webresearch.crawlers.robots import RobotsPolicy
from webresearch.net.http import HttpClient
from webresearch.net.single_flight import SingleFlight
from webresearch.net.urls import normalize_url
from webresearch.web.base import Page

__all__ = ["PageFetcher"]


class PageFetcher:
    """Turns URLs into :class:`Page` values; world failures become ``Page.error``.

    Identical concurrent fetches share one network call, and a page is parsed once
    however many episodes read it (the cache holds its text, not its HTML).
    """

    def __init__(self, http: HttpClient, *, cache: WebCache | None = None,
                 robots: RobotsPolicy | None = None,
                 converter: ProcessConverter | None = None) -> None:
        self.http = http
        self.cache = cache
        self.robots = robots
        self.converter = converter
        self.flight: SingleFlight[Page] = SingleFlight()

    async def fetch(self, url: str) -> Page:
        if self.cache is not None:
            cached = self.cache.get_page(url)
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
        content_type = response.headers.get("content-type")
        if self.converter is not None:
            converted = await self.converter.convert(response.body, content_type,
                                                     url=response.final_url)
        else:
            converted = convert(response.body, content_type, url=response.final_url)
        page = Page(url, response.final_url, response.status, converted.title, converted.text,
                    now, error=converted.error, links=converted.links)
        if self.cache is not None:
            self.cache.put_page(page)
        return page
