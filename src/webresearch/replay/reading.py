"""Checked reads of a replay store's records: each one valid, or an error that names it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webresearch.errors import DamagedRecord
from webresearch.replay.records import check_summary, checked_content, decode, inflate, parse
from webresearch.safe_disk import busy, is_locked
from webresearch.untrusted import scalar_text

__all__ = ["MAX_MISSING", "StoreReader"]

MAX_MISSING = 1024
"""Records missing in a row after which a numbered listing (runs, verdicts) stops: its
count is damaged (a count of 10**12 would otherwise be walked key by key, each noted)."""


class StoreReader:
    """The reading half of :class:`~webresearch.replay.store.ReplayStore`.

    Every value read is checked (its type, its JSON, a content against its key) and
    made scalar text; a bad one is a :class:`~webresearch.errors.DamagedRecord` naming
    its key, and SQLite's lock timeout a :class:`~webresearch.errors.StoreBusy`.
    """

    directory: Path
    on_damage: Callable[[DamagedRecord], None]
    damaged: dict[str, DamagedRecord]
    _cache: Any  # diskcache.Cache, or ReadOnlyCache for a reader
    _contents: dict[str, dict[str, Any]]

    def _raw(self, key: str) -> Any:
        with self._reading(key):
            return self._cache.get(key)

    def _has(self, key: str) -> bool:
        with self._reading(key):
            return key in self._cache

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """Translate what reading ``key`` may raise into errors that name it."""
        try:
            yield
        except DamagedRecord as exc:
            raise self._damage(key, str(exc)) from None
        except (sqlite3.DatabaseError, OSError, ValueError) as exc:
            self._raise_if_locked(exc)
            raise self._damage(key, str(exc)) from exc

    def _int(self, key: str, default: int = 0) -> int:
        value = self._raw(key)
        if value is None:
            return default
        if type(value) is not int or value < 0:
            raise self._damage(key, f"expects a count, actual: {value!r:.40}")
        return value

    def _text(self, key: str) -> str:
        value = self._raw(key)
        if type(value) is not str:
            raise self._damage(key, "missing" if value is None else
                               f"expects text, actual: {type(value).__name__}")
        return scalar_text(value)

    def _record(self, key: str) -> dict[str, Any]:
        return self._decoded(key, decode)

    def _decoded(self, key: str, read: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """``read`` of the value at ``key``; a missing or unreadable value is damaged."""
        value = self._raw(key)
        if value is None:
            raise self._damage(key, "missing")
        try:
            return read(value)
        except (ValueError, RecursionError) as exc:
            raise self._damage(key, str(exc)) from exc

    def _raise_if_locked(self, exc: Exception) -> None:
        """Raise :class:`StoreBusy` if ``exc`` is SQLite's lock timeout; else return."""
        if is_locked(exc):
            raise busy(self.directory, self._cache.timeout, "replay store") from exc

    def _numbered(self, count_key: str, key_of: Callable[[int], str]) -> Iterator[str]:
        """The keys of a numbered listing ``count_key`` counts, oldest first; a missing one
        is noted and skipped, and :data:`MAX_MISSING` missing in a row end the listing
        (its count is damaged), noted once."""
        try:
            count = self._int(count_key)
        except DamagedRecord as exc:
            self._skip(exc)
            return
        missing = 0
        for seq in range(count):
            key = key_of(seq)
            if missing >= MAX_MISSING:
                self._skip(self._damage(count_key, f"a count of {count}, but the "
                                        f"{MAX_MISSING} records before {seq} are missing"))
                return
            try:
                present = self._has(key)
            except DamagedRecord as exc:  # there, but unreadable (a pickle, say)
                missing = 0
                self._skip(exc)
                continue
            if present:
                missing = 0
                yield key
            else:
                missing += 1
                self._skip(self._damage(key, "missing"))

    def _damage(self, key: str, why: str) -> DamagedRecord:
        return DamagedRecord(f"Expects a readable record {key!r} in the replay store "
                             f"{str(self.directory)!r}, actual: {why}", key=key)

    def _skip(self, exc: DamagedRecord) -> None:
        """Note a damaged record that a listing leaves out (logged once)."""
        if exc.key not in self.damaged:
            self.damaged[exc.key] = exc
            self.on_damage(exc)

    def _summary(self, key: str) -> dict[str, Any]:
        try:
            return check_summary(parse(self._text(key)))
        except (ValueError, RecursionError) as exc:
            raise self._damage(key, str(exc)) from exc

    def _content(self, digest: str) -> dict[str, Any]:
        content = self._contents.get(digest)
        if content is None:
            if len(self._contents) > 50_000:
                self._contents.clear()
            content = self._contents[digest] = self._checked_content(f"blob/{digest}", digest)
        return dict(content)  # a copy: from_json must not share lists between episodes

    def _checked_content(self, key: str, digest: str) -> dict[str, Any]:
        """A web response's content, checked against the key it is stored under."""
        return self._decoded(key, lambda value: checked_content(digest, inflate(value)))
