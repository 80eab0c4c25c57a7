"""The simulated web over loopback HTTP: pages as a site, search as Serper, SearXNG and Brave APIs.

The live backend runs unchanged against it. Random faults (:class:`Faults`) hit pages
and search calls; ``/_test/...`` routes produce each failure on demand.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from aiohttp import web

from webresearch.sim.faults import Fault, Faults, TokenBucket, add_test_routes, broken_body
from webresearch.sim.pages import filler_sentence
from webresearch.sim.sim_web import HOST, SimSite
from webresearch.sim.world import WorldConfig
from webresearch.tasks import Task

__all__ = ["RequestRecord", "SimInternet", "served_tasks"]

_SIM_PREFIX = f"https://{HOST}/wiki/"


def served_tasks(tasks: Sequence[Task], base_url: str) -> list[Task]:
    """The tasks with their supporting pages at the server's URLs (what its search shows).

    Example:
        >>> from webresearch.sim.sim_web import SimWeb
        >>> task = served_tasks(SimWeb().default_tasks()[:1], "http://127.0.0.1:8080")[0]
        >>> task.supporting[0].url.startswith("http://127.0.0.1:8080/wiki/")
        True
    """
    return [replace(task, supporting=tuple(
        replace(page, url=page.url.replace(_SIM_PREFIX, f"{base_url}/wiki/"))
        for page in task.supporting)) for task in tasks]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it."""

    time: float
    method: str
    path: str
    fault: str
    user_agent: str = ""


@dataclass(slots=True)
class _State:
    site: SimSite
    faults: Faults
    api_key: str
    quota: int | None
    robots_disallow: tuple[str, ...]
    base_url: str = ""
    rng: random.Random = field(default_factory=random.Random)
    log: list[RequestRecord] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    pages: dict[str, bytes] = field(default_factory=dict)
    bucket: TokenBucket | None = None


STATE = web.AppKey("state", _State)


class SimInternet:
    """Serve the simulated web on loopback; an async context manager.

    Example:
        >>> import aiohttp
        >>> async def demo() -> int:
        ...     async with SimInternet() as net, aiohttp.ClientSession() as http:
        ...         async with http.get(net.base_url + "/robots.txt") as r:
        ...             return r.status
        >>> asyncio.run(demo())
        200
    """

    def __init__(self, site: SimSite | None = None, *, faults: Faults | None = None,
                 api_key: str = "test-key", quota: int | None = None,
                 robots_disallow: tuple[str, ...] = ("/private/",),
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = faults or Faults()
        self.state = _State(site or SimSite.of(WorldConfig()), self.faults, api_key, quota,
                            robots_disallow, rng=random.Random(self.faults.seed))
        if self.faults.rate_limit_rps > 0:
            self.state.bucket = TokenBucket(
                self.faults.rate_limit_rps, self.faults.rate_limit_burst, now=time.monotonic(),
                counts_refused=self.faults.rate_limit_counts_refused)
        self.host, self.port = host, port
        self.app = web.Application()
        self.app[STATE] = self.state
        self.app.middlewares.append(_inject_faults)
        self.app.add_routes([
            web.get("/robots.txt", _robots),
            web.get("/wiki/{page}", _page),
            web.get("/private/{page}", _page),
            web.post("/serper/search", _serper),
            web.get("/searxng/search", _searxng),
            web.get("/brave/res/v1/web/search", _brave),
        ])
        add_test_routes(self.app)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def log(self) -> list[RequestRecord]:
        """Every request served, in arrival order."""
        return self.state.log

    def url(self, page_id: str) -> str:
        return f"{self.base_url}/wiki/{page_id}"

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.state.base_url = f"http://{self.host}:{port}"
        return self.state.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimInternet:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


@web.middleware
async def _inject_faults(request: web.Request, handler: Any) -> web.StreamResponse:
    """Log every request and hit pages and search calls with the configured faults."""
    state = request.app[STATE]
    faulty = request.path.startswith(("/wiki/", "/serper/", "/searxng/", "/brave/"))
    fault: Fault | None
    if faulty and state.bucket is not None and not state.bucket.admit(time.monotonic()):
        fault = Fault("limited", 0.0)  # over the real rate limit: refused at once
    else:
        fault = state.faults.draw(state.rng) if faulty else None
    kind = fault.kind if fault else "ok"
    state.log.append(RequestRecord(time.time(), request.method, request.path_qs, kind,
                                   request.headers.get("User-Agent", "")))
    if fault is not None and fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if kind in ("429", "limited"):
        return web.json_response({"message": "Too many requests"}, status=429,
                                 headers={"Retry-After": f"{state.faults.retry_after_s:g}"})
    if kind == "5xx":
        return web.Response(status=state.rng.choice((500, 502, 503)), text="server error")
    if kind == "redirect" and request.method == "GET":
        raise web.HTTPFound(f"/_test/redirect/2?to={request.path_qs}")
    response = await handler(request)
    if kind in ("reset", "truncated", "drip") and isinstance(response, web.Response):
        return await broken_body(request, bytes(response.body or b""), kind)  # type: ignore[arg-type]
    result: web.StreamResponse = response
    return result


async def _robots(request: web.Request) -> web.Response:
    rules = "".join(f"Disallow: {path}\n" for path in request.app[STATE].robots_disallow)
    return web.Response(text=f"User-agent: *\n{rules}", content_type="text/plain")


def page_html(state: _State, page_id: str) -> str | None:
    """A page's HTML with its links pointing at this server (padded if configured)."""
    if page_id not in state.site.contents:
        return None
    html = state.site.html(page_id).replace(_SIM_PREFIX, f"{state.base_url}/wiki/")
    if state.faults.pad_kb:
        rng = random.Random(page_id)
        extra, size = [], len(html)
        while size < state.faults.pad_kb * 1024:
            paragraph = " ".join(filler_sentence(rng, page_id.replace("_", " ")) for _ in range(4))
            extra.append(f"<h3>Notes</h3><p>{paragraph}</p>")
            size += len(extra[-1])
        html = html.replace("</article>", "".join(extra) + "</article>")
    return html


async def _page(request: web.Request) -> web.Response:
    state, page_id = request.app[STATE], request.match_info["page"]
    body = state.pages.get(page_id)
    if body is None:
        html = page_html(state, page_id)
        if html is None:
            return web.Response(status=404, text="<h1>Not found</h1>", content_type="text/html")
        body = state.pages[page_id] = html.encode()
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def _search(state: _State, query: str, k: int) -> list[dict[str, str]]:
    found = state.site.index.search(query, k=max(1, min(k, 100)))
    return [{"title": doc.title, "url": doc.url.replace(_SIM_PREFIX, f"{state.base_url}/wiki/"),
             "snippet": snippet} for doc, snippet in found]


def _spend(state: _State, key: str) -> bool:
    """Count one call against the quota; ``False`` when it is used up."""
    used = state.counters.get(key, 0) + 1
    state.counters[key] = used
    return state.quota is None or used <= state.quota


async def _serper(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.headers.get("X-API-KEY") != state.api_key:
        return web.json_response({"message": "Unauthorized.", "statusCode": 403}, status=403)
    if not _spend(state, "serper"):
        return web.json_response({"message": "Not enough credits", "statusCode": 400}, status=400)
    body = await request.json()
    hits = _search(state, str(body.get("q", "")), int(body.get("num", 10)))
    organic = [{"title": h["title"], "link": h["url"], "snippet": h["snippet"], "position": i}
               for i, h in enumerate(hits, 1)]
    return web.json_response({"searchParameters": {"q": body.get("q"), "type": "search"},
                              "organic": organic})


async def _searxng(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.query.get("format") != "json":
        return web.Response(status=403, text="Forbidden")
    if not _spend(state, "searxng"):
        return web.Response(status=429, text="Too Many Requests")
    hits = _search(state, request.query.get("q", ""), 10)
    results = [{"url": h["url"], "title": h["title"], "content": h["snippet"], "engine": "sim"}
               for h in hits]
    return web.json_response({"query": request.query.get("q", ""), "results": results})


async def _brave(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.headers.get("X-Subscription-Token") != state.api_key:
        error = {"id": "sim", "status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID",
                 "detail": "The provided subscription token is invalid."}
        return web.json_response({"type": "ErrorResponse", "error": error}, status=401)
    if not _spend(state, "brave"):
        error = {"status": 429, "code": "RATE_LIMITED", "detail": "Request rate limit exceeded."}
        return web.json_response({"type": "ErrorResponse", "error": error}, status=429,
                                 headers={"Retry-After": "1"})
    hits = _search(state, request.query.get("q", ""), int(request.query.get("count", "10")))
    results = [{"title": f"<strong>{h['title']}</strong>", "url": h["url"],
                "description": h["snippet"]} for h in hits]
    return web.json_response({"type": "search", "web": {"type": "search", "results": results}})
