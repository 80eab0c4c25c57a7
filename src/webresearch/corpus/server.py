"""A drop-in for Search-R1's retriever server: ``POST /retrieve`` over any passage searcher.

Async (aiohttp), with the queries of concurrent requests searched in one call: while
the engine answers one batch, the requests that arrive queue up and go together in
the next, so a busy server batches and an idle one adds no delay. Request bodies,
query counts, ``topk`` and query lengths are bounded
(:class:`~webresearch.corpus.retrieval_api.RetrievalLimits`); a request outside them
gets a 4xx JSON ``{"detail": ...}`` and the server goes on.
:mod:`webresearch.corpus.workers` runs several such servers on one port.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from webresearch.corpus.retrieval_api import (
    Passage,
    PassageSearcher,
    Rejection,
    RetrievalLimits,
    parse_request,
    response_json,
)
from webresearch.web.closing import AsyncClosing

__all__ = ["Batcher", "RetrieverServer", "make_app", "read_capped"]

logger = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _Job:
    queries: Sequence[str]
    k: int
    done: asyncio.Future[list[list[Passage]]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    """Searches the queries of every request waiting, together, one batch at a time.

    The engine runs in one thread beside the event loop; ``max_batch`` caps the queries
    of one call (a request larger than it still goes in one call of its own).
    """

    def __init__(self, searcher: PassageSearcher, *, max_batch: int = 256) -> None:
        self.searcher, self.max_batch = searcher, max_batch
        self._waiting: list[_Job] = []
        self._runner: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrieve")
        self.calls = 0
        """Engine calls made (fewer than requests when requests were batched)."""

    async def search(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        """Up to ``k`` passages for each query; waits for the batch that carries them."""
        if not queries:
            return []
        job = _Job(queries, k)
        self._waiting.append(job)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await asyncio.shield(job.done)  # a caller that times out leaves the batch be

    def _take(self) -> list[_Job]:
        taken = [self._waiting.pop(0)]
        size = len(taken[0].queries)
        while self._waiting and size + len(self._waiting[0].queries) <= self.max_batch:
            job = self._waiting.pop(0)
            taken.append(job)
            size += len(job.queries)
        return taken

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            jobs = self._take()
            queries = [q for job in jobs for q in job.queries]
            k = max(job.k for job in jobs)
            self.calls += 1
            try:
                found = await loop.run_in_executor(self._pool, self.searcher.search_many,
                                                   queries, k)
            except Exception as exc:  # the engine's failure is every waiting request's
                logger.exception("The search of %d queries failed", len(queries))
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            start = 0
            for job in jobs:
                ranked = found[start:start + len(job.queries)]
                start += len(job.queries)
                if not job.done.done():
                    job.done.set_result([hits[:job.k] for hits in ranked])

    def close(self) -> None:
        """Stop taking batches (the one running finishes in its thread)."""
        if self._runner is not None:
            self._runner.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _error(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The request body, or ``None`` once it passes ``limit`` bytes (read no further)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@web.middleware
async def _json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, a malformed request) as JSON, like the rest."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


def make_app(searcher: PassageSearcher, limits: RetrievalLimits | None = None, *,
             batcher: Batcher | None = None) -> web.Application:
    """The aiohttp application: ``POST /retrieve`` and ``GET /health``."""
    limits = limits or RetrievalLimits()
    batcher = batcher or Batcher(searcher)
    app = web.Application(client_max_size=limits.max_body_bytes,
                          middlewares=[_json_errors])

    async def retrieve(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(limits.body_timeout_s):
                body = await read_capped(request, limits.max_body_bytes)
        except TimeoutError:
            return _error(408, f"Expects the body within {limits.body_timeout_s} s; got less")
        parsed = parse_request(body, limits) if body is not None else Rejection(
            413, f"Expects a body of at most {limits.max_body_bytes} bytes; got more")
        if isinstance(parsed, Rejection):
            return _error(parsed.status, parsed.detail)
        try:
            async with asyncio.timeout(limits.search_timeout_s):
                found = await batcher.search(parsed.queries, parsed.topk)
        except TimeoutError:
            return _error(503, f"Expects the search within {limits.search_timeout_s} s; "
                               "got no answer (the server is overloaded)")
        except Exception as exc:  # the engine's failure is a 500, not a crash
            return _error(500, f"The search failed: {type(exc).__name__}: {exc}")
        return web.json_response(response_json(found, return_scores=parsed.return_scores))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "passages": len(searcher), "pid": os.getpid(),
                                  "engine_calls": batcher.calls})

    async def close_batcher(app: web.Application) -> None:
        batcher.close()

    app.router.add_post("/retrieve", retrieve)
    app.router.add_get("/health", health)
    app.on_cleanup.append(close_batcher)
    return app


class RetrieverServer(AsyncClosing):
    """The server in this process's event loop, as an async context manager.

    Args:
        searcher: What answers the queries (an index, a set of shards).
        host: Address to bind (loopback by default: open it to a network on purpose).
        port: Port (0: any free one; see :attr:`base_url`).
        limits: Bounds on a request.
        reuse_port: Bind with ``SO_REUSEPORT`` (several processes share the port).

    Example:
        >>> import asyncio, json, pathlib, tempfile, urllib.request
        >>> from webresearch.corpus.retrieval_api import IndexSpec
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mini.jsonl"
        >>> _ = path.write_text('{"id": "a", "contents": "\\\\"Ada\\\\"\\\\nAda wrote."}\\n')
        >>> async def demo() -> dict:
        ...     async with RetrieverServer(IndexSpec(corpus=str(path)).open()) as server:
        ...         body = json.dumps({"queries": ["who wrote"], "topk": 1}).encode()
        ...         request = urllib.request.Request(server.url, data=body)
        ...         answer = await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
        ...         return json.loads(answer.read())
        >>> asyncio.run(demo())
        {'result': [[{'id': 'a', 'contents': '"Ada"\\nAda wrote.'}]]}
    """

    def __init__(self, searcher: PassageSearcher, *, host: str = "127.0.0.1", port: int = 0,
                 limits: RetrievalLimits | None = None, reuse_port: bool = False) -> None:
        self.searcher, self.host, self.port = searcher, host, port
        self.limits = limits or RetrievalLimits()
        self.reuse_port = reuse_port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The ``/retrieve`` URL, what Search-R1's ``retriever.url`` takes."""
        return f"{self.base_url}/retrieve"

    async def start(self) -> None:
        # keepalive_timeout also bounds a request's head: aiohttp closes a connection whose
        # headers are not complete by then (its default, an hour, let slowloris hold it)
        runner = web.AppRunner(make_app(self.searcher, self.limits), access_log=None,
                               shutdown_timeout=5.0,
                               keepalive_timeout=self.limits.body_timeout_s)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_port=self.reuse_port or None,
                           backlog=1024)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the port the system chose for port 0
        logger.info("Retriever server at %s (%d passages)", self.url, len(self.searcher))

    async def aclose(self) -> None:
        """Stop serving; idempotent."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> RetrieverServer:
        await self.start()
        return self

