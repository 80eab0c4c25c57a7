"""Opening a store's folder: readers read only, and a folder that is not a store is left as it is.

A reader (``create=False``) opens the database read-only (:func:`open_readonly`), so it
reads a store it may not write and changes nothing. A writer first looks at an
existing database read-only too, and refuses another program's database, or another
kind of diskcache, before anything is written to it: no tables added, no switch to WAL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import DBNAME

from webresearch.errors import StoreError
from webresearch.safe_disk import (
    ReadOnlyCache,
    in_use,
    open_cache,
    open_readonly,
)

__all__ = ["MARK", "open_store"]

WHAT = "replay store"
MARK = "store#"
"""Set in every store this code creates (older stores are known by their run counter)."""
_DISKCACHE_TABLES = frozenset({"Settings", "Cache"})


def open_store(directory: Path, *, timeout_s: float, create: bool,
               settings: dict[str, Any]) -> diskcache.Cache | ReadOnlyCache:
    """The store at ``directory``: read-only unless ``create``; made if ``create`` and absent
    (the caller then sets :data:`MARK`).

    Raises :class:`~webresearch.errors.StoreError` for a folder holding anything but a
    store (checked before anything is written), or, when reading, for no store at all.
    """
    database = directory / DBNAME
    if create and (not database.is_file() or in_use(database)):
        # absent, or open in another process right now (a store shared by rollout workers):
        # a second connection that only looks, read-only, there made the writers' next
        # connections read "file is not a database" (Ray workers lost every episode)
        return open_cache(directory, timeout_s=timeout_s, what=WHAT, **settings)
    with open_readonly(directory, timeout_s=timeout_s, what=WHAT, look=True) as first:
        kind = _kind(first)
    if kind != "store" and not (create and kind == "empty"):
        raise StoreError(f"Expects a replay store at {str(directory)!r}, actual: {kind} "
                         "(no runs, no store mark; left untouched)")
    if not create:
        return open_readonly(directory, timeout_s=timeout_s, what=WHAT)
    return open_cache(directory, timeout_s=timeout_s, what=WHAT, **settings)


def _kind(reader: ReadOnlyCache) -> str:
    """``"store"``, ``"empty"`` (a diskcache being made) or what else the database is."""
    try:
        tables = reader.tables()
        if tables - _DISKCACHE_TABLES:
            return f"another program's database (tables {sorted(tables)[:5]})"
        if "Cache" not in tables:
            return "empty"
        if MARK in reader or "runs#" in reader:
            return "store"
        empty = reader.empty()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"Expects a replay store at {reader.directory!r}, actual: an "
                         f"unreadable database ({exc})") from exc
    return "empty" if empty else "another kind of cache"
