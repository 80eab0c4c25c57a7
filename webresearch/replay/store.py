"""The trajectory store: an append-only, multi-process, crash-safe record of runs and episodes.

Built on ``diskcache.Cache`` (SQLite in WAL mode). An append is one transaction that
takes the run's next sequence number and writes the episode (compressed JSON) and its
summary together, so a reader never sees half an episode and a writer killed at any
moment loses only what it had not committed. Eviction is off: nothing is ever dropped.

Web responses are stored once per content hash (``blob/<hash>``: a page's text and
links, a search's hits); episodes keep each call's metadata and the hash. The rollouts
of one GRPO group, and most episodes of a run, see the same pages and searches.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import diskcache

from webresearch.errors import WebResearchError
from webresearch.replay.schema import EpisodeRecord, RunRecord

__all__ = ["ReplayStore"]

_SETTINGS = {"eviction_policy": "none", "size_limit": 2**62, "disk_min_file_size": 2**30,
             "statistics": 0, "cull_limit": 0, "sqlite_mmap_size": 0, "sqlite_cache_size": 256}
"""No memory map and a 1 MB page cache: diskcache's defaults (64 MB mapped, 32 MB cached)
grow a long rollout's resident memory by ~100 MB as the database grows (measured with
``benchmarks/soak.py``), where these keep it flat."""
_STORED_HASHES = 100_000
"""Content hashes remembered as stored; past it they are forgotten (a forgotten one costs
one encoding and a no-op insert), so memory does not grow with distinct pages."""


def _encode(data: dict[str, Any]) -> bytes:
    # ASCII-escaped JSON encodes ~15% faster in CPython; zlib level 1 is the sweet spot
    # (level 6 doubles the time for 16% fewer bytes).
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)


def _decode(blob: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(zlib.decompress(blob))
    return data


_CONTENT = {"fetch": ("text", "links"), "search": ("hits",)}
"""Response fields stored once per content hash, by call kind (readings stay inline)."""


def _split(episode: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Move each web response's content out of ``episode`` (in place); return it by hash."""
    contents = {}
    for step in episode["steps"]:
        for call in step["web"]:
            fields = _CONTENT.get(call["kind"])
            if fields:
                response = call["response"]
                contents[call["hash"]] = {name: response.pop(name) for name in fields}
    return contents


def _join(episode: dict[str, Any], content: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Put each web response's content back into ``episode`` (in place)."""
    for step in episode["steps"]:
        for call in step["web"]:
            if call["kind"] in _CONTENT:
                call["response"].update(content(call["hash"]))
    return episode

class ReplayStore:
    """Runs and their episodes on disk; safe for many writer processes, readable while written.

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

    def __init__(self, directory: str | Path, *, timeout_s: float = 60.0) -> None:
        self.directory = Path(directory)
        self._cache = diskcache.Cache(str(self.directory), timeout=timeout_s, **_SETTINGS)
        self._summaries: dict[str, list[dict[str, Any]]] = {}
        self._stored: set[str] = set()
        """Content hashes known to be stored (so their content is not encoded again)."""
        self._contents: dict[str, dict[str, Any]] = {}
        """Contents read so far (a bounded memo)."""

    # ----------------------------------------------------------------- runs
    def create_run(self, run: RunRecord) -> RunRecord:
        """Record a new run (its id must be new)."""
        with self._cache.transact(retry=True):
            if not self._cache.add(f"run/{run.run_id}", _encode(run.to_json())):
                raise WebResearchError(f"Expects a new run id, actual: {run.run_id!r} exists")
            index = self._cache.incr("runs#") - 1
            self._cache.set(f"runs/{index:08d}", run.run_id)
        return run

    def run(self, run_id: str) -> RunRecord:
        blob = self._cache.get(f"run/{run_id}")
        if blob is None:
            known = [r.run_id for r in self.runs()]
            raise WebResearchError(f"Expects a run of this store, actual: {run_id!r} "
                                   f"(runs: {known[-5:]})")
        return RunRecord.from_json(_decode(blob))

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        count = self._cache.get("runs#", 0)
        return [self.run(self._cache[f"runs/{i:08d}"]) for i in range(count)]

    # ------------------------------------------------------------- episodes
    def append(self, episodes: Iterable[EpisodeRecord]) -> int:
        """Write ``episodes`` in one transaction; return how many were new.

        An episode whose id is already stored is skipped, so re-running a lost
        worker's episodes never records one twice.
        """
        encoded, contents = [], {}
        for e in episodes:
            data = e.to_json()
            contents.update(_split(data))
            encoded.append((e, _encode(data), json.dumps(e.summary())))
        fresh = {h: _encode(c) for h, c in contents.items() if h not in self._stored}
        added = 0
        with self._cache.transact(retry=True):
            for digest, blob in fresh.items():
                self._cache.add(f"blob/{digest}", blob)
            for episode, blob, summary in encoded:
                run = episode.run_id
                seq = self._cache.incr(f"eps#{run}") - 1
                if not self._cache.add(f"eid/{episode.episode_id}", f"{run}/{seq:010d}"):
                    self._cache.incr(f"eps#{run}", -1)
                    continue
                self._cache.set(f"ep/{run}/{seq:010d}", blob)
                self._cache.set(f"meta/{run}/{seq:010d}", summary)
                added += 1
        if len(self._stored) + len(fresh) > _STORED_HASHES:
            self._stored.clear()
        self._stored.update(fresh)
        return added

    def count(self, run_id: str) -> int:
        """Episodes committed to ``run_id`` so far."""
        return int(self._cache.get(f"eps#{run_id}", 0))

    def summaries(self, run_id: str) -> list[dict[str, Any]]:
        """The queryable fields of every episode of ``run_id``, in commit order (incremental)."""
        known = self._summaries.setdefault(run_id, [])
        for seq in range(len(known), self.count(run_id)):
            known.append({**json.loads(self._cache[f"meta/{run_id}/{seq:010d}"]), "seq": seq})
        return known

    def episode(self, episode_id: str) -> EpisodeRecord:
        where = self._cache.get(f"eid/{episode_id}")
        if where is None:
            raise WebResearchError(f"Expects an episode of this store, actual: {episode_id!r}")
        return self._load(f"ep/{where}")

    def episodes(self, run_id: str | None = None, *, task_id: str | None = None,
                 group: int | None = None, dataset: str | None = None,
                 status: str | None = None, min_reward: float | None = None,
                 max_reward: float | None = None) -> Iterator[EpisodeRecord]:
        """Episodes matching every given filter (all runs when ``run_id`` is ``None``)."""
        for summary in self.select(run_id, task_id=task_id, group=group, dataset=dataset,
                                   status=status, min_reward=min_reward, max_reward=max_reward):
            yield self._load(f"ep/{summary['run_id']}/{summary['seq']:010d}")

    def _load(self, key: str) -> EpisodeRecord:
        return EpisodeRecord.from_json(_join(_decode(self._cache[key]), self._content))

    def _content(self, digest: str) -> dict[str, Any]:
        content = self._contents.get(digest)
        if content is None:
            if len(self._contents) > 50_000:
                self._contents.clear()
            content = self._contents[digest] = _decode(self._cache[f"blob/{digest}"])
        return dict(content)  # a copy: from_json must not share lists between episodes

    def select(self, run_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Summaries matching ``filters`` (``task_id``, ``group``, ``dataset``, ``status``,
        ``min_reward``, ``max_reward``); ``None`` values are ignored."""
        runs = [run_id] if run_id is not None else [r.run_id for r in self.runs()]
        low, high = filters.pop("min_reward", None), filters.pop("max_reward", None)
        wanted = {k: v for k, v in filters.items() if v is not None}
        return [s for run in runs for s in self.summaries(run)
                if all(s[k] == v for k, v in wanted.items())
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
        batch: list[EpisodeRecord] = []
        for episode in self.episodes(run_id):
            batch.append(episode)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
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

