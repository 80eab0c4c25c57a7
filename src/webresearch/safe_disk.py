"""diskcache opened safely: no value is ever unpickled, every lock wait is bounded.

``diskcache`` unpickles any value or key stored in pickle mode, applies SQLite pragmas
named by the file's own ``Settings`` table, reads value files from paths the file
names, and retries a locked database for 60 s (``transact(retry=True)``: forever).
The replay store and the web cache open their files through :func:`open_cache`,
which turns each of these into an error of :mod:`webresearch.errors`:

- a pickled value or key is :class:`~webresearch.errors.DamagedRecord` ("not a
  webresearch store value"), and is never loaded;
- a file that is not an SQLite database, or whose settings are not diskcache's, is
  :class:`~webresearch.errors.StoreDamaged`;
- another process holding the write lock longer than ``timeout_s`` is
  :class:`~webresearch.errors.StoreBusy`, which names the file.

A reader opens the file with :func:`open_readonly` instead: SQLite's read-only mode,
so that it reads a store it may not write (a read-only folder, another user's files)
and never changes a file, ours or not (no tables made, no switch to WAL).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, TypeVar

import diskcache
from diskcache.core import DBNAME, DEFAULT_SETTINGS, METADATA, MODE_PICKLE

from webresearch.errors import DamagedRecord, StoreBusy, StoreDamaged, StoreError

__all__ = ["ReadOnlyCache", "SafeDisk", "busy", "in_use", "is_locked", "open_cache",
           "open_readonly",
           "retry_while_locked", "write_transaction"]

T = TypeVar("T")

_KNOWN_SETTINGS = frozenset(DEFAULT_SETTINGS) | frozenset(METADATA)


class SafeDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache is untyped
    """diskcache's ``Disk`` that refuses to unpickle, or to read a file outside its folder."""

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise DamagedRecord("a pickled key, which is not a webresearch store key (it was not "
                                "unpickled)")
        return super().get(key, raw)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE:
            raise DamagedRecord("a pickled value, which is not a webresearch store value "
                                "(it was not unpickled)")
        if filename is not None and not _inside(filename):
            raise DamagedRecord(f"a value file outside the store ({filename!r})")
        return super().fetch(mode, filename, value, read)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN
              ) -> tuple[int, int, str | None, Any]:
        if read or type(value) not in (bytes, str, int, float):
            raise TypeError(f"Expects a bytes, str, int or float value, actual: "
                            f"{type(value).__name__} (a store never pickles)")
        return super().store(value, read, key)  # type: ignore[no-any-return]


def _inside(filename: str) -> bool:
    path = PurePosixPath(filename)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in filename


class _BoundedCache(diskcache.Cache):  # type: ignore[misc]  # diskcache is untyped
    """``diskcache.Cache`` whose statements outside transactions retry for a bounded time."""

    def __init__(self, directory: str, *, bound_s: float, **options: Any) -> None:
        self._bound_s = bound_s
        super().__init__(directory, **options)

    @property
    def _sql_retry(self) -> Callable[..., Any]:
        sql, bound = self._sql, self._bound_s

        def execute(statement: str, *args: Any) -> Any:
            return retry_while_locked(lambda: sql(statement, *args), bound)

        return execute


def open_cache(directory: str | Path, *, timeout_s: float, create: bool = True,
               what: str = "store", disk: type[SafeDisk] = SafeDisk,
               **settings: Any) -> diskcache.Cache:
    """Open (or, with ``create``, make) the diskcache at ``directory``, checked and bounded.

    Example:
        >>> import tempfile
        >>> cache = open_cache(tempfile.mkdtemp(), timeout_s=1.0)
        >>> cache.set("k", b"v"), cache.get("k")
        (True, b'v')
        >>> cache.close()
    """
    directory = Path(directory)
    database = directory / DBNAME
    if not create and not database.is_file():
        raise StoreError(_missing(directory, what))
    _check_database(database, timeout_s=timeout_s, what=what)
    try:
        return _BoundedCache(str(directory), bound_s=timeout_s, timeout=timeout_s, disk=disk,
                             **{**DEFAULT_SETTINGS, **settings})
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise busy(database, timeout_s, what) from exc
        raise StoreError(f"Expects a writable {what} at {str(directory)!r}, actual: {exc}"
                         ) from exc
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise _damaged(database, what, str(exc)) from exc
    except OSError as exc:
        raise StoreError(f"Expects a {what} directory at {str(directory)!r}, actual: {exc}"
                         ) from exc


_SQLITE_MAGIC = b"SQLite format 3\x00"
_SELECT = ("SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
           " AND (expire_time IS NULL OR expire_time > ?)")


class ReadOnlyCache:
    """A diskcache's string-keyed values, read through a read-only SQLite connection.

    It reads what :func:`open_cache` wrote (the same :class:`SafeDisk` checks: no
    pickles, no files outside the folder) and writes nothing, not even SQLite's
    ``-wal``/``-shm`` files where the folder is read-only.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> cache = open_cache(folder, timeout_s=1.0)
        >>> cache.set("k", b"v"), cache.close()
        (True, None)
        >>> with open_readonly(folder, timeout_s=1.0) as reader:
        ...     reader.get("k"), "x" in reader, sorted(reader.tables())
        (b'v', False, ['Cache', 'Settings'])
    """

    def __init__(self, directory: Path, connection: sqlite3.Connection, timeout_s: float) -> None:
        self.directory = str(directory)
        self.timeout = timeout_s
        self._con = connection
        self._disk = SafeDisk(self.directory)

    def tables(self) -> set[str]:
        """The names of the database's tables."""
        rows = self._con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(name) for (name,) in rows}

    def empty(self) -> bool:
        """Whether the ``Cache`` table holds no value."""
        return not self._con.execute("SELECT 1 FROM Cache LIMIT 1").fetchall()

    def get(self, key: str, default: Any = None) -> Any:
        rows = retry_while_locked(
            lambda: self._con.execute(_SELECT, (key, time.time())).fetchall(), self.timeout)
        if not rows:
            return default
        ((mode, filename, value),) = rows
        return self._disk.fetch(mode, filename, value, False)

    def __contains__(self, key: str) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ReadOnlyCache:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_ABSENT = object()


def open_readonly(directory: str | Path, *, timeout_s: float, what: str = "store",
                  look: bool = False) -> ReadOnlyCache:
    """Open the diskcache at ``directory`` for reading only; nothing there is changed.

    ``look`` is for a first look at a database that may not be ours: where no other
    connection has a journal or write-ahead log open, it is read as an immutable file,
    so that SQLite makes no ``-wal``/``-shm`` files beside it either.

    A file that is not SQLite, or whose settings are not diskcache's, is
    :class:`~webresearch.errors.StoreDamaged`; a missing one a
    :class:`~webresearch.errors.StoreError` that says what is there instead.
    """
    directory = Path(directory)
    database = directory / DBNAME
    if not database.is_file():
        raise StoreError(_missing(directory, what))
    try:
        with database.open("rb") as file:
            magic = file.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"Expects a readable {what} at {str(directory)!r}, actual: {exc}"
                         ) from exc
    if magic != _SQLITE_MAGIC:
        raise _damaged(database, what, "not an SQLite database")
    con = (_probe(f"{database.absolute().as_uri()}?immutable=1", timeout_s, database, what)
           if look and not in_use(database) else _connect_readonly(database, timeout_s, what))
    try:
        _check_settings(con, database, what)
    except BaseException:
        con.close()
        raise
    return ReadOnlyCache(directory, con, timeout_s)


def _connect_readonly(database: Path, timeout_s: float, what: str) -> sqlite3.Connection:
    """``mode=ro``; where SQLite cannot share a WAL from a read-only folder and no
    write-ahead log waits, ``immutable=1`` (the file then cannot change under it)."""
    try:
        return _probe(f"{database.absolute().as_uri()}?mode=ro", timeout_s)
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise busy(database, timeout_s, what) from exc
        wal = database.with_name(database.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(f"Expects a {what} at {str(database.parent)!r} that this user "
                             f"can read, actual: {exc} (its write-ahead log needs a folder "
                             "this user may write, or a writer to close it)") from exc
    except sqlite3.DatabaseError as exc:
        raise _damaged(database, what, str(exc)) from exc
    try:
        return _probe(f"{database.absolute().as_uri()}?immutable=1", timeout_s)
    except sqlite3.DatabaseError as exc:
        raise _damaged(database, what, str(exc)) from exc


def in_use(database: Path) -> bool:
    """Whether a journal or write-ahead log lies beside ``database`` (a writer may be at it)."""
    return any(database.with_name(database.name + end).exists()
               for end in ("-wal", "-journal", "-shm"))


def _probe(uri: str, timeout_s: float, database: Path | None = None, what: str = ""
           ) -> sqlite3.Connection:
    if database is not None:  # errors of a first look: the file is not a database
        try:
            return _probe(uri, timeout_s)
        except sqlite3.DatabaseError as exc:
            raise _damaged(database, what, str(exc)) from exc
    con = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None,
                          check_same_thread=False)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except ValueError as exc:  # UnicodeDecodeError: schema text that is not UTF-8
        con.close()
        raise sqlite3.DatabaseError(f"schema text that is not UTF-8 ({exc})") from exc
    except BaseException:
        con.close()
        raise
    return con


def _check_settings(con: sqlite3.Connection, database: Path, what: str) -> None:
    """Refuse a file whose settings diskcache would not have written."""
    try:
        strange = _strange_settings(con)
    except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: text that is not UTF-8
        raise _damaged(database, what, str(exc)) from exc
    if strange:
        raise _damaged(database, what, f"unknown settings {strange[:3]}")


def _strange_settings(con: sqlite3.Connection) -> list[str]:
    """The keys of the ``Settings`` table that are not diskcache's (none if no table)."""
    try:
        rows = con.execute("SELECT key, value FROM Settings").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        rows = []
    return sorted(str(k) for k, _ in rows if k not in _KNOWN_SETTINGS)


def _missing(directory: Path, what: str) -> str:
    if not directory.exists():
        found = "no such directory"
    elif not directory.is_dir():
        found = "a file, not a directory"
    else:
        found = f"a directory without one (no {DBNAME})"
    siblings = ([p.name for p in directory.parent.iterdir() if (p / DBNAME).is_file()]
                if directory.parent.is_dir() else [])
    from webresearch.errors import did_you_mean  # noqa: PLC0415 - only on this error path

    hint = did_you_mean(directory.name, siblings)
    for name in siblings:  # the hint names the sibling's path, which works where the user is
        hint = hint.replace(f" {name!r}?", f" {str(directory.parent / name)!r}?")
    return f"Expects a {what} at {str(directory)!r}, actual: {found}.{hint}"


def _damaged(database: Path, what: str, reason: str) -> StoreDamaged:
    return StoreDamaged(f"Expects a {what} at {str(database.parent)!r}, actual: {database.name} "
                        f"is damaged or not one ({reason})")


def _check_database(database: Path, *, timeout_s: float, what: str) -> None:
    """Refuse a file that is not SQLite, or whose settings diskcache would act on blindly;
    wait at most ``timeout_s`` for another process's write lock."""
    if not database.is_file():
        return
    try:
        with closing(sqlite3.connect(str(database), timeout=timeout_s,
                                     isolation_level=None)) as con:
            strange = _strange_settings(con)
            if strange:
                raise _damaged(database, what, f"unknown settings {strange[:3]}")
            con.execute("BEGIN IMMEDIATE")  # waits for another writer, at most timeout_s
            con.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if is_locked(exc) or "busy" in str(exc):
            raise busy(database, timeout_s, what) from exc
        raise _damaged(database, what, str(exc)) from exc
    except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: text that is not UTF-8
        raise _damaged(database, what, str(exc)) from exc


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite refusing a lock another connection holds."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def retry_while_locked(work: Callable[[], T], timeout_s: float) -> T:
    """Run ``work``, again every 5 ms while SQLite answers "locked" without waiting (as
    it may when two processes set a database up at once), for at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return work()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def busy(database: Path | str, timeout_s: float, what: str) -> StoreBusy:
    """The error for a lock that another process held for all of ``timeout_s``."""
    return StoreBusy(f"Expects the {what} at {str(database)!r} to be free within "
                     f"{timeout_s:g} s, actual: another process held its write lock throughout")


@contextmanager
def write_transaction(cache: diskcache.Cache, *, what: str = "store") -> Iterator[None]:
    """One write transaction, waiting at most the cache's timeout for the lock.

    Example:
        >>> import tempfile
        >>> cache = open_cache(tempfile.mkdtemp(), timeout_s=1.0)
        >>> with write_transaction(cache):
        ...     cache.incr("n")
        1
        >>> cache.close()
    """
    stack = ExitStack()
    try:
        stack.enter_context(cache.transact(retry=False))
    except diskcache.Timeout as exc:
        raise busy(Path(cache.directory) / DBNAME, cache.timeout, what) from exc
    with stack:
        yield
