"""The disk cache (TTL, keys, checked writes, two writer processes) and single flight."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import diskcache
import pytest

from tests.replay.conftest import write_lock_held
from tests.test_safe_disk import Trap
from webresearch.crawlers.cache import WebCache
from webresearch.net.single_flight import SingleFlight
from webresearch.web.backend import Page, SearchHit, SearchResults

PAGE = Page(url="https://a.test/x?utm_source=z", final_url="https://a.test/x", status=200,
            title="T", text="body", fetched_at=1.0, links=("https://a.test/y",))


def test_pages_and_searches_round_trip(tmp_path: Path) -> None:
    cache = WebCache(tmp_path)
    cache.put_page(PAGE)
    got = cache.get_page("HTTPS://A.test/x#frag")
    assert got is not None and got.from_cache and got.links == PAGE.links and got.text == "body"
    results = SearchResults(query="Q  one", hits=(SearchHit("t", "u", "s"),))
    cache.put_search("serper", results, 10)
    hit = cache.get_search("serper", "q one", 10)
    assert hit is not None and hit.hits == results.hits and hit.from_cache
    assert cache.get_search("serper", "q one", 5) is None  # k is part of the key
    assert cache.get_search("brave", "q one", 10) is None
    assert (cache.stats.hits, cache.stats.misses) == (2, 2)
    cache.close()


def test_any_text_round_trips_and_damage_is_a_miss(tmp_path: Path) -> None:
    import dataclasses

    cache = WebCache(tmp_path)
    text = 'line one\n"quoted" caf\u00e9 \U0001f600 \ufffd\n\n{"_v": 2}\n'
    page = dataclasses.replace(PAGE, text=text.replace("\ufffd", "\udcff"), title="a\nb")
    assert page.text == text  # a Page holds scalar text: the lone surrogate is replaced
    cache.put_page(page)
    got = cache.get_page(PAGE.url)
    assert got is not None and (got.text, got.title) == (text, "a\nb")
    key = "page:https://a.test/x"
    for damaged in (b"not json\nbody", b'{"_v": 1}\nbody', '{"_v": 2}', b"\xff\n"):
        cache._cache.set(key, damaged)  # an older schema, a foreign or broken entry
        assert cache.get_page(PAGE.url) is None
    cache.close()


def test_large_entries_are_files_a_plain_diskcache_reads(tmp_path: Path) -> None:
    import dataclasses
    import shutil

    cache = WebCache(tmp_path)
    text = "a line of page text\n" * 2000  # 40 KB: a file of its own
    cache.put_page(dataclasses.replace(PAGE, text=text))
    files = [p for p in tmp_path.rglob("*.val")]
    assert len(files) == 1 and files[0].parent.parent == tmp_path  # one directory level
    cache.put_page(dataclasses.replace(PAGE, text=text + "more\n"))  # replaced: old file gone
    assert len(list(tmp_path.rglob("*.val"))) == 1
    cache.close()
    plain = diskcache.Cache(str(tmp_path))  # diskcache's own Disk reads it back
    raw = plain.get("page:https://a.test/x")
    assert isinstance(raw, bytes) and raw.endswith(b"more\n")
    plain.close()
    cache = WebCache(tmp_path)
    for directory in [p for p in tmp_path.iterdir() if p.is_dir()]:
        shutil.rmtree(directory)  # as another process's removal of its last file would
    assert cache.get_page(PAGE.url) is None  # the file is gone: a miss
    cache.put_page(dataclasses.replace(PAGE, text=text))  # the directory is made again
    got = cache.get_page(PAGE.url)
    assert got is not None and got.text == text
    cache.close()


def test_a_write_that_fills_the_disk_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import errno

    real_open = Path.open

    class Full:
        def __init__(self, file: Any) -> None:
            self.file = file

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[:100])  # part of it lands, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    def open_full(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = real_open(self, mode, *args, **kwargs)
        return Full(file) if mode == "xb" else file

    cache = WebCache(tmp_path)
    monkeypatch.setattr(Path, "open", open_full)
    cache.put_page(dataclasses.replace(PAGE, text="x" * 50_000))
    assert cache.stats.failed_writes == 1 and not list(tmp_path.rglob("*.val"))
    assert cache.get_page(PAGE.url) is None
    cache.close()


def test_a_full_disk_or_broken_database_costs_the_cache_not_the_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import errno
    import sqlite3

    cache = WebCache(tmp_path)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(cache._cache, "set", full)
    monkeypatch.setattr(cache._cache, "get", broken)
    with caplog.at_level("DEBUG", logger="webresearch.crawlers.cache"):
        for _ in range(3):
            cache.put_page(PAGE)
            assert cache.get_page(PAGE.url) is None
    assert cache.stats.failed_writes == 3 and cache.stats.misses == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2  # one per kind of trouble, then quietly
    assert "No space left" in warnings[0].getMessage()
    cache.close()


def test_failures_are_not_cached_and_ttl_expires(tmp_path: Path) -> None:
    cache = WebCache(tmp_path, page_ttl_s=0.05)
    cache.put_page(Page.failure("https://a.test/404", "404 Not Found", status=404))
    assert cache.get_page("https://a.test/404") is None
    cache.put_search("serper", SearchResults(query="q", error="quota"), 10)
    assert cache.get_search("serper", "q", 10) is None
    cache.put_page(PAGE)
    time.sleep(0.1)
    assert cache.get_page(PAGE.url) is None
    cache.close()


def test_a_busy_cache_pauses_writes_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    cache = WebCache(tmp_path, busy_pause_s=3600)
    calls: list[str] = []

    def busy(key: str, *args: object, **kwargs: object) -> bool:
        calls.append(key)
        raise diskcache.Timeout

    monkeypatch.setattr(cache._cache, "set", busy)
    for _ in range(3):
        cache.put_page(PAGE)
    assert cache.stats.failed_writes == 3 and len(calls) == 1  # then paused: no more waits
    assert f"web cache {tmp_path}: another process held its write lock" in caplog.text
    cache.close()


def test_another_process_holding_the_lock_costs_one_bounded_wait(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = WebCache(tmp_path, timeout_s=0.2)
    cache.put_page(PAGE)
    with write_lock_held(tmp_path / "cache.db"):
        start = time.monotonic()
        for i in range(20):
            cache.put_text(f"k{i}", "x", 60)
        waited = time.monotonic() - start
        assert cache.get_page(PAGE.url) is not None  # reads go on
    assert cache.stats.failed_writes == 20 and waited < 15  # one 0.2 s wait, not twenty
    assert "writes paused for 30 s" in caplog.text
    cache.close()


def test_a_pickled_entry_is_a_miss_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    with diskcache.Cache(str(tmp_path / "c")) as plain:
        plain.set("page:https://a.test/x", Trap(marker))
    cache = WebCache(tmp_path / "c")
    assert cache.get_page("https://a.test/x") is None and cache.stats.misses == 1
    cache.close()
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["garbage", "full"])
def test_a_cache_that_cannot_open_costs_the_cache_only(
        tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    if damage == "garbage":
        (tmp_path / "cache.db").write_bytes(b"not a database" * 100)
    else:
        def full(*args: object, **kwargs: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(diskcache.Cache, "__init__", full)
    cache = WebCache(tmp_path)
    assert not cache.usable
    cache.put_page(PAGE)
    assert cache.get_page(PAGE.url) is None and cache.stats.failed_writes == 1
    assert "continuing without the web cache" in caplog.text
    cache.close()


def _write_many(directory: str, worker: int, n: int) -> None:
    cache = WebCache(directory, timeout_s=30.0)  # contention, not a slow machine, is tested
    for i in range(n):
        cache.put_text(f"{worker}:{i}", "x" * 100, 3600)
    assert cache.stats.failed_writes == 0
    cache.close()


def test_two_writer_processes_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(str(tmp_path), w, 1500)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    cache = WebCache(tmp_path)
    assert all(cache.get_text(f"{w}:{i}") for w in range(2) for i in range(1500))
    cache.close()


def test_single_flight_survives_a_cancelled_leader() -> None:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)
        return "done"

    async def main() -> list[str]:
        flight: SingleFlight[str] = SingleFlight()
        leader = asyncio.ensure_future(flight.run("k", work))
        await asyncio.sleep(0)
        followers = [asyncio.ensure_future(flight.run("k", work)) for _ in range(3)]
        await asyncio.sleep(0.01)
        leader.cancel()
        out = await asyncio.gather(*followers)
        out.append(await flight.run("k", work))  # a new flight after landing
        return out

    assert asyncio.run(main()) == ["done"] * 4
    assert len(calls) == 2


def test_single_flight_shares_errors() -> None:
    async def boom() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("x")

    async def main() -> list[object]:
        flight: SingleFlight[str] = SingleFlight()
        return await asyncio.gather(*(flight.run("k", boom) for _ in range(3)),
                                    return_exceptions=True)

    assert [type(e) for e in asyncio.run(main())] == [ValueError] * 3
