"""robots.txt, fetched once per origin (in flight, in memory, on disk) and obeyed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from protego import Protego

from webresearch.crawlers.cache import DAY, WebCache
from webresearch.crawlers.content import decode, media_type
from webresearch.net.http import HttpClient
from webresearch.net.single_flight import SingleFlight
from webresearch.net.urls import origin

__all__ = ["MAX_ROBOTS_BYTES", "RobotsPolicy"]

_RETRY_UNREADABLE_S = 600.0
MAX_ROBOTS_BYTES = 500 * 1024
"""Bytes of a robots.txt parsed, the rest ignored (RFC 9309's floor, Google's limit): the
parse runs on the event loop, so an untrusted file must not make it long."""


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """An origin's robots.txt that could not be read, and why (the origin is disallowed)."""

    reason: str


class RobotsPolicy:
    """Decides whether a URL may be crawled, per its origin's robots.txt (RFC 9309).

    A missing robots.txt (4xx) allows everything; one that cannot be read (5xx,
    timeout) disallows the origin for ten minutes, as the RFC asks.
    """

    def __init__(self, http: HttpClient, *, user_agent: str = "webresearch",
                 cache: WebCache | None = None, ttl_s: float = DAY) -> None:
        self.http = http
        self.user_agent = user_agent
        self.cache = cache
        self.ttl_s = ttl_s
        self._rules: dict[str, tuple[float, Protego | _Unreadable]] = {}
        self._flight: SingleFlight[Protego | _Unreadable] = SingleFlight()

    async def check(self, url: str) -> str | None:
        """Why robots.txt forbids ``url``, or ``None`` when it may be fetched."""
        site = origin(url)
        entry = self._rules.get(site)
        if entry is None or entry[0] < time.monotonic():
            rules = await self._flight.run(site, lambda: self._load(site))
        else:
            rules = entry[1]
        if isinstance(rules, _Unreadable):
            return rules.reason
        if not rules.can_fetch(url, self.user_agent):
            return f"robots.txt of {site} disallows {url}"
        return None

    async def _load(self, site: str) -> Protego | _Unreadable:
        text = self.cache.get_text(f"robots:{site}") if self.cache else None
        if text is None:
            response = await self.http.request("GET", f"{site}/robots.txt",
                                               deadline=time.time() + 20.0)
            if 200 <= response.status < 300 and response.error is None:
                charset = media_type(response.headers.get("content-type"))[1]
                text = decode(response.body[:MAX_ROBOTS_BYTES], charset)
            elif 400 <= response.status < 500:
                text = ""
            else:
                reason = _Unreadable(f"robots.txt of {site} could not be read ({response.error})")
                self._rules[site] = (time.monotonic() + _RETRY_UNREADABLE_S, reason)
                return reason
            if self.cache is not None:
                self.cache.put_text(f"robots:{site}", text, self.ttl_s)
        rules = Protego.parse(text)
        self._rules[site] = (time.monotonic() + self.ttl_s, rules)
        return rules
