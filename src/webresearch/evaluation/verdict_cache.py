"""The judge's verdicts on disk: JSON text in a never-unpickling diskcache.

A verdict is kept as one JSON line (``{"correct": true, "rationale": "..."}``) in a
cache opened through :func:`~webresearch.safe_disk.open_cache`, so nothing read
back is ever unpickled: a pickled value planted in the folder (by hand, or by an
older version that used a plain ``diskcache.Cache``) is a damaged record, logged
and answered as a miss, and the judge is asked again. A folder that cannot be
opened at all (busy, not a cache) leaves the judge without a cache, with a warning.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import diskcache

from webresearch.errors import StoreError
from webresearch.safe_disk import open_cache
from webresearch.untrusted import loads_json

__all__ = ["CachedVerdict", "VerdictCache"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedVerdict:
    """A verdict as the cache holds it."""

    correct: bool
    rationale: str


class VerdictCache:
    """Verdicts by key, as JSON text on disk; a damaged or foreign record is a miss.

    Args:
        directory: The cache folder (made if missing).
        timeout_s: Longest wait for another process's write lock.

    Example:
        >>> import tempfile
        >>> cache = VerdictCache(tempfile.mkdtemp())
        >>> cache.put("k", CachedVerdict(True, "same person"))
        >>> cache.get("k"), cache.get("other")
        (CachedVerdict(correct=True, rationale='same person'), None)
        >>> cache.close()
    """

    def __init__(self, directory: str | Path, *, timeout_s: float = 5.0) -> None:
        self.directory = Path(directory)
        self.damaged = 0
        """Records read back that were not a verdict (pickled, garbled): each was a miss."""
        self._cache: diskcache.Cache | None = None
        try:
            self._cache = open_cache(self.directory, timeout_s=timeout_s, what="judge cache")
        except (StoreError, OSError, sqlite3.Error) as exc:
            logger.warning("%s; judging without a cache", exc)

    @property
    def usable(self) -> bool:
        """Whether the cache opened (``False``: every read misses, every write is dropped)."""
        return self._cache is not None

    def get(self, key: str) -> CachedVerdict | None:
        """The verdict kept for ``key``, or ``None`` (never kept, or not readable as one)."""
        if self._cache is None:
            return None
        try:
            raw = self._cache.get(key)
        except (StoreError, OSError, sqlite3.Error, diskcache.Timeout) as exc:
            self._miss(key, str(exc))
            return None
        verdict = _decode(raw)
        if raw is not None and verdict is None:
            self._miss(key, f"not a verdict: {raw!r:.80}")
        return verdict

    def put(self, key: str, verdict: CachedVerdict) -> None:
        """Keep ``verdict`` for ``key`` (a failed write is logged, never raised)."""
        if self._cache is None:
            return
        text = json.dumps({"correct": verdict.correct, "rationale": verdict.rationale})
        try:
            self._cache.set(key, text)
        except (StoreError, OSError, sqlite3.Error, diskcache.Timeout) as exc:
            logger.warning("judge cache %s: a verdict was not kept (%s)", self.directory, exc)

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _miss(self, key: str, why: str) -> None:
        self.damaged += 1
        logger.warning("judge cache %s: the record %s is damaged (%s); asking the judge again",
                       self.directory, key[:16], why)


def _decode(raw: object) -> CachedVerdict | None:
    """A verdict from its JSON text, or ``None`` for anything else."""
    if not isinstance(raw, str):
        return None
    try:
        data = loads_json(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("correct"), bool):
        return None
    rationale = data.get("rationale", "")
    return CachedVerdict(data["correct"], rationale if isinstance(rationale, str) else "")
