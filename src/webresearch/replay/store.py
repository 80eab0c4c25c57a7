"""The trajectory store: an append-only, multi-process, crash-safe record of runs and episodes.

Built on ``diskcache.Cache`` (SQLite in WAL mode), opened through
:func:`~webresearch.safe_disk.open_cache`: values are JSON, text, bytes or integers,
never pickles, and no wait on another process's lock lasts longer than ``timeout_s``.
An append is one transaction that takes the run's next sequence number and writes the
episode (compressed JSON) and its summary together, so a reader never sees half an
episode and a writer killed at any moment loses only what it had not committed.
Eviction is off: nothing is ever dropped.

Web responses are stored once per content (``blob/<key>``: a page's text and links, a
search's hits, keyed by the SHA-256 of their JSON, so no text in them can make two one);
episodes keep each call's metadata and the key, and every content read is checked
against its key (a tampered one is a damaged record). The rollouts of one GRPO group,
and most episodes of a run, see the same pages and searches.

Text is written as valid Unicode scalar text and read back through
:func:`~webresearch.untrusted.loads_json`; a record over
:data:`~webresearch.replay.records.MAX_WRITE_BYTES` is refused at write
(:class:`~webresearch.errors.RecordTooLarge`), so whatever is written reads back. A
reader (``create=False``) opens the store read-only and changes nothing.

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
from typing import Any

from webresearch.errors import (
    ConfigError,
    DamagedRecord,
    RecordTooLarge,
    StoreDamaged,
    StoreError,
    WebResearchError,
    did_you_mean,
)
from webresearch.replay.opening import MARK, open_store
from webresearch.replay.records import (
    MAX_WRITE_BYTES,
    compress,
    join_contents,
    reason,
    serialize,
    split_contents,
    stored_text,
)
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.verdicts import VerdictLog
from webresearch.safe_disk import write_transaction
from webresearch.web.closing import Closing

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


def _memo(digest: str) -> bytes:
    """A content key as remembered: its first 128 bits as bytes (49 bytes of memory where
    the 64-digit text takes 113; a long run remembers 100,000)."""
    return bytes.fromhex(digest[:32])


def _log_damage(exc: DamagedRecord) -> None:
    logger.warning("%s; skipped", exc)


class ReplayStore(VerdictLog, Closing):
    """Runs and their episodes on disk; safe for many writer processes, readable while written.

    Args:
        directory: The store's folder.
        timeout_s: The longest wait for another process's write lock; past it an
            operation raises :class:`~webresearch.errors.StoreBusy`, naming the store.
        create: Make the store if it does not exist; ``False`` (readers) opens it
            read-only, and makes a missing or mistyped path a
            :class:`~webresearch.errors.StoreError`.
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
        self._cache = open_store(self.directory, timeout_s=timeout_s, create=create,
                                 settings=_SETTINGS)
        self.damaged: dict[str, DamagedRecord] = {}
        """Damaged records met so far, by key (each also logged once)."""
        self._summaries: dict[str, list[dict[str, Any]]] = {}
        self._next_seq: dict[str, int] = {}
        self._stored: set[bytes] = set()
        """Content hashes known to be stored (so their content is not encoded again)."""
        self._contents: dict[str, dict[str, Any]] = {}
        """Contents read so far (a bounded memo)."""
        try:
            self._check_kind(create)
        except BaseException:
            self._cache.close()
            raise

    def _check_kind(self, create: bool) -> None:
        if create and not (self._has(MARK) or self._has("runs#")):
            with self._write():
                self._cache.add(MARK, 1)

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
        """Record a new run (its id must be new; its config JSON at most
        :data:`~webresearch.replay.records.MAX_RECORD_DEPTH` deep)."""
        run_id = stored_text(run.run_id)
        try:
            raw = serialize(run.to_json(), check_depth=True)
        except ValueError as exc:  # InputTooDeep
            raise ConfigError(f"Expects a run record that a store can hold, actual: {exc}"
                              ) from exc
        self._check_size(f"the run {run_id!r}", raw)
        with self._write():
            if not self._cache.add(f"run/{run_id}", compress(raw)):
                raise WebResearchError(f"Expects a new run id, actual: {run_id!r} exists")
            index = self._int("runs#")
            self._cache.set("runs#", index + 1)
            self._cache.set(f"runs/{index:08d}", run_id)
        return run

    def _check_size(self, what: str, raw: bytes) -> None:
        if len(raw) > MAX_WRITE_BYTES:
            raise RecordTooLarge(
                f"Expects {what} to be at most {MAX_WRITE_BYTES} bytes of JSON (MAX_WRITE_BYTES)"
                f" to be written to the replay store {str(self.directory)!r}, actual: "
                f"{len(raw)} bytes; nothing of it was written")

    def run(self, run_id: str) -> RunRecord:
        """The run ``run_id``; a clear error if it is unknown or damaged."""
        run_id = stored_text(run_id)
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
        for key in self._numbered("runs#", lambda i: f"runs/{i:08d}"):
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
        worker's episodes never records one twice. Text is written as scalar text; an
        episode (or one of its pages) over
        :data:`~webresearch.replay.records.MAX_WRITE_BYTES` is
        :class:`~webresearch.errors.RecordTooLarge`, and then nothing is written.
        """
        encoded, contents = [], {}
        for e in episodes:
            data = e.to_json()
            for key, content in split_contents(data).items():
                if _memo(key) not in self._stored and key not in contents:  # new: as JSON
                    contents[key] = raw_content = serialize(content)
                    self._check_size(f"a web response of the episode {e.episode_id!r}",
                                     raw_content)
            raw = serialize(data)
            self._check_size(f"the episode {e.episode_id!r}", raw)
            row = json.dumps({k: stored_text(v) if isinstance(v, str) else v
                              for k, v in e.summary().items()})
            encoded.append((stored_text(e.run_id), stored_text(e.episode_id), compress(raw), row))
        fresh = {h: compress(c) for h, c in contents.items()}
        added = 0
        with self._write():
            for digest, blob in fresh.items():
                self._cache.add(f"blob/{digest}", blob)
            for run, episode_id, blob, summary in encoded:
                seq = self._int(f"eps#{run}")
                if not self._cache.add(f"eid/{episode_id}", f"{run}/{seq:010d}"):
                    continue
                self._cache.set(f"ep/{run}/{seq:010d}", blob)
                self._cache.set(f"meta/{run}/{seq:010d}", summary)
                self._cache.set(f"eps#{run}", seq + 1)
                added += 1
        if len(self._stored) + len(fresh) > _STORED_HASHES:
            self._stored.clear()
        self._stored.update(map(_memo, fresh))
        return added

    def count(self, run_id: str) -> int:
        """Episodes committed to ``run_id`` so far."""
        return self._int(f"eps#{stored_text(run_id)}")

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
        run_id = stored_text(run_id)
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

    def episode(self, episode_id: str) -> EpisodeRecord:
        """The episode ``episode_id``; a clear error if it is unknown or damaged."""
        key = f"eid/{stored_text(episode_id)}"
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
            why = str(exc).split(", actual: ", 1)[-1]
            raise self._damage(key, f"its web content {exc.key!r} is damaged ({why})") from exc
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError,
                WebResearchError) as exc:
            raise self._damage(key, reason(exc)) from exc

    def select(self, run_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Summaries matching ``filters`` (``task_id``, ``group``, ``dataset``, ``status``,
        ``min_reward``, ``max_reward``); ``None`` values are ignored. An unknown
        ``run_id`` is an error."""
        run_id = stored_text(run_id) if run_id is not None else None
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

    def __len__(self) -> int:
        return sum(self.count(r.run_id) for r in self.runs())
