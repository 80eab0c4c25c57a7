"""The live web as a backend: a search API and a page fetcher, limited, cached and safe.

A page is fetched through the URL policy, the cache, single flight, robots.txt, HTTP, and
conversion to text, in that order (:class:`PageFetcher`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver

from webresearch._home import default_cache_dir
from webresearch.crawlers.cache import DAY, WebCache
from webresearch.crawlers.converters import ProcessConverter
from webresearch.crawlers.robots import RobotsPolicy
from webresearch.crawlers.search import ENGINES, SearchEngine
from webresearch.errors import unknown_name_error
from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.rate_limit import (
    Rate,
    RateAuthority,
    RateLimiter,
    SqliteAuthority,
    default_authority,
)
from webresearch.net.safety import UrlPolicy
from webresearch.net.secrets import Secret
from webresearch.net.single_flight import SingleFlight
from webresearch.net.urls import normalize_url
from webresearch.untrusted import scalar_text
from webresearch.web.backend import Page, SearchResults, WebBackend

__all__ = ["LiveWeb", "LiveWebConfig", "PageFetcher", "cache_scope", "default_cache_dir"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveWebConfig:
    """How the env reaches the real web."""

    engine: str = "serper"
    """Search API: ``serper``, ``searxng`` or ``brave``."""
    endpoint: str | None = None
    """The search API's base URL (the engine's public one by default)."""
    api_key: Secret | str | None = field(default=None, repr=False)
    """The search API key; ``None`` reads the engine's environment variable. A string is
    kept as a :class:`~webresearch.net.secrets.Secret`, so ``asdict``, ``repr``, JSON
    (with ``default=str``) and the run record show ``***``; pickling keeps the key."""
    http: HttpConfig = field(default_factory=HttpConfig)
    """Timeouts, caps, retries, URL policy."""
    host_rate: Rate = field(default_factory=lambda: Rate(per_second=2.0, burst=2))
    """Requests per second to any one host."""
    search_rate: Rate = field(default_factory=lambda: Rate(per_second=5.0, burst=5))
    """Requests per second to the search API."""
    rate_authority: str | RateAuthority | None = None
    """Who hands out request slots: the path of a SQLite file shared by the processes of a
    machine, or any :class:`~webresearch.net.rate_limit.RateAuthority` (a Ray run's
    authority actor). ``None`` asks the one installed in this process with
    :func:`~webresearch.net.rate_limit.use_authority` (a Ray worker installs its run's),
    and without one limits this process only."""
    cache_dir: str | None = field(default_factory=default_cache_dir)
    """Disk cache shared by every process on the machine; ``None`` for no cache."""
    search_ttl_s: float = 7 * DAY
    """How long search results are reused (DeepResearcher: 7 days)."""
    page_ttl_s: float = 7 * DAY
    """How long pages are reused."""
    respect_robots: bool = True
    """Obey robots.txt."""
    convert_processes: int = 1
    """Worker processes that turn pages into text (at least 1): untrusted bytes are never
    parsed on the event loop, and a page past the converter's time or memory bound is a
    page error. On a machine with cores to spare, more lift pages/s under load."""

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key))


def _authority(spec: str | RateAuthority | None) -> RateAuthority | None:
    if spec is None or spec == "":
        return default_authority()
    return SqliteAuthority(spec) if isinstance(spec, str) else spec


def _engine_type(name: str) -> type[SearchEngine]:
    if name not in ENGINES:
        raise unknown_name_error("search engine", name, ENGINES)
    return ENGINES[name]


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


class _Services:
    """What every LiveWeb of one config shares inside one event loop: one session, one cache."""

    def __init__(self, config: LiveWebConfig, resolver: AbstractResolver | None) -> None:
        authority = _authority(config.rate_authority)
        self.limiter = RateLimiter(authority, default=config.host_rate)
        self.http = HttpClient(config.http, limiter=self.limiter, resolver=resolver)
        self.cache = (WebCache(config.cache_dir, search_ttl_s=config.search_ttl_s,
                               page_ttl_s=config.page_ttl_s) if config.cache_dir else None)
        robots = (RobotsPolicy(self.http, cache=self.cache) if config.respect_robots else None)
        self.converter = ProcessConverter(config.convert_processes)
        self.fetcher = PageFetcher(self.http, cache=self.cache, robots=robots,
                                   converter=self.converter)
        self.engine: SearchEngine = _engine_type(config.engine)(
            self.http, endpoint=config.endpoint, api_key=config.api_key)
        self.limiter.rates[self.engine.rate_key] = config.search_rate
        self.searches: SingleFlight[SearchResults] = SingleFlight()
        self.users = 0

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.cache is not None:
            self.cache.close()
        await self.converter.aclose()


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, _Services]] = (
    weakref.WeakKeyDictionary())


class LiveWeb(WebBackend):
    """Search with a real search API and read real pages (``web="live"``).

    All LiveWeb backends with the same configuration in one event loop share one
    aiohttp session, one rate limiter and one cache; the last to close releases them.

    A backend built by hand and passed to an env (``web=LiveWeb(...)``) stays its
    builder's: the env releases only what the backend holds on the env's own event
    loop (:meth:`release_loop`), so no session is left unclosed, and the backend can be
    used again and closed afterwards (:meth:`aclose` or :meth:`close`, each safe to repeat).

    Args:
        config: Engine, limits, cache and safety.
        resolver: DNS resolver under the URL policy (tests map names to loopback).
    """

    def __init__(self, config: LiveWebConfig | None = None, *,
                 resolver: AbstractResolver | None = None) -> None:
        self.config = config or LiveWebConfig()
        self._resolver = resolver
        self._services: _Services | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def check(self) -> None:
        """Raise a :class:`~webresearch.errors.ConfigError` for a configuration that cannot
        work (an unknown engine, a missing endpoint or API key) without a request: what a
        command checks before its first episode."""
        _engine_type(self.config.engine).settings(self.config.endpoint, self.config.api_key)

    def spec(self) -> str | None:
        plain = LiveWebConfig(engine=self.config.engine)
        return f"live:{self.config.engine}" if self.config == plain else None

    @property
    def services(self) -> _Services:
        """The shared services of the running loop (made on first use)."""
        loop = asyncio.get_running_loop()
        if self._services is not None and self._loop is not loop:
            self._drop()  # used on another loop before (a closed env's): start anew here
        if self._services is None:
            shared = _SHARED.setdefault(loop, {})
            key = (self.config, id(self._resolver))
            if key not in shared:
                shared[key] = _Services(self.config, self._resolver)
            self._services, self._loop = shared[key], loop
            self._services.users += 1
        return self._services

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        query = scalar_text(query)  # a cache key and a request body: text UTF-8 can carry
        services = self.services
        name = services.engine.name
        if services.cache is not None:
            cached = services.cache.get_search(name, query, k)
            if cached is not None:
                return cached
        results = await services.searches.run(
            f"{name}:{k}:{query}", lambda: services.engine.search(query, k=k))
        if services.cache is not None:
            services.cache.put_search(name, results, k)
        return results

    async def fetch(self, url: str) -> Page:
        return await self.services.fetcher.fetch(scalar_text(url))

    def stats(self) -> dict[str, int]:
        """Cache and network counters of the shared services (zeros before first use)."""
        s = self._services
        if s is None:
            return {}
        cache = s.cache.stats if s.cache is not None else None
        return {"requests": s.http.requests, "cache_hits": cache.hits if cache else 0,
                "cache_misses": cache.misses if cache else 0,
                "shared_in_flight": s.fetcher.flight.shared + s.searches.shared}

    async def release_loop(self) -> None:
        """Release what this backend holds on the running loop (its owner, an env, is about
        to close that loop); a later call on another loop starts new services."""
        if self._services is not None and self._loop is asyncio.get_running_loop():
            await self.aclose()

    async def aclose(self) -> None:
        """Release the shared services (the last user closes them); safe to repeat."""
        loop = self._loop
        services = self._drop()
        if services is None or loop is None:
            return
        if loop is asyncio.get_running_loop():
            await services.aclose()
        elif not loop.is_closed() and not loop.is_running():  # made on a loop now idle
            await asyncio.to_thread(loop.run_until_complete, services.aclose())

    def close(self) -> None:
        """:meth:`aclose` for code without an event loop of its own; safe to repeat."""
        if self._services is not None:
            asyncio.run(self.aclose())

    def _drop(self) -> _Services | None:
        """Stop using the shared services; returns them if this was their last user."""
        services, loop, self._services, self._loop = self._services, self._loop, None, None
        if services is None or loop is None:
            return None
        services.users -= 1
        if services.users > 0:
            return None
        _SHARED.get(loop, {}).pop((self.config, id(self._resolver)), None)
        return services
