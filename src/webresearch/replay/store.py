"""The trajectory store: an append-only, multi-process, crash-safe record of runs and episodes.

Built on ``diskcache.Cache`` (SQLite in WAL mode), opened through
:func:`~webresearch.net.safe_disk.open_cache`: values are JSON, text, bytes or integers,
never pickles, and no wait on another process's lock lasts longer than ``timeout_s``.
An append is one transaction that takes the run's next sequence number and writes the
episode (compressed JSON) and its summary together, so a reader never sees half an
episode and a writer killed at any moment loses only what it had not committed.
Eviction is off: nothing is ever dropped.

Web responses are stored once per content hash (``blob/<hash>``: a page's text and
links, a search's hits); episodes keep each call's metadata and the hash. The rollouts
of one GRPO group, and most episodes of a run, see the same pages and searches.

A damaged record (garbled, truncated, pickled, missing) is a
:class:`~webresearch.errors.DamagedRecord` that names it: reading that one record
raises it, listing and iterating skip it, log it once and keep it in
:attr:`ReplayStore.damaged`, so every other run and episode stays readable.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from webresearch.errors import (
    ConfigError,
    DamagedRecord,
    StoreDamaged,
    StoreError,
    WebResearchError,
    did_you_mean,
)
from webresearch.net.safe_disk import busy, is_locked, open_cache, write_transaction
from webresearch.replay.records import (
    check_summary,
    decode,
    encode,
    join_contents,
    reason,
    split_contents,
)
from webresearch.replay.schema import EpisodeRecord, RunRecord

__all__ = ["ReplayStore"]

logger = logging.getLogger(__name__)

_SETTINGS: dict[str, Any] = {"eviction_policy": "none", "size_limit": 2**62,
                             "disk_min_file_size": 2**30, "statistics": 0, "cull_limit": 0,
                             "sqlite_mmap_size": 0, "sqlite_cache_size": 256}
"""No memory map and a 1 MB page cache: diskcache's defaults (64 MB mapped, 32 MB cached)
grow a long rollout's resident memory by ~100 MB as the database grows (measured with
``benchmarks/soak.py``), where these keep it flat."""
_STORED_HASHES = 100_000
"""Content hashes remembered as stored; past it they are forgotten (a forgotten one costs
one encoding and a no-op insert), so memory does not grow with distinct pages."""
_MARK = "store#"
"""Set in every store this code creates (older stores are known by their run counter)."""


def _log_damage(exc: DamagedRecord) -> None:
    logger.warning("%s; skipped", exc)


class ReplayStore:
    """Runs and their episodes on disk; safe for many writer processes, readable while written.

    Args:
        directory: The store's folder.
        timeout_s: The longest wait for another process's write lock; past it an
            operation raises :class:`~webresearch.errors.StoreBusy`, naming the store.
        create: Make the store if it does not exist; ``False`` (readers) makes a
            missing or mistyped path a :class:`~webresearch.errors.StoreError`.
        on_damage: Told of each damaged record that a listing skips, once per record
            (by default, a warning of this module's logger).

    Example:
        >>> import tempfile
        >>> from webresearch.tasks import Task
        >>> store = ReplayStore(tempfile.mkdtemp())
        >>> run = store.create_run(RunRecord(policy="oracle"))
        >>> task = Task(id="t", question="Q?", answers=("a",))
        >>> store.append([EpisodeRecord(run.run_id, task, 0, "answered", 1.0, 1.0, 1.0)])
        1
        >>> [e.reward for e in store.episodes(run.run_id)]
        [1.0]
        >>> store.close()
    """

    def __init__(self, directory: str | Path, *, timeout_s: float = 30.0, create: bool = True,
                 on_damage: Callable[[DamagedRecord], None] | None = None) -> None:
        self.directory = Path(directory)
        self.on_damage = on_damage or _log_damage
        self._cache = open_cache(self.directory, timeout_s=timeout_s, create=create,
                                 what="replay store", **_SETTINGS)
        self.damaged: dict[str, DamagedRecord] = {}
        """Damaged records met so far, by key (each also logged once)."""
        self._summaries: dict[str, list[dict[str, Any]]] = {}
        self._next_seq: dict[str, int] = {}
        self._stored: set[str] = set()
        """Content hashes known to be stored (so their content is not encoded again)."""
        self._contents: dict[str, dict[str, Any]] = {}
        """Contents read so far (a bounded memo)."""
        try:
            self._check_kind(create)
        except BaseException:
            self._cache.close()
            raise

    def _check_kind(self, create: bool) -> None:
        if self._has(_MARK) or self._has("runs#"):
            return
        if not create:
            raise StoreError(f"Expects a replay store at {str(self.directory)!r}, "
                             "actual: another kind of cache (no runs, no store mark)")
        with self._write():
            self._cache.add(_MARK, 1)

    # ------------------------------------------------------------ raw reads
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
        return value

    def _record(self, key: str) -> dict[str, Any]:
        value = self._raw(key)
        if value is None:
            raise self._damage(key, "missing")
        try:
            return decode(value)
        except (ValueError, RecursionError) as exc:
            raise self._damage(key, str(exc)) from exc

    def _raise_if_locked(self, exc: Exception) -> None:
        """Raise :class:`StoreBusy` if ``exc`` is SQLite's lock timeout; else return."""
        if is_locked(exc):
            raise busy(self.directory, self._cache.timeout, "replay store") from exc

    def _damage(self, key: str, why: str) -> DamagedRecord:
        return DamagedRecord(f"Expects a readable record {key!r} in the replay store "
                             f"{str(self.directory)!r}, actual: {why}", key=key)

    def _skip(self, exc: DamagedRecord) -> None:
        """Note a damaged record that a listing leaves out (logged once)."""
        if exc.key not in self.damaged:
            self.damaged[exc.key] = exc
            self.on_damage(exc)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: a bounded wait for the lock, and errors that name the store."""
        try:
            with write_transaction(self._cache, what="replay store"):
                yield
        except sqlite3.OperationalError as exc:
            self._raise_if_locked(exc)
            raise StoreError(f"Expects to write to the replay store {str(self.directory)!r}, "
                             f"actual: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(f"Expects to write to the replay store "
                               f"{str(self.directory)!r}, actual: {exc}") from exc

    # ----------------------------------------------------------------- runs
    def create_run(self, run: RunRecord) -> RunRecord:
        """Record a new run (its id must be new)."""
        with self._write():
            if not self._cache.add(f"run/{run.run_id}", encode(run.to_json())):
                raise WebResearchError(f"Expects a new run id, actual: {run.run_id!r} exists")
            index = self._int("runs#")
            self._cache.set("runs#", index + 1)
            self._cache.set(f"runs/{index:08d}", run.run_id)
        return run

    def run(self, run_id: str) -> RunRecord:
        """The run ``run_id``; a clear error if it is unknown or damaged."""
        if not self._has(f"run/{run_id}"):
            known = [r.run_id for r in self.runs()]
            raise WebResearchError(f"Expects a run of this store, actual: {run_id!r} "
                                   f"(runs: {known[-5:]}).{did_you_mean(run_id, known)}")
        return self._run(run_id)

    def _run(self, run_id: str) -> RunRecord:
        key = f"run/{run_id}"
        data = self._record(key)
        if (found := data.get("run_id")) != run_id:
            raise self._damage(key, f"expects run_id {run_id!r}, actual: {found!r:.40}")
        try:
            return RunRecord.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError, WebResearchError) as exc:
            raise self._damage(key, reason(exc)) from exc

    def runs(self) -> list[RunRecord]:
        """Every readable run, oldest first (damaged ones are skipped and noted)."""
        out = []
        for i in range(self._int("runs#")):
            key = f"runs/{i:08d}"
            try:
                run_id = self._text(key)
                if not self._has(f"run/{run_id}"):
                    raise self._damage(key, f"names the run {run_id!r:.40}, which has no record")
                out.append(self._run(run_id))
            except DamagedRecord as exc:
                self._skip(exc)
        return out

    # ------------------------------------------------------------- episodes
    def append(self, episodes: Iterable[EpisodeRecord]) -> int:
        """Write ``episodes`` in one transaction; return how many were new.

        An episode whose id is already stored is skipped, so re-running a lost
        worker's episodes never records one twice.
        """
        encoded, contents = [], {}
        for e in episodes:
            data = e.to_json()
            contents.update(split_contents(data))
            encoded.append((e, encode(data), json.dumps(e.summary())))
        fresh = {h: encode(c) for h, c in contents.items() if h not in self._stored}
        added = 0
        with self._write():
            for digest, blob in fresh.items():
                self._cache.add(f"blob/{digest}", blob)
            for episode, blob, summary in encoded:
                run = episode.run_id
                seq = self._int(f"eps#{run}")
                if not self._cache.add(f"eid/{episode.episode_id}", f"{run}/{seq:010d}"):
                    continue
                self._cache.set(f"ep/{run}/{seq:010d}", blob)
                self._cache.set(f"meta/{run}/{seq:010d}", summary)
                self._cache.set(f"eps#{run}", seq + 1)
                added += 1
        if len(self._stored) + len(fresh) > _STORED_HASHES:
            self._stored.clear()
        self._stored.update(fresh)
        return added

    def count(self, run_id: str) -> int:
        """Episodes committed to ``run_id`` so far."""
        return self._int(f"eps#{run_id}")

    def summaries(self, run_id: str) -> list[dict[str, Any]]:
        """The queryable fields of every readable episode of ``run_id``, in commit order
        (incremental, and kept by this store object; damaged rows are skipped and noted).
        A reader that follows a long run calls :meth:`summaries_from` instead."""
        known = self._summaries.setdefault(run_id, [])
        rows, self._next_seq[run_id] = self.summaries_from(run_id, self._next_seq.get(run_id, 0))
        known.extend(rows)
        return known

    def summaries_from(self, run_id: str, start: int) -> tuple[list[dict[str, Any]], int]:
        """The queryable fields of ``run_id``'s episodes committed at ``start`` or later,
        in commit order, and the ``start`` of the next call; nothing is kept, so following
        a run of a million episodes holds only what is new.

        Example:
            >>> import tempfile
            >>> from webresearch.tasks import Task
            >>> store = ReplayStore(tempfile.mkdtemp())
            >>> run = store.create_run(RunRecord())
            >>> task = Task(id="t", question="Q?", answers=("a",))
            >>> _ = store.append([EpisodeRecord(run.run_id, task, g, "answered", 1.0, 1.0, 1.0)
            ...                   for g in range(3)])
            >>> rows, start = store.summaries_from(run.run_id, 1)
            >>> [row["seq"] for row in rows], start
            ([1, 2], 3)
            >>> store.close()
        """
        try:
            count = self.count(run_id)
        except DamagedRecord as exc:
            self._skip(exc)
            return [], start
        rows = []
        for seq in range(start, count):
            try:
                rows.append({**self._summary(f"meta/{run_id}/{seq:010d}"), "seq": seq})
            except DamagedRecord as exc:
                self._skip(exc)
        return rows, max(start, count)

    def _summary(self, key: str) -> dict[str, Any]:
        try:
            return check_summary(json.loads(self._text(key)))
        except (ValueError, RecursionError) as exc:
            raise self._damage(key, str(exc)) from exc

    def episode(self, episode_id: str) -> EpisodeRecord:
        """The episode ``episode_id``; a clear error if it is unknown or damaged."""
        key = f"eid/{episode_id}"
        if not self._has(key):
            raise WebResearchError(f"Expects an episode of this store, actual: {episode_id!r}")
        return self._load(f"ep/{self._text(key)}")

    def episodes(self, run_id: str | None = None, *, task_id: str | None = None,
                 group: int | None = None, dataset: str | None = None,
                 status: str | None = None, min_reward: float | None = None,
                 max_reward: float | None = None) -> Iterator[EpisodeRecord]:
        """Episodes matching every given filter (all runs when ``run_id`` is ``None``);
        damaged ones are skipped and noted in :attr:`damaged`."""
        for summary in self.select(run_id, task_id=task_id, group=group, dataset=dataset,
                                   status=status, min_reward=min_reward, max_reward=max_reward):
            try:
                yield self._load(f"ep/{summary['run_id']}/{summary['seq']:010d}")
            except DamagedRecord as exc:
                self._skip(exc)

    def _load(self, key: str) -> EpisodeRecord:
        data = self._record(key)
        try:
            return EpisodeRecord.from_json(join_contents(data, self._content))
        except DamagedRecord as exc:  # a content blob it needs
            raise self._damage(key, f"its web content {exc.key!r} is damaged") from exc
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError,
                WebResearchError) as exc:
            raise self._damage(key, reason(exc)) from exc

    def _content(self, digest: str) -> dict[str, Any]:
        content = self._contents.get(digest)
        if content is None:
            if len(self._contents) > 50_000:
                self._contents.clear()
            content = self._contents[digest] = self._record(f"blob/{digest}")
        return dict(content)  # a copy: from_json must not share lists between episodes

    def select(self, run_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Summaries matching ``filters`` (``task_id``, ``group``, ``dataset``, ``status``,
        ``min_reward``, ``max_reward``); ``None`` values are ignored. An unknown
        ``run_id`` is an error."""
        if run_id is not None and not self._has(f"run/{run_id}"):
            self.run(run_id)  # raises the unknown-run error
        runs = [run_id] if run_id is not None else [r.run_id for r in self.runs()]
        low, high = filters.pop("min_reward", None), filters.pop("max_reward", None)
        wanted = {k: v for k, v in filters.items() if v is not None}
        return [s for run in runs for s in self.summaries(run)
                if all(s.get(k) == v for k, v in wanted.items())
                and (low is None or (s["reward"] is not None and s["reward"] >= low))
                and (high is None or (s["reward"] is not None and s["reward"] <= high))]

    def groups(self, run_id: str) -> dict[str, list[EpisodeRecord]]:
        """The GRPO groups of a run: its episodes by task id, in commit order."""
        out: dict[str, list[EpisodeRecord]] = {}
        for episode in self.episodes(run_id):
            out.setdefault(episode.task.id, []).append(episode)
        return out

    def batches(self, run_id: str, size: int) -> Iterator[list[EpisodeRecord]]:
        """The run's episodes in lists of ``size`` (the last may be shorter)."""
        if size < 1:
            raise ConfigError(f"Expects batches of size >= 1, actual: {size}")
        episodes = iter(self.episodes(run_id))
        while batch := list(itertools.islice(episodes, size)):
            yield batch

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __len__(self) -> int:
        return sum(self.count(r.run_id) for r in self.runs())
