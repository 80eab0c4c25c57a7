"""``webresearch view <store>``: a local web page to browse runs and episodes."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from webresearch.replay.store import ReplayStore

__all__ = ["add_view_command", "create_viewer", "view"]

STORE = web.AppKey("store", ReplayStore)
BINS = 20


def add_view_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("view", help="browse a replay store in the web browser")
    parser.add_argument("store", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)


def create_viewer(store: ReplayStore) -> web.Application:
    """The viewer's aiohttp application over ``store`` (read while it is being written)."""
    app = web.Application()
    app[STORE] = store
    app.add_routes([web.get("/", _index), web.get("/api/runs", _runs),
                    web.get("/api/episodes", _episodes), web.get("/api/episode/{id}", _episode)])
    return app


def view(store: Path, *, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve the viewer until interrupted."""
    with ReplayStore(store, create=False) as opened:
        print(f"viewing {store} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
        web.run_app(create_viewer(opened), host=host, port=port, print=None)
    return 0


async def _index(request: web.Request) -> web.Response:
    page = resources.files("webresearch.replay").joinpath("viewer.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html")


def histogram(rewards: list[float]) -> list[int]:
    """Counts of rewards in ``BINS`` equal bins over [-1, 1].

    Example:
        >>> sum(histogram([-1.0, 0.0, 1.0])), histogram([1.0])[-1]
        (3, 1)
    """
    counts = [0] * BINS
    for reward in rewards:
        counts[min(BINS - 1, max(0, int((reward + 1.0) / 2.0 * BINS)))] += 1
    return counts


async def _runs(request: web.Request) -> web.Response:
    store = request.app[STORE]
    out = []
    for run in reversed(store.runs()):
        rows = store.summaries(run.run_id)
        rewards = [r["reward"] for r in rows]
        out.append({"run_id": run.run_id, "policy": run.policy, "created_at": run.created_at,
                    "episodes": len(rows), "histogram": histogram(rewards),
                    "mean_reward": sum(rewards) / len(rewards) if rewards else 0.0})
    return web.json_response(out)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


async def _episodes(request: web.Request) -> web.Response:
    store, q = request.app[STORE], request.query
    run = q.get("run") or None
    every = store.select(run)
    rows: list[dict[str, Any]] = store.select(
        run, dataset=q.get("dataset") or None, status=q.get("status") or None,
        min_reward=_number(q.get("min_reward")), max_reward=_number(q.get("max_reward")))
    limit = int(_number(q.get("limit")) or 500)
    return web.json_response({
        "total": len(rows), "rows": rows[:limit],
        "datasets": sorted({r["dataset"] for r in every}),
        "statuses": sorted({r["status"] for r in every})})


async def _episode(request: web.Request) -> web.Response:
    try:
        episode = request.app[STORE].episode(request.match_info["id"])
    except Exception as exc:  # an unknown id is the user's typo, not a server error
        return web.json_response({"error": str(exc)}, status=404)
    return web.json_response(episode.to_json())
