"""The viewer under hostile input: escaped text, http(s)-only links, CSP, clear 400s."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp.test_utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.replay.conftest import episode
from tests.replay.test_cli_and_viewer import CHROMIUM, _ink, chromium
from webresearch.replay.schema import EpisodeRecord, RunRecord, StepRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import CSP, create_viewer
from webresearch.tasks import Task
from webresearch.web.backend import SearchHit, SearchResults
from webresearch.web.calls import WebCall

EVIL_URL = "javascript:document.title='pwned'"
LONG_ID = "a-very-long-task-identifier-" * 8


def _hostile_store(directory: Path) -> str:
    """A store whose text tries to run script; returns the hostile episode's id."""
    with ReplayStore(directory) as store:
        run = store.create_run(RunRecord(policy="<img src=x onerror=alert(1)>"))
        hits = (SearchHit("<b>evil</b>", EVIL_URL, "<script>alert(1)</script>"),
                SearchHit("fine", "https://example.org/a", "ok"))
        search = WebCall("search", "q", SearchResults("q", hits), 10, 0.1)
        steps = (StepRecord("<tool_call>x</tool_call>", "search", ("q",), "results", 0.0,
                            (search,)),
                 StepRecord("<answer>a</answer>", "answer", ("a",), "", 1.0))
        task = Task(id=LONG_ID, question="<script>alert(2)</script>", answers=("a",))
        hostile = EpisodeRecord(run.run_id, task, 0, "answered", 1.0, 1.0, 1.0, "a", (), steps)
        store.append([hostile, *(episode(run.run_id, group=g) for g in range(1, 4))])
    return hostile.episode_id


def _with_client(directory: Path, check: Callable[[aiohttp.test_utils.TestClient],
                                                  Awaitable[None]]) -> None:
    async def main() -> None:
        with ReplayStore(directory, create=False) as store:
            server = aiohttp.test_utils.TestServer(create_viewer(store))
            async with aiohttp.test_utils.TestClient(server) as client:
                await check(client)

    asyncio.run(main())


def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    _hostile_store(tmp_path)

    async def check(client: aiohttp.test_utils.TestClient) -> None:
        for path in ["/", "/viewer.js", "/viewer.css", "/api/runs", "/api/episodes",
                     "/api/episode/nope", "/api/episodes?limit=1e400", "/nowhere"]:
            response = await client.get(path)
            assert response.headers["Content-Security-Policy"] == CSP, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"

    _with_client(tmp_path, check)


def test_the_first_paint_is_rendered_and_escaped(tmp_path: Path) -> None:
    _hostile_store(tmp_path)

    async def check(client: aiohttp.test_utils.TestClient) -> None:
        page = await (await client.get("/")).text()
        assert "4 episodes" in page and ">reward</text>" in page and ">episodes</text>" in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
        assert len(re.findall(r"<script\b", page)) == 1  # the viewer's own, by src
        assert f'title="{LONG_ID}"' in page  # the episode list is in the first paint too

    _with_client(tmp_path, check)


@pytest.mark.parametrize(("query", "message"), [
    ("limit=1e400", "Expects limit to be a whole number in 1..100000, actual: '1e400'"),
    ("limit=-5", "Expects limit to be a whole number"),
    ("limit=nan", "Expects limit to be a whole number"),
    ("min_reward=inf", "Expects min_reward to be a finite number, actual: 'inf'"),
    ("max_reward=x", "Expects max_reward to be a finite number, actual: 'x'"),
])
def test_bad_parameters_are_clear_400s(tmp_path: Path, query: str, message: str) -> None:
    _hostile_store(tmp_path)

    async def check(client: aiohttp.test_utils.TestClient) -> None:
        response = await client.get(f"/api/episodes?{query}")
        assert response.status == 400 and (await response.json())["error"].startswith(message)

    _with_client(tmp_path, check)


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["run", "limit", "min_reward", "max_reward",
                                               "dataset", "status"]), st.text(max_size=12)))
def test_any_query_is_answered_never_a_500(tmp_path_factory: pytest.TempPathFactory,
                                            params: dict[str, str]) -> None:
    directory = tmp_path_factory.getbasetemp() / "viewer-fuzz"
    if not directory.exists():
        _hostile_store(directory)

    async def check(client: aiohttp.test_utils.TestClient) -> None:
        for path in ("/api/episodes", "/"):
            response = await client.get(path, params=params)
            assert response.status in (200, 400, 404), (path, response.status)

    _with_client(directory, check)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_a_javascript_url_is_never_a_link_in_the_browser(tmp_path: Path) -> None:
    episode_id = _hostile_store(tmp_path / "store")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "view",
                               str(tmp_path / "store"), "--port", str(port)],
                              stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith(b"viewing")
        url = f"http://127.0.0.1:{port}/?episode={episode_id}"
        dom = chromium(tmp_path / "p1", "--dump-dom", url).stdout
        assert "https://example.org/a" in dom and "&lt;b&gt;evil&lt;/b&gt;" in dom
        assert "href=\"javascript:" not in dom and "<title>webresearch viewer" in dom  # no pwn
        shot = tmp_path / "viewer.png"
        chromium(tmp_path / "p2", "--hide-scrollbars", "--window-size=1200,900",
                 f"--screenshot={shot}", f"http://127.0.0.1:{port}/")
        assert _ink(shot.read_bytes()) > 0.1
    finally:
        server.terminate()
        server.communicate(timeout=10)
