"""Stored web contents: keyed so no text makes two one, checked on read, bounded at write."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.replay.conftest import TASK, episode
from webresearch.errors import ConfigError, DamagedRecord, RecordTooLarge, ReplayMiss
from webresearch.replay import store as store_module
from webresearch.replay.records import MAX_RECORD_BYTES, MAX_WRITE_BYTES
from webresearch.replay.replay_web import ReplayWeb
from webresearch.replay.schema import EpisodeRecord, RunRecord, StepRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.web.backend import Page, SearchHit, SearchResults
from webresearch.web.calls import WebCall

SEPARATORS = st.sampled_from(["\x00", "\t", "\n", "/", "#", "\x1e", "\ud800", ""])
PIECE = st.text(alphabet=st.sampled_from("ab\x00\t"), max_size=3)


def _fetching(run_id: str, pages: list[Page]) -> EpisodeRecord:
    steps = tuple(StepRecord("a", "browse", (p.url,), "o", 0.0, (WebCall("fetch", p.url, p, 0),))
                  for p in pages)
    return EpisodeRecord(run_id, TASK, 0, "answered", 1.0, 1.0, 1.0, "Ada", (), steps)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.tuples(PIECE, st.lists(PIECE, max_size=2)), min_size=2, max_size=4),
       sep=SEPARATORS)
def test_no_page_takes_over_another_pages_text_or_links(
        tmp_path_factory: pytest.TempPathFactory, texts: list[tuple[str, list[str]]], sep: str
        ) -> None:
    """Pages like ("a\\0b", []) and ("a", ["b"]) once shared a stored content."""
    pages = [Page(f"https://x.test/{i}{sep}", f"https://x.test/{i}{sep}", 200, "t",
                  text + sep, 1.0, links=tuple(links)) for i, (text, links) in enumerate(texts)]
    path = tmp_path_factory.mktemp("store")
    with ReplayStore(path) as store:
        run = store.create_run(RunRecord())
        store.append([_fetching(run.run_id, [p]) for p in pages])  # one episode a page
    with ReplayStore(path, create=False) as store:
        got = [e.steps[0].web[0].response for e in store.episodes(run.run_id)]
    assert [(p.text, p.links) for p in got] == [
        (p.text.replace("\x00", "\ufffd").replace("\ud800", "\ufffd"),
         tuple(link.replace("\x00", "\ufffd") for link in p.links)) for p in pages]


def test_searches_with_separators_in_their_hits_stay_apart(tmp_path: Path) -> None:
    one = SearchResults("q", (SearchHit("a\tb", "c", "d"),))
    two = SearchResults("q", (SearchHit("a", "b\tc", "d"),))
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
        eps = [EpisodeRecord(run.run_id, TASK, g, "answered", 1.0, 1.0, 1.0, "", (), (
            StepRecord("a", "search", ("q",), "o", 0.0, (WebCall("search", "q", r, 10),)),))
            for g, r in enumerate([one, two])]
        store.append(eps)
        assert [e.steps[0].web[0].response.hits for e in store.episodes()] == [one.hits, two.hits]


# ---- tampering ------------------------------------------------------------------------

def _tamper(directory: Path, prefix: str, edit: dict[str, object]) -> str:
    """Rewrite the first stored record whose key starts with ``prefix``; return its key."""
    with sqlite3.connect(directory / "cache.db") as con:
        key, value = con.execute("SELECT key, value FROM Cache WHERE key LIKE ? ORDER BY key",
                                 (prefix + "%",)).fetchone()
        data = {**json.loads(zlib.decompress(value)), **edit}
        con.execute("UPDATE Cache SET value = ? WHERE key = ?",
                    (zlib.compress(json.dumps(data).encode()), key))
    return str(key)


def test_a_tampered_page_is_never_replayed_and_is_named(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
        store.append([_fetching(run.run_id, [Page("https://x.test/", "https://x.test/", 200,
                                                  "t", "the truth", 1.0)])])
    key = _tamper(tmp_path, "blob/", {"text": "a lie"})
    web = ReplayWeb(tmp_path)
    with pytest.raises(DamagedRecord, match=re.escape(repr(key))) as caught:
        asyncio.run(web.fetch("https://x.test/"))
    assert "expects content whose hash is its key" in str(caught.value)
    with ReplayStore(tmp_path, create=False) as store:
        assert list(store.episodes()) == []
        assert [key in str(damage) for damage in store.damaged.values()] == [True]


def test_a_store_without_damage_still_misses_clearly(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        store.append([episode(store.create_run(RunRecord()).run_id)])
    with pytest.raises(ReplayMiss, match="never fetched"):
        asyncio.run(ReplayWeb(tmp_path).fetch("https://elsewhere.test/"))


def test_an_old_store_keyed_by_call_hash_reads_and_is_checked(tmp_path: Path) -> None:
    """Stores written before contents had keys of their own: ``blob/<call hash>``."""
    page = Page("u:a", "u:a", 200, "A", "old text", 1.0, links=("u:b",))
    call = WebCall("fetch", "u:a", page, 0)
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
        data = _fetching(run.run_id, [page]).to_json()
        data["steps"][0]["web"][0]["response"] = {
            k: v for k, v in data["steps"][0]["web"][0]["response"].items()
            if k not in ("text", "links")}
        raw = {f"blob/{call.hash}": {"text": "old text", "links": ["u:b"]},
               f"ep/{run.run_id}/{0:010d}": data}
        for key, value in raw.items():
            store._cache.set(key, zlib.compress(json.dumps(value).encode()))
        store._cache.set(f"eid/{data['episode_id']}", f"{run.run_id}/{0:010d}")
        store._cache.set(f"meta/{run.run_id}/{0:010d}", json.dumps(
            EpisodeRecord.from_json(json.loads(json.dumps(_fetching(run.run_id, [page]).to_json())
                                               )).summary()))
        store._cache.set(f"eps#{run.run_id}", 1)
    with ReplayStore(tmp_path, create=False) as store:
        assert [e.steps[0].web[0].response.text for e in store.episodes()] == ["old text"]
    _tamper(tmp_path, "blob/", {"text": "new text"})
    with ReplayStore(tmp_path, create=False) as store:
        assert list(store.episodes()) == []
        assert [f"blob/{call.hash}" in str(d) for d in store.damaged.values()] == [True]


# ---- size ---------------------------------------------------------------------------

def test_the_write_limit_stays_well_below_what_a_reader_inflates() -> None:
    assert MAX_WRITE_BYTES * 4 <= MAX_RECORD_BYTES


@pytest.mark.parametrize("where", ["observation", "page"])
def test_an_episode_over_the_limit_is_refused_at_write_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    monkeypatch.setattr(store_module, "MAX_WRITE_BYTES", 50_000)
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
        small = episode(run.run_id)
        big = (episode(run.run_id, size=60_000) if where == "page" else
               EpisodeRecord(run.run_id, TASK, 1, "answered", 1.0, 1.0, 1.0,
                             steps=(StepRecord("a", "answer", (), "x" * 60_000),)))
        with pytest.raises(RecordTooLarge, match=re.escape(repr(big.episode_id))) as caught:
            store.append([small, big])
        assert "at most 50000 bytes" in str(caught.value) and "actual: 6" in str(caught.value)
        assert store.count(run.run_id) == 0  # nothing of the call was written
        assert store.append([small]) == 1
    with ReplayStore(tmp_path, create=False) as store:
        assert [e.episode_id for e in store.episodes()] == [small.episode_id]


def test_the_writer_fails_only_the_episode_too_large(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_WRITE_BYTES", 50_000)
    store = ReplayStore(tmp_path)
    run = store.create_run(RunRecord())
    small = [episode(run.run_id, group=g) for g in range(3)]
    big = episode(run.run_id, size=60_000)

    async def write_all() -> list[BaseException | None]:
        writer = EpisodeWriter(store)
        return await asyncio.gather(*(writer.write(e) for e in [*small, big]),
                                    return_exceptions=True)

    try:
        results = asyncio.run(write_all())
        assert results[:3] == [None] * 3 and isinstance(results[3], RecordTooLarge)
        assert store.count(run.run_id) == 3
    finally:
        store.close()


def test_a_run_config_nested_too_deep_to_read_back_is_refused(tmp_path: Path) -> None:
    config: dict[str, object] = {}
    for _ in range(80):
        config = {"x": config}
    with ReplayStore(tmp_path) as store, pytest.raises(ConfigError, match="nested at most 64"):
        store.create_run(RunRecord(config=config))
