"""Seeded failure injection for the simulated internet: latency, 429s, 5xx, resets, drips,
and a real rate limit (a token bucket the client is not told of); and its ``/_test/...``
routes, each failure mode of the web on demand."""

from __future__ import annotations

import asyncio
import functools
import gzip
import math
import random
from dataclasses import dataclass

from aiohttp import web

from webresearch.errors import ConfigError

__all__ = ["COUNTERS", "LATENCIES", "Fault", "Faults", "TokenBucket", "add_test_routes",
           "broken_body", "pdf_document"]

LATENCIES = ("fixed", "lognormal", "heavy")


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """What goes wrong, how often, on the simulated internet's pages and search endpoints.

    Example:
        >>> faults = Faults(seed=1, rate_429=1.0)
        >>> faults.draw(random.Random(0)).kind
        '429'
        >>> Faults().draw(random.Random(0)).kind
        'ok'
    """

    seed: int = 0
    """Seeds every draw, so a run's faults can be replayed."""
    latency: str = "fixed"
    """Latency distribution: ``fixed``, ``lognormal`` (median ``latency_ms``, sigma 0.5) or
    ``heavy`` (Pareto tail, alpha 1.5, capped at 30 s)."""
    latency_ms: float = 0.0
    """Latency scale in milliseconds (0: answer at once)."""
    rate_429: float = 0.0
    """Share of requests answered 429 with ``Retry-After``."""
    retry_after_s: float = 1.0
    """The ``Retry-After`` of injected 429s."""
    rate_5xx: float = 0.0
    """Share answered 500/502/503."""
    rate_reset: float = 0.0
    """Share whose connection is reset before any response."""
    rate_truncated: float = 0.0
    """Share whose body stops before its announced length."""
    rate_drip: float = 0.0
    """Share sent a few bytes at a time, slowly."""
    rate_redirect: float = 0.0
    """Share sent through a chain of redirects first."""
    pad_kb: int = 0
    """Pad every page with extra prose to at least this many kilobytes."""
    rate_limit_rps: float = 0.0
    """A real rate limit over every client together (0: none): a token bucket of this many
    requests per second, ``rate_limit_burst`` deep; a request that finds it empty is
    answered 429 at once with ``Retry-After: retry_after_s`` and takes no token."""
    rate_limit_burst: int = 1
    """Depth of the rate limit's bucket (requests admitted at once after a quiet spell)."""
    rate_limit_counts_refused: bool = False
    """Refused requests take a token too (the bucket owes up to one burst), as APIs that
    count unsuccessful requests against the limit do (OpenAI's): hammering then lowers
    what gets through."""

    def __post_init__(self) -> None:
        if self.latency not in LATENCIES:
            raise ConfigError(f"Expects latency in {list(LATENCIES)}, actual: {self.latency!r}")
        rates = [self.rate_429, self.rate_5xx, self.rate_reset, self.rate_truncated,
                 self.rate_drip, self.rate_redirect]
        if any(r < 0 for r in rates) or sum(rates) > 1.0:
            raise ConfigError(f"Expects fault rates >= 0 that sum to <= 1, actual: {rates}")
        if self.rate_limit_rps < 0 or self.rate_limit_burst < 1:
            raise ConfigError(f"Expects rate_limit_rps >= 0 and rate_limit_burst >= 1, actual: "
                              f"{self.rate_limit_rps}, {self.rate_limit_burst}")

    def delay_s(self, rng: random.Random) -> float:
        """A latency drawn from the configured distribution, in seconds."""
        scale = self.latency_ms / 1000.0
        if scale <= 0:
            return 0.0
        if self.latency == "lognormal":
            return scale * math.exp(rng.gauss(0.0, 0.5))
        if self.latency == "heavy":
            return min(30.0, scale * rng.paretovariate(1.5))
        return scale

    def draw(self, rng: random.Random) -> Fault:
        """The fault (or ``ok``) for one request."""
        roll = rng.random()
        for kind, rate in (("429", self.rate_429), ("5xx", self.rate_5xx),
                           ("reset", self.rate_reset), ("truncated", self.rate_truncated),
                           ("drip", self.rate_drip), ("redirect", self.rate_redirect)):
            if roll < rate:
                return Fault(kind, self.delay_s(rng))
            roll -= rate
        return Fault("ok", self.delay_s(rng))


@dataclass(frozen=True, slots=True)
class Fault:
    """One request's fate: ``kind`` (``ok``, ``429``, ``5xx``, ...) after ``delay_s``."""

    kind: str
    delay_s: float


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` kept; each admitted request takes one.

    Example:
        >>> bucket = TokenBucket(2.0, 1, now=0.0)
        >>> [bucket.admit(t) for t in (0.0, 0.1, 0.5, 0.6)]
        [True, False, True, False]
    """

    def __init__(self, rate: float, burst: int, *, now: float,
                 counts_refused: bool = False) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError(f"Expects rate > 0 and burst >= 1, actual: {rate}, {burst}")
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), now
        self.counts_refused = counts_refused

    def admit(self, now: float) -> bool:
        """Take a token at ``now`` (seconds, never going back) if one is there; a refused
        request takes one too with ``counts_refused`` (down to a debt of one burst)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        if self.counts_refused:
            self.tokens = max(-self.burst, self.tokens - 1.0)
        return False


COUNTERS = web.AppKey("test_counters", dict[str, int])
"""Requests seen per flaky route."""

_PAGE = "<html><head><title>{title}</title></head><body><main><p>{text}</p></main></body></html>"


def add_test_routes(app: web.Application) -> None:
    """Add the failure routes to ``app`` (see each handler's docstring)."""
    app[COUNTERS] = {}
    app.add_routes([
        web.get("/_test/status/{code}", _status),
        web.get("/_test/flaky/{name}", _flaky),
        web.get("/_test/redirect/{n}", _redirect),
        web.get("/_test/loop/{side}", _loop),
        web.get("/_test/redirect-to", _redirect_to),
        web.get("/_test/huge", _huge),
        web.get("/_test/bomb", _bomb),
        web.get("/_test/charset/{case}", _charset),
        web.get("/_test/binary", _binary),
        web.get("/_test/broken/{kind}", _broken),
        web.get("/_test/slow", _slow),
        web.get("/_test/pdf", _pdf),
        web.get("/_test/image", _image),
        web.get("/_test/text", _text),
    ])


def _html(title: str, text: str, *, charset: str = "utf-8") -> web.Response:
    return web.Response(text=_PAGE.format(title=title, text=text), content_type="text/html",
                        charset=charset)


async def _status(request: web.Request) -> web.Response:
    """Answer with the status in the path."""
    return web.Response(status=int(request.match_info["code"]), text="status page")


async def _flaky(request: web.Request) -> web.Response:
    """Fail ``?fail=N`` times (429 with ``?after=S`` Retry-After, or ``?status=503``), then work."""
    counters = request.app[COUNTERS]
    name = request.match_info["name"]
    seen = counters.get(name, 0)
    counters[name] = seen + 1
    if seen < int(request.query.get("fail", "1")):
        status = int(request.query.get("status", "429"))
        headers = {"Retry-After": request.query["after"]} if "after" in request.query else {}
        return web.Response(status=status, text="try later", headers=headers)
    return _html("Flaky", f"worked after {seen} failures")


async def _redirect(request: web.Request) -> web.Response:
    """Redirect ``n`` times, then to ``?to=`` (default: a plain page)."""
    n = int(request.match_info["n"])
    to = request.query.get("to", "/_test/text")
    if n <= 0:
        raise web.HTTPFound(to)
    raise web.HTTPFound(f"/_test/redirect/{n - 1}?to={to}")


async def _loop(request: web.Request) -> web.Response:
    """``a`` redirects to ``b`` and ``b`` back to ``a``."""
    other = "b" if request.match_info["side"] == "a" else "a"
    raise web.HTTPFound(f"/_test/loop/{other}")


async def _redirect_to(request: web.Request) -> web.Response:
    """Redirect to any ``?url=`` (for SSRF tests)."""
    raise web.HTTPFound(request.query["url"])


async def _huge(request: web.Request) -> web.StreamResponse:
    """A page of ``?mb=`` megabytes (default 8), streamed without Content-Length."""
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"<p>" + b"x" * 65530 + b"</p>"
    for _ in range(int(float(request.query.get("mb", "8")) * 16)):
        await response.write(chunk)
    await response.write_eof()
    return response


@functools.lru_cache(maxsize=1)
def _bomb_body() -> bytes:
    return gzip.compress(b"<html><body><p>" + b"\0" * (64 * 2**20) + b"</p></body></html>", 1)


async def _bomb(request: web.Request) -> web.Response:
    """A gzip body of about 300 KB that inflates to 64 MB."""
    body = await asyncio.to_thread(_bomb_body)
    return web.Response(body=body, headers={"Content-Type": "text/html",
                                            "Content-Encoding": "gzip"})


async def _charset(request: web.Request) -> web.Response:
    """``wrong``: cp1252 declared UTF-8; ``missing``: no charset; ``meta``: only a meta tag."""
    case = request.match_info["case"]
    text = "Café Zoë naïve — “quoted”"
    if case == "wrong":
        body = _PAGE.format(title="Wrong", text=text).encode("cp1252")
        return web.Response(body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    if case == "meta":
        page = _PAGE.replace("<head>", '<head><meta charset="windows-1252">')
        body = page.format(title="Meta", text=text).encode("cp1252")
        return web.Response(body=body, headers={"Content-Type": "text/html"})
    body = _PAGE.format(title="Missing", text=text).encode("utf-8")
    return web.Response(body=body, headers={"Content-Type": "text/html"})


async def _binary(request: web.Request) -> web.Response:
    """Random bytes served as ``text/html``."""
    return web.Response(body=bytes(range(256)) * 64, headers={"Content-Type": "text/html"})


async def _broken(request: web.Request) -> web.StreamResponse:
    """``reset``, ``truncated`` or ``drip`` (``?seconds=`` long) versions of a plain page."""
    body = _PAGE.format(title="Broken", text="some text " * 200).encode()
    return await broken_body(request, body, request.match_info["kind"])


async def broken_body(request: web.Request, body: bytes, kind: str) -> web.StreamResponse:
    """Send ``body`` broken in the way ``kind`` names."""
    if kind == "reset":
        assert request.transport is not None
        request.transport.abort()
        return web.Response(status=500)
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.content_length = len(body)
    await response.prepare(request)
    if kind == "truncated":
        await response.write(body[: len(body) // 3])
        assert request.transport is not None
        request.transport.abort()
        return response
    seconds = float(request.query.get("seconds", "1"))
    pieces = max(1, len(body) // 64)
    for i in range(0, len(body), 64):
        await response.write(body[i:i + 64])
        await asyncio.sleep(seconds / pieces)
    await response.write_eof()
    return response


async def _slow(request: web.Request) -> web.Response:
    """Wait ``?seconds=`` before answering."""
    await asyncio.sleep(float(request.query.get("seconds", "5")))
    return _html("Slow", "finally")


def _pdf_bytes(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_document(objects)


def pdf_document(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (numbered from 1, the first the catalog) and its
    cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


async def _pdf(request: web.Request) -> web.Response:
    """A one-page PDF that says ``Hello from a PDF``."""
    return web.Response(body=_pdf_bytes("Hello from a PDF"),
                        headers={"Content-Type": "application/pdf"})


async def _image(request: web.Request) -> web.Response:
    """A PNG signature and some bytes, as ``image/png``."""
    return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")


async def _text(request: web.Request) -> web.Response:
    """A plain-text page."""
    return web.Response(text="Just plain text.\nTwo lines.", content_type="text/plain")
