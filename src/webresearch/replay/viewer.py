"""``webresearch view <store>``: a local web page to browse runs and episodes.

The page's first paint (the run list, with labelled reward histograms) is rendered
on the server; its script then loads episodes through the JSON API. Every response
carries a Content-Security-Policy that allows only the viewer's own script and
style (nothing inline), the script renders store text as text and links only
``http(s)`` URLs, and a bad query parameter is a 400 that says what is wrong.

A request whose ``Host`` is not the address the viewer listens on is refused (421):
a page the user visits cannot point its own name at 127.0.0.1 (DNS rebinding) and read
the store through the user's browser.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from webresearch.errors import StoreError, WebResearchError
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer_page import BINS, histogram, render_index, run_rows

__all__ = ["BINS", "CSP", "LOOPBACK_NAMES", "add_view_command", "create_viewer", "histogram",
           "view"]

logger = logging.getLogger(__name__)

STORE = web.AppKey("store", ReplayStore)
MAX_LIMIT = 100_000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""The viewer's Content-Security-Policy: its own script and style, nothing inline."""
_STATIC = {"/viewer.js": "application/javascript", "/viewer.css": "text/css"}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
"""Host names that a viewer on this machine answers to, besides the address it binds."""
ALLOWED = web.AppKey("allowed_hosts", frozenset)


def add_view_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("view", help="browse a replay store in the web browser")
    parser.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback: only "
                                                           "this machine can see the store)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on")


def create_viewer(store: ReplayStore, *, host: str = "127.0.0.1") -> web.Application:
    """The viewer's aiohttp application over ``store`` (read while it is being written).

    It answers only requests whose ``Host`` names ``host`` (the address it is served
    on) or a loopback name, with the port the request came in on.
    """
    app = web.Application(middlewares=[_known_host, _errors_as_json])
    app[STORE] = store
    app[ALLOWED] = LOOPBACK_NAMES | {_bare(host)}
    app.on_response_prepare.append(_security_headers)
    app.add_routes([web.get("/", _index), web.get("/api/runs", _runs),
                    web.get("/api/episodes", _episodes),
                    web.get(r"/api/episode/{id:[\s\S]+}", _episode),  # any id: / { \n ...
                    *(web.get(path, _static) for path in _STATIC)])
    return app


def view(store: Path, *, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve the viewer until interrupted (a missing store is an error)."""
    with ReplayStore(store, create=False) as opened:
        print(f"viewing {store} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
        web.run_app(create_viewer(opened, host=host), host=host, port=port, print=None)
    return 0


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bare(host: str) -> str:
    """A host name as compared: lower case, an IPv6 address without its brackets."""
    return host.strip().lower().removeprefix("[").removesuffix("]")


def _host_and_port(header: str) -> tuple[str, int | None]:
    """``Host: name[:port]`` (``[v6]:port`` too) split; port ``None`` if absent or odd.

    Example:
        >>> _host_and_port("[::1]:8765"), _host_and_port("LocalHost:80"), _host_and_port("a")
        (('::1', 8765), ('localhost', 80), ('a', None))
    """
    if header.startswith("["):
        name, _, rest = header[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif header.count(":") == 1:
        name, port = header.split(":")
    else:
        name, port = header, ""
    return _bare(name), int(port) if port.isdigit() and len(port) < 6 else None


@web.middleware
async def _known_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (421) a ``Host`` that is not the viewer's own address and port."""
    header = request.headers.get("Host", "")
    name, port = _host_and_port(header)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    listening = sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else None
    if name in request.app[ALLOWED] and (port == listening or (port is None and listening == 80)):
        return await handler(request)
    allowed = sorted(f"{n}:{listening}" for n in request.app[ALLOWED])
    return web.json_response({"error": f"Expects a Host header in {allowed} (the address the "
                              f"viewer listens on), actual: {header[:80]!r}; refused so that "
                              "no other site can read the store"}, status=421)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A store's error as a JSON message (404 unknown, 500 damaged); never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except StoreError as exc:
        return web.json_response({"error": str(exc)}, status=500)
    except WebResearchError as exc:  # an unknown run or episode: the user's typo
        return web.json_response({"error": str(exc)}, status=404)
    except Exception:
        logger.exception("viewer request %s failed", request.path_qs)
        return web.json_response({"error": "internal error (logged by the viewer)"},
                                 status=500)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}),
                              content_type="application/json")


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return 500
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:  # not '¹'
        raise _bad_request(f"Expects limit to be a whole number in 1..{MAX_LIMIT}, "
                           f"actual: {raw[:40]!r}")
    return int(raw)


def _reward(name: str, raw: str | None) -> float | None:
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _bad_request(f"Expects {name} to be a finite number, actual: {raw[:40]!r}")
    return value


async def _index(request: web.Request) -> web.Response:
    page = render_index(request.app[STORE], request.query.get("run") or None)
    return web.Response(text=page, content_type="text/html")


async def _static(request: web.Request) -> web.Response:
    name = request.path.lstrip("/")
    text = resources.files("webresearch.replay").joinpath(name).read_text("utf-8")
    return web.Response(text=text, content_type=_STATIC[request.path])


async def _runs(request: web.Request) -> web.Response:
    return web.json_response(run_rows(request.app[STORE]))


async def _episodes(request: web.Request) -> web.Response:
    store, q = request.app[STORE], request.query
    run = q.get("run") or None
    limit = _limit(q.get("limit"))
    low, high = _reward("min_reward", q.get("min_reward")), _reward("max_reward",
                                                                      q.get("max_reward"))
    every = store.select(run)
    rows: list[dict[str, Any]] = store.select(
        run, dataset=q.get("dataset") or None, status=q.get("status") or None,
        min_reward=low, max_reward=high)
    return web.json_response({
        "total": len(rows), "rows": rows[:limit],
        "datasets": sorted({r["dataset"] for r in every}),
        "statuses": sorted({r["status"] for r in every})})


async def _episode(request: web.Request) -> web.Response:
    episode = request.app[STORE].episode(request.match_info["id"])
    return web.json_response(episode.to_json())
