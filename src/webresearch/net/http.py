"""The crawler's HTTP client: limits, retries, redirects and safety around one aiohttp session.

Every call returns a :class:`Response`; world failures (DNS, refused, reset, timeout,
too large, refused by policy) are its ``error``, never exceptions. aiohttp's errors
are translated here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from webresearch.net.pressure import PressureMeter, process_meter
from webresearch.net.rate_limit import RateLimiter
from webresearch.net.retry import CircuitBreaker, RetryPolicy, parse_retry_after
from webresearch.net.safety import (
    BlockedAddress,
    ConnectGuard,
    SafeResolver,
    UrlPolicy,
    connecting_to,
)

__all__ = ["HttpClient", "HttpConfig", "Response"]

logger = logging.getLogger(__name__)
_REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "webresearch/0.1 (LLM research agent; +https://pypi.org/project/webresearch/)"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    """Timeouts, caps and politeness of the crawler's HTTP client."""

    user_agent: str = USER_AGENT
    """Sent with every request; say who you are."""
    connect_timeout_s: float = 10.0
    """Longest wait to connect (DNS and TLS included)."""
    read_timeout_s: float = 20.0
    """Longest wait between two reads of a response."""
    attempt_timeout_s: float = 30.0
    """Longest single try, redirects included."""
    deadline_s: float = 60.0
    """Longest call, retries and rate-limit waits included."""
    max_bytes: int = 4 * 2**20
    """Largest body read (after decompression, so a compression bomb stops here)."""
    max_redirects: int = 5
    """Redirects followed before giving up."""
    max_connections: int = 256
    """Open connections in all."""
    max_per_host: int = 8
    """Open connections per host."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """When to try again."""
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    """What may be reached (schemes, public addresses, allowlist): checked on every URL,
    redirects included, and on the address of every connection."""
    breaker_threshold: int = 5
    """Failures in a row after which a host is skipped for ``breaker_cooldown_s``."""
    breaker_cooldown_s: float = 60.0


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: str
    headers: Mapping[str, str] | None
    params: Mapping[str, str] | None
    json: Any


@dataclass(frozen=True, slots=True)
class Response:
    """The outcome of one call: a response, or the world failure that replaced it.

    Attributes:
        url: The URL asked for.
        final_url: The URL after redirects.
        status: HTTP status of the last response, 0 when none came.
        headers: Response headers, names in lower case.
        body: The (decompressed) body.
        error: What went wrong, or ``None``; a 4xx/5xx is an error too.
        attempts: Tries made.
        retryable: Whether trying again later might succeed.
    """

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    attempts: int = 1
    retryable: bool = False

    @classmethod
    def failure(cls, url: str, error: str, *, retryable: bool = False, status: int = 0,
                attempts: int = 1) -> Response:
        return cls(url, url, status, error=error, retryable=retryable, attempts=attempts)


class HttpClient:
    """One aiohttp session (made on first use, in the running loop) with the crawler's rules.

    Args:
        config: Timeouts, caps, retries and the URL policy.
        limiter: Rate limits by host (``rate_key``); ``None`` for none.
        resolver: The DNS resolver the policy wraps (tests inject a fixed one).
        seed: Seeds the backoff jitter.
        meter: Counts every try, 429s and Retry-After included (the process's meter by
            default), for whoever paces the work above.
    """

    def __init__(self, config: HttpConfig | None = None, *, limiter: RateLimiter | None = None,
                 resolver: AbstractResolver | None = None, seed: int | None = None,
                 meter: PressureMeter | None = None) -> None:
        self.config = config or HttpConfig()
        self.limiter = limiter
        self.meter = meter or process_meter()
        self.breaker = CircuitBreaker(threshold=self.config.breaker_threshold,
                                      cooldown_s=self.config.breaker_cooldown_s)
        self._resolver = resolver
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None
        self.guard = ConnectGuard(self.config.url_policy)
        """Checks the address of every connection this client opens."""
        self.requests = 0
        """Tries sent over the network by this client."""

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            c = self.config
            connector = aiohttp.TCPConnector(
                resolver=SafeResolver(c.url_policy, self._resolver), socket_factory=self.guard,
                limit=c.max_connections, limit_per_host=c.max_per_host, ttl_dns_cache=300)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=c.connect_timeout_s,
                                            sock_read=c.read_timeout_s)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, headers={"User-Agent": c.user_agent},
                cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        return self._session

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None, json: Any = None,
                      rate_key: str | None = None, deadline: float | None = None) -> Response:
        """Send a request with retries; never raises for world failures.

        ``deadline`` is a ``time.time()`` value; the default is now plus ``deadline_s``.
        """
        refused = self.config.url_policy.check_url(url)
        if refused is not None:
            return Response.failure(url, f"refused: {refused}")
        host = urlsplit(url).netloc.lower()
        wait = self.breaker.open_for(host)
        if wait > 0:
            return Response.failure(url, f"skipped: {host} keeps failing (retry in {wait:.0f} s)",
                                    retryable=True)
        deadline = deadline or time.time() + self.config.deadline_s
        response = Response.failure(url, "no attempt was made")
        for attempt in range(self.config.retry.attempts):
            if self.limiter is not None and not await self.limiter.acquire(
                    rate_key or host, deadline=deadline):
                return _with(response, error="rate limit: no slot before the deadline",
                             attempts=attempt)
            sent = time.monotonic()
            response = await self._attempt(_Request(method, url, headers, params, json), deadline)
            response = _with(response, attempts=attempt + 1)
            self.meter.record(response.status, parse_retry_after(
                response.headers.get("retry-after")) if response.status >= 400 else None,
                time.monotonic() - sent)
            if not response.retryable or attempt + 1 == self.config.retry.attempts:
                break
            pause = self._pause(response, attempt)
            if pause is None or time.time() + pause > deadline:
                break
            await asyncio.sleep(pause)
        self._record(host, response)
        return response

    def _pause(self, response: Response, attempt: int) -> float | None:
        """Seconds to wait before the next try, or ``None`` to stop trying."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            return retry_after if retry_after <= self.config.retry.max_retry_after_s else None
        return self.config.retry.backoff(attempt, self._rng)

    def _record(self, host: str, response: Response) -> None:
        if response.retryable:
            self.breaker.failure(host)
        elif response.status or response.error is None:
            self.breaker.success(host)

    async def _attempt(self, request: _Request, deadline: float) -> Response:
        url = request.url
        budget = min(self.config.attempt_timeout_s, deadline - time.time())
        if budget <= 0:
            return Response.failure(url, "timed out: the call's deadline passed", retryable=False)
        try:
            async with asyncio.timeout(budget):
                return await self._follow(request)
        except TimeoutError:
            return Response.failure(url, f"timed out after {budget:.1f} s", retryable=True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):  # by the resolver or the guard
                return Response.failure(url, f"refused: {exc.os_error}")
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                return Response.failure(url, f"DNS lookup failed for {exc.host}")
            return Response.failure(url, f"could not connect to {exc.host}:{exc.port} "
                                    f"({exc.strerror or 'refused'})", retryable=True)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return Response.failure(url, "the connection was reset", retryable=True)
        except aiohttp.ClientPayloadError:
            return Response.failure(url, "the response was cut off before its end", retryable=True)
        except (aiohttp.InvalidURL, ValueError) as exc:
            return Response.failure(url, f"the URL is malformed ({exc})")
        except aiohttp.ClientError as exc:
            return Response.failure(url, f"the request failed ({type(exc).__name__})",
                                    retryable=True)

    async def _follow(self, request: _Request) -> Response:
        """One try: follow redirects by hand, checking every hop, and read the body capped.

        A loop is a URL that redirects to the same place a second time; a URL that is
        revisited and then answers (a cookie-setting bounce) is not one.
        """
        url, method, params, json = request.url, request.method, request.params, request.json
        session, hops, current = self._get_session(), dict[URL, URL](), URL(url)
        for _ in range(self.config.max_redirects + 1):
            refused = self.config.url_policy.check_url(current)  # the URL aiohttp will use
            if refused is not None:
                return Response.failure(url, f"refused: a redirect led to {current}: {refused}")
            self.requests += 1
            with connecting_to(current.raw_host or ""):
                async with session.request(method, current, headers=request.headers,
                                           params=params, json=json,
                                           allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status not in _REDIRECTS or not location:
                        return await self._read(url, resp)
                    try:  # where it leads, if aiohttp could go there at all (IDNA, yarl)
                        target = resp.url.join(URL(location))
                    except ValueError as exc:
                        return Response.failure(url, f"refused: a redirect led to {location!r}: "
                                                f"the URL is malformed ({exc})")
            if hops.get(current) == target:
                return Response.failure(url, f"redirect loop at {current}")
            hops[current], current = target, target
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, json, params = "GET", None, None
        return Response.failure(url, f"too many redirects (more than {self.config.max_redirects})")

    async def _read(self, url: str, resp: aiohttp.ClientResponse) -> Response:
        limit = self.config.max_bytes
        headers = {k.lower(): v for k, v in resp.headers.items()}
        final_url = str(resp.url)
        if resp.content_length is not None and resp.content_length > limit:
            return Response(url, final_url, resp.status, headers,
                            error=f"the page is too large ({resp.content_length} bytes, "
                                  f"limit {limit})")
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                return Response(url, final_url, resp.status, headers,
                                error=f"the page is too large (over {limit} bytes)")
            chunks.append(chunk)
        body = b"".join(chunks)
        if resp.status >= 400:
            retryable = resp.status in self.config.retry.retry_statuses
            return Response(url, final_url, resp.status, headers, body,
                            error=f"HTTP {resp.status} {resp.reason or ''}".rstrip(),
                            retryable=retryable)
        return Response(url, final_url, resp.status, headers, body)

    async def aclose(self) -> None:
        """Close the session; safe to call twice."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _with(response: Response, **changes: Any) -> Response:
    return replace(response, **changes)
