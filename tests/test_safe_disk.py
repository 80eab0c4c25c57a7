"""diskcache opened safely: pickles refused unread, hostile files refused, lock waits bounded."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import diskcache
import pytest

from tests.replay.conftest import write_lock_held
from webresearch.errors import DamagedRecord, StoreBusy, StoreDamaged, StoreError
from webresearch.safe_disk import open_cache, write_transaction


class Trap:
    """Unpickling this creates a file: proof that a value was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickled_value_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    with diskcache.Cache(str(tmp_path / "c")) as plain:  # diskcache pickles what it cannot store
        plain.set("value", Trap(marker))
        plain.set(("a", "tuple", "key"), b"x")
    cache = open_cache(tmp_path / "c", timeout_s=5.0)
    try:
        with pytest.raises(DamagedRecord, match=re.escape("a pickled value, which is not a "
                                                          "webresearch store value")):
            cache.get("value")
        with pytest.raises(DamagedRecord, match="a pickled key"):
            list(cache.iterkeys())
        with pytest.raises(TypeError, match="a store never pickles"):
            cache.set("k", {"a": 1})
    finally:
        cache.close()
    assert not marker.exists()


def test_a_value_file_outside_the_store_is_refused(tmp_path: Path) -> None:
    cache = open_cache(tmp_path, timeout_s=5.0)
    cache.set("k", b"x")
    cache.close()
    with sqlite3.connect(tmp_path / "cache.db") as con:  # mode 2: binary, in a file
        con.execute("UPDATE Cache SET mode = 2, filename = ?, value = NULL", ("../../etc/passwd",))
    cache = open_cache(tmp_path, timeout_s=5.0)
    with pytest.raises(DamagedRecord, match=re.escape("a value file outside the store")):
        cache.get("k")
    cache.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "settings"])
def test_a_damaged_file_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    cache = open_cache(tmp_path, timeout_s=5.0)
    for i in range(200):
        cache.set(f"k{i}", b"x" * 100)
    cache.close()
    database = tmp_path / "cache.db"
    if damage == "garbage":
        database.write_bytes(b"\x00garbage" * 1000)
    elif damage == "truncated":
        database.write_bytes(database.read_bytes()[:100])
    else:
        with sqlite3.connect(database) as con:
            con.execute("INSERT INTO Settings VALUES ('sqlite_writable_schema', 'ON')")
    with pytest.raises(StoreDamaged, match=re.escape(f"Expects a store at {str(tmp_path)!r}, "
                                                     "actual: cache.db is damaged or not one")):
        open_cache(tmp_path, timeout_s=5.0)


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    open_cache(tmp_path / "store", timeout_s=5.0).close()
    with pytest.raises(StoreError, match=re.escape(  # the path, as the user can paste it
            f"actual: no such directory. Did you mean {str(tmp_path / 'store')!r}?")):
        open_cache(tmp_path / "stor", timeout_s=5.0, create=False)
    assert not (tmp_path / "stor").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="a directory without one"):
        open_cache(tmp_path / "empty", timeout_s=5.0, create=False)


def test_waits_on_another_process_lock_are_bounded(tmp_path: Path) -> None:
    cache = open_cache(tmp_path, timeout_s=0.3)
    with write_lock_held(tmp_path / "cache.db"):
        start = time.monotonic()
        with (pytest.raises(StoreBusy, match=re.escape("another process held its write lock")),
              write_transaction(cache)):
            cache.set("k", 1)
        with pytest.raises(StoreBusy, match=re.escape(str(tmp_path / "cache.db"))):
            open_cache(tmp_path, timeout_s=0.3)
        assert time.monotonic() - start < 30  # bounded (0.6 s asked; generous for a busy CI)
        assert cache.get("missing") is None  # reads go on (WAL)
    with write_transaction(cache):  # free again
        cache.set("k", 1)
    cache.close()
