"""The hostile world end to end: generated model text and server answers through every
backend, the store, its export and import, every CLI read command and an offline replay.

Each example is what a hostile world can send: model text with lone surrogates (raw, and
as JSON escapes), NUL, deep nesting and megabyte sizes; search API bodies in each engine's
shape with the same in every field, nested 100,000 deep, or not JSON at all, under
statuses 200, 401 and 500; pages in charsets that make surrogates (utf-7,
unicode_escape). Nothing may raise, every observation is text UTF-8 can carry, and what was
recorded reads back and replays byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crawlers.conftest import LOOPBACK
from webresearch.cli import main as cli
from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.retry import RetryPolicy
from webresearch.policies.scripted import ScriptedPolicy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.tasks import load_tasks

MIB = 1 << 20
ODD = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates and NUL too
HUGE = st.sampled_from(["<" * MIB, "[" * 100_000, "\ud800" * 5000, "\x00" * 5000,
                        "<search>" * 12_500, "{" * 50_000, "İ" * 100_000])
TEXT = st.one_of(ODD, ODD, ODD, HUGE)
"""Outside text: mostly short odd Unicode, sometimes a megabyte of something hostile."""

TASK = {"question": "Who wrote \ud800 the \x00 book?", "answers": ["Ada \udfff", "x"]}


# ---- what the model writes -------------------------------------------------------------

def _call(name: str, field_name: str, value: str, ascii_escapes: bool) -> str:
    body = json.dumps({"name": name, "arguments": {field_name: [value]}},
                      ensure_ascii=ascii_escapes)  # ascii: a surrogate becomes "\ud800"
    return f"<think>t</think><tool_call>{body}</tool_call>"


BASE = "http://base.invalid"
"""Stands for the loopback world's address in drawn actions (substituted when run)."""


@st.composite
def deepresearcher_action(draw: st.DrawFn, base_url: str = BASE) -> str:
    text, escapes = draw(TEXT), draw(st.booleans())
    return draw(st.sampled_from([
        _call("web_search", "query", text, escapes),
        _call("browse_webpage", "url_list", f"{base_url}/page/{text[:200]}", escapes),
        _call("browse_webpage", "url_list", text, escapes),
        f"<think>{text}</think><answer>{text[:1000]}</answer>",
        text,
    ]))


@st.composite
def search_r1_action(draw: st.DrawFn, base_url: str = BASE) -> str:
    text = draw(TEXT)
    return draw(st.sampled_from([f"<search>{text}</search>", f"<answer>{text[:1000]}</answer>",
                                 text]))


# ---- what the servers answer -----------------------------------------------------------

@st.composite
def search_answer(draw: st.DrawFn) -> tuple[int, bytes]:
    text, escapes = draw(TEXT), draw(st.booleans())
    link: Any = draw(st.sampled_from([text, {"nested": [text]}, 5, None]))
    hit = {"title": text, "link": link, "url": link, "snippet": text, "content": text,
           "description": text}
    shaped = {"organic": [hit], "results": [hit], "web": {"results": [hit]},
              "message": text, "error": {"detail": text}}
    body = draw(st.sampled_from([
        json.dumps(shaped, ensure_ascii=escapes).encode("utf-8", "surrogatepass"),
        b'{"organic": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 100_000,
        text.encode("utf-8", "surrogatepass"),
    ]))
    return draw(st.sampled_from([200, 200, 401, 500])), body


@st.composite
def page_answer(draw: st.DrawFn) -> tuple[str, bytes]:
    text = draw(TEXT)
    content_type = draw(st.sampled_from([
        "text/html; charset=utf-7", "text/plain; charset=unicode_escape", "text/html",
        "text/plain; charset=utf-16", "application/json"]))
    body = draw(st.sampled_from([
        f"<title>{text}</title><p>{text}</p><a href='{text[:100]}'>l</a>",
        "+2AA- +2D3eAA- \\ud800 \\x00 " + text, text]))
    return content_type, body.encode("utf-8", "surrogatepass")


# ---- a loopback world whose answers each example sets ----------------------------------

@dataclass
class World:
    """A loopback server answering every engine's search and every page as told."""

    search: tuple[int, bytes] = (200, b'{"organic": []}')
    page: tuple[str, bytes] = ("text/html", b"<p>ok</p>")
    base_url: str = ""
    hits: list[str] = field(default_factory=list)

    async def _search(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        status, body = self.search
        return web.Response(status=status, body=body, content_type="application/json")

    async def _page(self, request: web.Request) -> web.Response:
        content_type, body = self.page
        return web.Response(body=body, headers={"Content-Type": content_type})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/serper/search", self._search)
        app.router.add_route("*", "/searxng/search", self._search)
        app.router.add_route("*", "/brave/res/v1/web/search", self._search)
        app.router.add_route("*", "/page/{tail:.*}", self._page)
        return app


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """The hostile world, served from a thread of its own (the env's sync API runs its own
    event loop); stopped in a finally."""
    state, loop = World(), asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(state.app())

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.base_url = f"http://127.0.0.1:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        assert ready.wait(60)
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
        loop.close()


def live_web(world: World, engine: str) -> LiveWeb:
    endpoint = {"serper": "/serper", "searxng": "/searxng", "brave": "/brave"}[engine]
    return LiveWeb(LiveWebConfig(
        engine=engine, endpoint=world.base_url + endpoint, api_key="hostile-world-key-123",
        http=HttpConfig(url_policy=LOOPBACK, retry=RetryPolicy(attempts=1)),
        host_rate=Rate(per_second=1000.0, burst=1000), cache_dir=None, respect_robots=False))


# ---- the checks ------------------------------------------------------------------------

def carried(text: object) -> bool:
    """Text UTF-8 can carry, with no NUL: what every observation and record must be."""
    return isinstance(text, str) and "\x00" not in text and bool(text.encode("utf-8") or True)


def step_all(make_env: Callable[[], WebResearchEnv], actions: list[str]) -> list[str]:
    """Play ``actions`` in one episode (until it ends) on the env's async core; the env and
    its web are made and closed inside one event loop."""
    async def main() -> list[str]:
        env = make_env()
        try:
            observations = []
            observation, _ = await env.areset(options={"task": TASK})
            assert carried(observation)
            for action in actions:
                observation, reward, terminated, truncated, info = await env.astep(action)
                assert carried(observation) and isinstance(reward, float)
                assert all(carried(a) for a in info["step"].arguments)
                observations.append(observation)
                if terminated or truncated:
                    break
            return observations
        finally:
            await env.web.aclose()
            await env.aclose()

    return asyncio.run(main())


SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


ACTIONS = {"deepresearcher": st.lists(deepresearcher_action(), min_size=1, max_size=3),
           "search-r1": st.lists(search_r1_action(), min_size=1, max_size=3)}


def at(world: World, actions: list[str]) -> list[str]:
    return [a.replace(BASE, world.base_url) for a in actions]


@pytest.mark.parametrize("action_format", ["deepresearcher", "search-r1"])
@pytest.mark.parametrize("engine", ["serper", "searxng", "brave"])
@SETTINGS
@given(search=search_answer(), page=page_answer(), dr=ACTIONS["deepresearcher"],
       sr=ACTIONS["search-r1"])
def test_live_engines_carry_any_answer(world: World, engine: str, action_format: str,
                                       search: tuple[int, bytes], page: tuple[str, bytes],
                                       dr: list[str], sr: list[str]) -> None:
    world.search, world.page = search, page
    actions = at(world, dr if action_format == "deepresearcher" else sr)
    step_all(lambda: WebResearchEnv(web=live_web(world, engine), tasks=[TASK],
                                    action_format=action_format, on_format_error="feedback",
                                    max_action_chars=2 * MIB), actions)


@pytest.mark.parametrize("action_format", ["deepresearcher", "search-r1"])
@SETTINGS
@given(dr=ACTIONS["deepresearcher"], sr=ACTIONS["search-r1"])
def test_the_simulated_web_carries_any_action(action_format: str, dr: list[str],
                                              sr: list[str]) -> None:
    actions = [a.replace(BASE, "https://simpedia.test")
               for a in (dr if action_format == "deepresearcher" else sr)]
    step_all(lambda: WebResearchEnv(tasks=[TASK], action_format=action_format,
                                    on_format_error="feedback", max_action_chars=2 * MIB),
             actions)


@pytest.fixture(scope="module")
def hostile_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus whose lines hold surrogate escapes, NUL and odd Unicode."""
    pytest.importorskip("bm25s")
    path = tmp_path_factory.mktemp("corpus") / "hostile.jsonl"
    lines = [json.dumps({"id": str(i), "title": f"Ada {i} \ud800", "text": t, "url": u})
             for i, (t, u) in enumerate([("Ada wrote \x00 the book.", "corpus://h/a\ud800"),
                                         ("İstanbul \U0001f600 <b>x</b>", ""),
                                         ("Plain text about Ada.", "")])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@SETTINGS
@given(drawn=ACTIONS["deepresearcher"])
def test_a_corpus_carries_any_action(hostile_corpus: Path, drawn: list[str]) -> None:
    actions = [a.replace(BASE, "corpus://h") for a in drawn]
    actions.insert(0, _call("web_search", "query", "Ada \ud800 book", True))
    actions.insert(1, _call("browse_webpage", "url_list", "corpus://h/a\ufffd", False))
    observations = step_all(lambda: WebResearchEnv(
        web=f"corpus:{hostile_corpus}", tasks=[TASK], on_format_error="feedback",
        max_action_chars=2 * MIB), actions)
    assert "Ada" in observations[0] and "wrote" in observations[1]


# ---- recorded, exported, imported, read by every CLI command, replayed -----------------

class Playing(ScriptedPolicy):
    """Plays a fixed list of actions, then answers."""

    name = "hostile"

    def __init__(self, actions: list[str]) -> None:
        self.actions = actions

    def act(self, conversation: Any) -> str:
        turn = len(conversation) // 2 - 1
        return self.actions[turn] if turn < len(self.actions) else "<answer>Ada</answer>"


def record(world: World, directory: Path, actions: list[str]) -> str:
    async def main() -> str:
        web_ = live_web(world, "serper")
        try:
            with ReplayStore(directory) as store:
                report = await rollout(
                    lambda: WebResearchEnv(tasks=[TASK], web=web_, on_format_error="feedback",
                                           max_action_chars=2 * MIB),
                    Playing(actions), load_tasks([TASK]) * 2,
                    RolloutConfig(progress=False, group_size=1), store=store,
                    run=RunRecord(policy="hostile"))
        finally:
            await web_.aclose()
        return report.run_id

    return asyncio.run(main())


def read_commands(store: Path, run_id: str, episode_ids: list[str],
                  exported: Path) -> list[list[str]]:
    return [["replay", "runs", str(store)], ["replay", "episodes", str(store)],
            ["replay", "episodes", str(store), "--run", run_id, "--status", "answered"],
            *(["replay", "show", str(store), e] for e in episode_ids),
            ["replay", "rescore", str(store), "--run", run_id, "--reward", "f1"],
            ["replay", "export", str(store), "--out", str(exported)]]


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(search=search_answer(), page=page_answer(), drawn=ACTIONS["deepresearcher"])
def test_record_export_import_replay_round_trip(
        world: World, tmp_path_factory: pytest.TempPathFactory, search: tuple[int, bytes],
        page: tuple[str, bytes], drawn: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    world.search, world.page = search, page
    actions = at(world, drawn)
    root = tmp_path_factory.mktemp("round-trip")
    store_dir, exported, imported = root / "store", root / "export.jsonl", root / "imported"
    run_id = record(world, store_dir, actions)
    with ReplayStore(store_dir) as store:
        episodes = list(store.episodes(run_id))
    assert len(episodes) == 2
    ids = [e.episode_id for e in episodes]
    for command in read_commands(store_dir, run_id, ids, exported):
        capsys.readouterr()
        assert cli(command) == 0, command
        out = capsys.readouterr()
        assert carried(out.out) and carried(out.err)
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert lines and all(carried(line) for line in lines)
    assert cli(["replay", "import", str(imported), str(exported)]) == 0
    with ReplayStore(imported) as store:
        assert [e.episode_id for e in store.episodes(run_id)] == [e.episode_id for e in episodes]
    env = WebResearchEnv(tasks=[TASK], web=f"replay:{imported}#{run_id}",
                         on_format_error="feedback", max_action_chars=2 * MIB)
    try:
        for episode in episodes:
            env.reset(options={"task": episode.task})
            for step in episode.steps:
                observation, *_ = env.step(step.action)
                assert observation == step.observation  # byte for byte, offline
    finally:
        env.close()
