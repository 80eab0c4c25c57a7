"""A disk cache of pages and search results shared by every process, and single-flight requests.

Built on ``diskcache.Cache`` (one SQLite database), opened through
:func:`~webresearch.safe_disk.open_cache`: nothing in it is ever unpickled, and
a file that is damaged or not a cache is refused. A cache failure costs the cache,
never the step: a cache that cannot be opened (a full disk, a damaged file) is
logged and the web is used without it; a read that fails is a miss; a write that
fails is counted and logged. A write waits at most ``timeout_s`` for another
process's lock (the event loop waits with it); when that runs out, writes pause
for ``busy_pause_s``, so a process that holds the lock for minutes costs a rollout
one ``timeout_s`` per pause, not a stall.

An entry is bytes: one line of JSON (the fields, and the schema version), then the
long text (a page's, robots.txt's) as raw UTF-8, which costs a copy where JSON would
escape it and diskcache re-encode it. diskcache's own ``Disk`` writes a large bytes value
to its file line by line (it iterates a ``BytesIO``) and makes a new directory for
almost every file of a young cache; :class:`_Disk` writes it in one call, into one of
256 directories: a 50 KB page's write takes 0.14–0.25 ms of CPU here, against
0.30–0.40 ms (0.6 at worst) through diskcache's own.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, UNKNOWN

from webresearch.errors import StoreError
from webresearch.net.urls import normalize_query, normalize_url
from webresearch.safe_disk import SafeDisk, open_cache
from webresearch.web.backend import Page, SearchHit, SearchResults

__all__ = ["CacheStats", "WebCache"]

logger = logging.getLogger(__name__)
_SCHEMA = 2
DAY = 24 * 3600.0


@dataclass(slots=True)
class CacheStats:
    """Counts of one cache's traffic in this process."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    failed_writes: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def count(self, kind: str, hit: bool) -> None:
        pair = self.by_kind.setdefault(kind, [0, 0])
        pair[0 if hit else 1] += 1
        if hit:
            self.hits += 1
        else:
            self.misses += 1


class WebCache:
    """Pages and search results on disk, with a time-to-live per kind.

    Keys come from normalised URLs and queries, so ``HTTP://A.com/x#y`` and
    ``http://a.com/x`` share an entry. Only successful responses are stored.

    Example:
        >>> import tempfile
        >>> cache = WebCache(tempfile.mkdtemp())
        >>> page = Page(url="https://a.test/", final_url="https://a.test/", status=200,
        ...             title="A", text="hello")
        >>> cache.put_page(page)
        >>> cache.get_page("HTTPS://a.test/#top").text, cache.stats.hits
        ('hello', 1)
        >>> cache.close()
    """

    def __init__(self, directory: str | Path, *, search_ttl_s: float = 7 * DAY,
                 page_ttl_s: float = 7 * DAY, size_limit: int = 8 * 2**30,
                 timeout_s: float = 1.0, busy_pause_s: float = 30.0) -> None:
        self.directory = Path(directory)
        self.search_ttl_s = search_ttl_s
        self.page_ttl_s = page_ttl_s
        self.busy_pause_s = busy_pause_s
        self.stats = CacheStats()
        self._troubles: set[str] = set()
        self._paused_until = 0.0
        self._cache: diskcache.Cache | None = None
        try:
            self._cache = open_cache(self.directory, timeout_s=timeout_s, what="web cache",
                                     disk=_Disk, size_limit=size_limit)
        except (StoreError, OSError, sqlite3.Error) as exc:
            logger.warning("%s; continuing without the web cache", exc)

    @property
    def usable(self) -> bool:
        """Whether the cache opened (``False``: every read misses, every write is dropped)."""
        return self._cache is not None

    # pages -----------------------------------------------------------------
    def get_page(self, url: str, *, scope: str = "") -> Page | None:
        """The page cached for ``url`` in ``scope`` (the fetcher's URL policy), if any."""
        entry = self._get(f"page:{scope}{normalize_url(url)}", "page")
        if entry is None:
            return None
        data, text = entry
        return Page(**{**data, "text": text, "links": tuple(data["links"]), "from_cache": True})

    def put_page(self, page: Page, *, scope: str = "") -> None:
        if page.ok:
            data = {"url": page.url, "final_url": page.final_url, "status": page.status,
                    "title": page.title, "fetched_at": page.fetched_at, "error": page.error,
                    "links": page.links}
            self._put(f"page:{scope}{normalize_url(page.url)}", data, self.page_ttl_s, page.text)

    # searches --------------------------------------------------------------
    def get_search(self, engine: str, query: str, k: int) -> SearchResults | None:
        entry = self._get(self._search_key(engine, query, k), "search")
        if entry is None:
            return None
        hits = tuple(SearchHit(**h) for h in entry[0]["hits"])
        return SearchResults(query=query, hits=hits, from_cache=True)

    def put_search(self, engine: str, results: SearchResults, k: int) -> None:
        if results.error is None:
            data = {"hits": [asdict(h) for h in results.hits]}
            self._put(self._search_key(engine, results.query, k), data, self.search_ttl_s)

    # raw text (robots.txt) ---------------------------------------------------
    def get_text(self, key: str) -> str | None:
        entry = self._get(f"text:{key}", "text")
        return None if entry is None else entry[1]

    def put_text(self, key: str, text: str, ttl_s: float) -> None:
        self._put(f"text:{key}", {}, ttl_s, text)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    @staticmethod
    def _search_key(engine: str, query: str, k: int) -> str:
        return f"search:{engine}:{k}:{normalize_query(query)}"

    def _get(self, key: str, kind: str) -> tuple[dict[str, Any], str] | None:
        raw = None
        try:
            raw = self._cache.get(key) if self._cache is not None else None
        except diskcache.Timeout:
            pass  # a busy cache is a miss, not an error
        except (StoreError, OSError, sqlite3.Error) as exc:  # a damaged entry, disk or file
            self._trouble("read", key, exc)
        entry = _decode(raw)
        self.stats.count(kind, entry is not None)
        return entry

    def _put(self, key: str, data: dict[str, Any], ttl_s: float, text: str = "") -> None:
        if self._cache is None or time.monotonic() < self._paused_until:
            self.stats.failed_writes += 1
            return
        try:
            self._cache.set(key, _encode(data, text), expire=ttl_s)
        except diskcache.Timeout:
            self.stats.failed_writes += 1
            self._paused_until = time.monotonic() + self.busy_pause_s
            logger.warning("web cache %s: another process held its write lock for %.1f s; "
                           "writes paused for %.0f s", self.directory, self._cache.timeout,
                           self.busy_pause_s)
        except (StoreError, OSError, sqlite3.Error) as exc:  # a full disk: waiting will not help
            self.stats.failed_writes += 1
            self._trouble("write", key, exc)
        else:
            self.stats.writes += 1

    def _trouble(self, what: str, key: str, exc: Exception) -> None:
        """Log a cache failure: a warning the first time for each kind, then quietly."""
        kind = f"{what}:{type(exc).__name__}"
        log = logger.debug if kind in self._troubles else logger.warning
        self._troubles.add(kind)
        log("cache %s of %s failed (%s); continuing without the cache", what, key, exc)


class _Disk(SafeDisk):
    """The never-unpickling ``Disk``, but a large bytes value is written in one call.

    Files sit in 256 directories rather than diskcache's 65,536, but the rows name
    them as diskcache's do, so a cache written here reads back with a plain
    ``diskcache.Cache`` and the other way round.
    """

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[int, int, str | None, Any]:
        if type(value) is not bytes or len(value) < self.min_file_size:
            return super().store(value, read, key)
        filename, full_path = self.filename(key, value)
        _create(Path(full_path), value)
        return len(value), MODE_BINARY, filename, None

    def filename(self, key: Any = UNKNOWN, value: Any = UNKNOWN) -> tuple[str, str]:
        """A random name in one of 256 directories (diskcache's two levels make 65,536,
        so a young cache pays for a new directory on almost every write)."""
        name = os.urandom(16).hex()
        filename = f"{name[:2]}/{name[2:]}.val"
        return filename, str(Path(self._directory) / filename)


def _create(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path``; a failed write (a full disk) leaves none."""
    for attempt in range(3):
        try:
            file = path.open("xb")
            break
        except FileNotFoundError:  # a new directory, or one another process just removed
            if attempt == 2:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with file:
            file.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _encode(data: dict[str, Any], text: str) -> bytes:
    head = json.dumps({**data, "_v": _SCHEMA}, ensure_ascii=False)  # one line: JSON escapes \n
    return b"%s\n%s" % (head.encode(), text.encode("utf-8", "surrogatepass"))


def _decode(raw: object) -> tuple[dict[str, Any], str] | None:
    """An entry's fields and text; ``None`` for anything else (an older schema, damage)."""
    if not isinstance(raw, bytes):
        return None
    head, _, text = raw.partition(b"\n")
    try:
        data = json.loads(head)
        if not isinstance(data, dict) or data.pop("_v", None) != _SCHEMA:
            return None
        return data, text.decode("utf-8", "surrogatepass")
    except ValueError:  # JSON or UTF-8 (UnicodeDecodeError is a ValueError)
        return None
