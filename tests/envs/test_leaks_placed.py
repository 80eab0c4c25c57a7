"""Leaks are looked for in each piece (a result's title or snippet, a page's text) at the
place its tool result put it, cut where the agent's observation is: never in the agent's
own query echoed, nor in a piece the format leaves out, nor made by the cut (a split word,
a short answer 'alone' only in what the cut left); and not lost or left behind when
readings finish out of order or a tool run fails."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import answer, browse, search
from tests.envs.test_leaks import (
    ANSWER_AT,
    FILLER,
    TASK,
    WORDS,
    _cut_env,
    _evidence,
    _play,
)
from webresearch.envs import WebResearchEnv
from webresearch.envs.leaks import LeakProbe, Sighting
from webresearch.envs.rewards import normalize_answer
from webresearch.tasks import Task
from webresearch.train.compact import CompactFormat
from webresearch.web import MockWeb, Page, SearchHit
from webresearch.web.leaks import Leak, LeakKind, LeakSource
from webresearch.web.reader import Extract, Reader, ReadRequest

SPOOFS = ["", "\ue0000\ue0001\ue000", "\ue0000\ue001\ue0001\ue001", "\ue000\ue001\ue002"]
"""Text an agent may write into its query that looks like the stand-ins the env uses to
find where a format puts each piece (fenced by private-use characters)."""


@settings(max_examples=60, deadline=None)
@given(pad=st.integers(0, 300), limit=st.integers(256, 900),
       where=st.sampled_from(["title", "snippet"]), spoof=st.sampled_from(SPOOFS))
@example(pad=0, limit=256, where="snippet", spoof=SPOOFS[1])
@example(pad=0, limit=256, where="snippet", spoof=SPOOFS[2])
def test_the_agent_s_own_query_echoed_is_never_a_result_s_leak(pad: int, limit: int,
                                                               where: str, spoof: str) -> None:
    """The query holds the answer (and perhaps stand-in look-alikes) and is echoed before
    the results: a hit whose title or snippet is the answer leaks only if the cut shows
    that hit, not the echo."""
    query = "Kraemukreisk Jepudou" + " founder" * (pad // 8) + spoof
    url = "https://p.test/x"
    hit = (SearchHit("Kraemukreisk Jepudou", url, FILLER) if where == "title"
           else SearchHit("Pogre", url, "Kraemukreisk Jepudou"))
    env = _cut_env({}, [hit], limit)
    observations, info = _play(env, [search(query), answer("x")])
    echo = f'Results for "{query}":'
    after = observations[0].split(echo, 1)[1] if echo in observations[0] else ""
    shown = " kraemukreisk jepudou " in f" {normalize_answer(after)} "
    assert [(leak.step, leak.url) for leak in info["outcome"].leaks] == (
        [(0, url)] if shown else [])
    env.close()


def test_a_piece_the_format_leaves_out_is_never_a_leak() -> None:
    """The compact format shows a hit's URL and snippet, never its title."""
    hits = [SearchHit("Kraemukreisk Jepudou", "https://t.test/", FILLER),
            SearchHit("Pogre", "https://s.test/", "K. Jepudou")]
    env = WebResearchEnv(tasks=[TASK], web=MockWeb(search=lambda q, k: hits),
                         date="2026-01-01", action_format=CompactFormat())
    observations, info = _play(env, [env.format.write_call("search", ["who"]),
                                     env.format.write_answer("x")])
    assert "Kraemukreisk" not in observations[0]
    assert [leak.url for leak in info["outcome"].leaks] == ["https://s.test/"]
    env.close()


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.lists(WORDS, max_size=6).map(" ".join), min_size=1, max_size=3),
       gold=st.lists(WORDS, min_size=1, max_size=2).map(" ".join),
       start=st.integers(0, 9), cut=st.floats(-0.1, 1.1))
@example(pieces=["Parisian lyon"], gold="paris", start=0, cut=5 / 13)  # 'Paris' of it
@example(pieces=["yes lyon", "x"], gold="yes", start=2, cut=0.4)  # 'yes' is not alone
def test_a_cut_never_makes_a_leak_the_uncut_text_does_not_hold(
        pieces: list[str], gold: str, start: int, cut: float) -> None:
    """A sighting cut (at ``cut`` of its length) shows the words that end before the cut;
    a short answer is alone only where its uncut text is (``No`` of ``No Country for Old
    Men`` is not)."""
    kept = start + round(cut * len("\n".join(pieces)))
    probe = LeakProbe.of(Task(id="t", question="Which city?", answers=(gold,)))
    places, at = [], start
    for piece in pieces:
        places.append((at, piece))
        at += len(piece) + 1
    sighting = Sighting(tuple(places), "u:x", LeakSource.SEARCH)
    whole = "\n".join(pieces)
    words = " ".join(m.group() for m in re.finditer("[A-Za-z0-9]+", whole)
                     if m.end() <= kept - start)
    expected = _evidence(words, gold, "Which city?", whole)
    found = [leak.kind for leak in probe.seen([sighting], kept, step=0)]
    assert (LeakKind.ANSWER in found) == expected


class _OrderedReader(Reader):
    """Gives each segment back as it is, the readings finishing in ``order`` (each URL's
    waits for the one before it), however the env started them."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.done = {url: asyncio.Event() for url in order}

    async def read(self, request: ReadRequest) -> Extract:
        at = self.order.index(request.url)
        if at:
            await asyncio.wait_for(self.done[self.order[at - 1]].wait(), 60)
        self.done[request.url].set()
        return Extract(request.segment, tokens=1)


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(range(3)), holder=st.integers(0, 2),
       before=st.integers(0, 12), limit=st.integers(256, 1200))
def test_with_a_reader_a_leak_is_found_whichever_reading_finishes_first(
        order: list[int], holder: int, before: int, limit: int) -> None:
    urls = [f"https://r{i}.test/" for i in range(3)]
    pages = {u: FILLER * (before if i == holder else 2) + (ANSWER_AT if i == holder else "")
             for i, u in enumerate(urls)}
    web = MockWeb(search=lambda q, k: [], fetch=lambda url: Page(url, url, 200, "", pages[url]))
    env = WebResearchEnv(tasks=[TASK], web=web, reader=_OrderedReader([urls[i] for i in order]),
                         date="2026-01-01", max_observation_chars=limit)
    observations, info = _play(env, [browse(*urls), answer("x")])
    shown = " kraemukreisk jepudou " in f" {normalize_answer(observations[0])} "
    assert [(leak.step, leak.url) for leak in info["outcome"].leaks] == (
        [(0, urls[holder])] if shown else [])
    env.close()


class _FailingReader(Reader):
    """Reads ``https://a.test/``; then, on any other URL, raises or hangs until cancelled."""

    def __init__(self, *, hang: bool) -> None:
        self.hang, self.read_a, self.hanging = hang, asyncio.Event(), asyncio.Event()

    async def read(self, request: ReadRequest) -> Extract:
        if request.url == "https://a.test/":
            self.read_a.set()
            return Extract(request.segment, tokens=1)
        await asyncio.wait_for(self.read_a.wait(), 60)  # a's reading is done and shown
        if not self.hang:
            raise RuntimeError("reader bug")
        self.hanging.set()
        await asyncio.wait_for(asyncio.Event().wait(), 120)
        raise AssertionError("expects to be cancelled")


@pytest.mark.parametrize("hang", [False, True], ids=["raises", "cancelled"])
def test_a_failed_or_cancelled_tool_run_leaves_no_leak_behind(hang: bool) -> None:
    """Page a (the answer) was read before the run failed: no later step, in this
    episode or the next, reports it."""
    pages = {"https://a.test/": ANSWER_AT, "https://b.test/": FILLER}
    web = MockWeb(search=lambda q, k: [], fetch=lambda url: Page(url, url, 200, "", pages[url]))
    reader = _FailingReader(hang=hang)
    env = WebResearchEnv(tasks=[TASK], web=web, reader=reader, date="2026-01-01",
                         on_format_error="feedback")

    async def scenario() -> tuple[Leak, ...]:
        await env.areset(options={"task": TASK})
        step = asyncio.ensure_future(env.astep(browse("https://a.test/", "https://b.test/")))
        if hang:
            await asyncio.wait_for(reader.hanging.wait(), 60)
            step.cancel()
        with pytest.raises(asyncio.CancelledError if hang else RuntimeError):
            await step
        await env.areset(options={"task": TASK})
        await env.astep("no tool call here")
        *_, info = await env.astep(answer("x"))
        return info["outcome"].leaks

    try:
        assert asyncio.run(scenario()) == ()
    finally:
        env.close()
